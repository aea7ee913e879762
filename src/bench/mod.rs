//! `cotalk bench`: measurements of the hot paths, each next to its ceiling or
//! its baseline, measured in the same run on the same machine. Every part
//! prints a table and writes JSON (machine, git revision, parameters, every
//! figure) under `bench-results/`.
//!
//! The system under test runs as its own child process (`cotalk serve`) on
//! loopback with its own databases and namespace, so its CPU time and memory
//! are its own and nothing is left in the developer's data. Load generators
//! are bounded in requests and time and stop by themselves.
//!
//! - [`append`]: message posts through HTTP vs. one transaction per event and
//!   the raw batched-insert ceiling of the same Postgres.
//! - [`search`]: message search latency, recall and indexing rate vs. Postgres
//!   full-text search and `pg_trgm` on the same generated corpus.
//! - [`replay`]: rebuilding projections from a generated log of 1M events
//!   vs. the raw read speed of the same log.
//! - [`messages`]: a page of a 1 000-member room's history with every
//!   message's `unread_by`, latency and CPU per request.
//! - [`eventlog`]: a realistic synthetic event log written straight into the
//!   events table.
//! - [`e2e`]: post-to-visible lag and push latency (post → frame on every
//!   member's WebSocket) at fixed offered loads, open loop, with many
//!   connected clients; [`e2e_load`] posts and observes, [`streams`] are the
//!   WebSocket clients.
//! - [`connections`]: server memory per idle WebSocket and fan-out across
//!   stream nodes with tens of thousands of connections, held by client
//!   worker processes ([`conn_client`], driven by [`conn_workers`]);
//!   [`conn_report`] sums up.
//! - [`users`]: user search latency (Latin, Hangul and 초성 prefixes) at
//!   1M users, through HTTP.
//! - [`chart`]: the latency-vs-load and CPU-per-post SVGs.
//! - [`cpu`]: CPU time per post of every process involved, from `/proc`
//!   ([`procstat`] reads it, [`cpu_find`] finds the shared servers' pids);
//!   [`profile`]: cotalk's own CPU by stage from `perf`; [`pgbench`]:
//!   Postgres' one-row-transaction rate, the append bench's reference.
//! - [`harness`]: the child server, fresh databases, users and rooms.
//! - [`report`]: tables, JSON results, the machine description.

pub mod append;
pub mod chart;
pub mod conn_client;
pub mod conn_report;
pub mod conn_workers;
pub mod connections;
pub mod cpu;
pub mod cpu_find;
pub mod e2e;
pub mod e2e_load;
pub mod eventlog;
pub mod harness;
pub mod messages;
pub mod pgbench;
pub mod poster;
pub mod procstat;
pub mod profile;
pub mod replay;
pub mod report;
pub mod search;
pub mod streams;
pub mod users;

use clap::{Args, Subcommand};

/// `cotalk bench` parts.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Message posts/s and latency through HTTP vs. per-event transactions.
    Append(append::AppendArgs),
    /// Post-to-visible lag and push latency at fixed offered loads (open
    /// loop) with many WebSocket clients, with a chart.
    E2e(e2e::E2eArgs),
    /// Rebuild speed of every projection from 1M events vs. the raw log read speed.
    Replay(replay::ReplayArgs),
    /// Search latency, Korean recall and indexing rate vs. Postgres FTS and pg_trgm.
    Search(search::SearchArgs),
    /// User search latency (`GET /v1/users/search`) at 1M users.
    Users(users::UsersArgs),
    /// A page of messages with `unread_by` in a 1 000-member room: latency and CPU per request.
    Messages(messages::MessagesArgs),
    /// Server memory per idle WebSocket and fan-out across stream nodes with
    /// tens of thousands of connections (not in `all`: it needs
    /// `ulimit -n 20000`).
    Connections(connections::ConnectionsArgs),
    /// A client worker of `connections` (started by it).
    #[command(hide = true)]
    ConnectionsClient,
    /// Every part in turn, each with its defaults (`--quick`: under 3 minutes
    /// of measuring on the 2-core machine).
    All,
}

/// Parses a part's name into the part with its default options.
#[derive(clap::Parser)]
struct Defaults {
    #[command(subcommand)]
    part: BenchCommand,
}

/// The parts `bench all` runs, in order.
const ALL_PARTS: [&str; 6] = ["append", "e2e", "search", "replay", "users", "messages"];

/// Options every part shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// A short run (about a minute for everything).
    #[arg(long, global = true)]
    pub quick: bool,
    /// Where JSON results go.
    #[arg(long, global = true, default_value = "bench-results")]
    pub out: std::path::PathBuf,
    /// Log filter of the processes under test (`RUST_LOG` directives for
    /// the child `cotalk serve` and `cotalk projections replay`).
    #[arg(long, global = true, env = "COTALK_BENCH_SERVER_LOG", default_value = "warn",
        value_parser = crate::config::log_filter)]
    pub server_log: String,
}

/// Run one part, or all of them.
pub async fn run(
    config: &crate::config::Config,
    common: &Common,
    part: BenchCommand,
) -> anyhow::Result<()> {
    if !matches!(part, BenchCommand::All) {
        return run_one(config, common, part).await;
    }
    // One failing part does not hide the others' figures.
    let mut failed = Vec::new();
    for name in ALL_PARTS {
        let Defaults { part } = <Defaults as clap::Parser>::parse_from(["bench", name]);
        println!("\n==== bench {name} ====");
        if let Err(e) = run_one(config, common, part).await {
            eprintln!("bench {name} failed: {e:#}");
            failed.push(name);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("bench parts failed: {}", failed.join(", "))
    }
}

async fn run_one(
    config: &crate::config::Config,
    common: &Common,
    part: BenchCommand,
) -> anyhow::Result<()> {
    match part {
        BenchCommand::All => anyhow::bail!("`all` is not a single part"),
        BenchCommand::Append(args) => {
            let result = append::run(config, common, &args).await?;
            report::save(common, "append", &result)?;
        }
        BenchCommand::E2e(args) => {
            let result = e2e::run(config, common, &args).await?;
            report::save(common, "e2e", &result)?;
        }
        BenchCommand::Replay(args) => {
            let result = replay::run(config, common, &args).await?;
            report::save(common, "replay", &result)?;
        }
        BenchCommand::Search(args) => {
            let result = search::run(config, common, &args).await?;
            report::save(common, "search", &result)?;
        }
        BenchCommand::Users(args) => {
            let result = users::run(config, common, &args).await?;
            report::save(common, "users", &result)?;
        }
        BenchCommand::Messages(args) => {
            let result = messages::run(config, common, &args).await?;
            report::save(common, "messages", &result)?;
        }
        BenchCommand::Connections(args) => {
            let result = connections::run(config, common, &args).await?;
            report::save(common, "connections", &result)?;
        }
        BenchCommand::ConnectionsClient => conn_client::run().await?,
    }
    Ok(())
}
