//! `cotalk bench replay`: how fast projections are rebuilt from the log.
//!
//! A fresh event log of 1 000 000 realistic events (100 000 with `--quick`;
//! see [`super::eventlog`]) is written straight into a bench database. Then,
//! in the same run on the same Postgres:
//!
//! - the ceiling: reading and decoding the whole log, once page by page
//!   with `read_all` (what the live runtime's catch-up does) and once the
//!   way a replay reads it (parallel ranges, decoded on several threads);
//! - `cotalk projections replay NAME` for `redis`, `history`, `search` and
//!   `all`, each a child process (so its peak RSS is its own), each building
//!   a new generation from position 0. Rates are events applied by the build
//!   phase divided by its duration (what the replay itself reports), beside
//!   the child's wall time, which adds start-up, the switch and removing the
//!   previous generation.
//!
//! Targets on the 2-core machine: ≥ 100 000 events/s for `redis` and
//! `history`, ≥ 20 000 messages/s for `search`.

use super::eventlog;
use super::harness::{peak_rss_mib, BenchEnv};
use super::report::{num, Table};
use super::Common;
use crate::config::Config;
use anyhow::{bail, Context, Result};
use clap::Args;
use projector::ProjectionName;
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Seed of the generated log (the same log in every run).
const SEED: u64 = 20251122;

/// Options of `cotalk bench replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Events in the generated log (default 1 000 000, or 100 000 with --quick).
    #[arg(long)]
    pub events: Option<u64>,
    /// Positions per page read from the log.
    #[arg(long, default_value_t = 20_000)]
    pub page: i64,
    /// Pages read and decoded at once.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// Keep the generated log (databases, namespace, data directory) and
    /// print how to reach it, for profiling replays by hand; measures nothing.
    #[arg(long)]
    pub keep: bool,
}

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &ReplayArgs) -> Result<Value> {
    let events = args
        .events
        .unwrap_or(if common.quick { 100_000 } else { 1_000_000 });
    let env = BenchEnv::new(base, common, "replay")?;
    env.prepare().await?;
    if args.keep {
        let pool = env.write_pool(4).await?;
        let log = eventlog::generate(&pool, events, SEED, |_| {}).await?;
        let c = &env.config;
        println!(
            "{} events kept:\nexport COTALK_DATABASE_URL={} COTALK_READ_DATABASE_URL={} COTALK_NAMESPACE={} COTALK_DATA_DIR={}",
            log.events,
            c.database_url,
            c.read_database_url,
            c.namespace,
            c.data_dir.display()
        );
        return Ok(json!({ "kept": true, "events": log.events }));
    }
    let result = measure(&env, args, events).await;
    env.cleanup().await;
    result
}

/// One `cotalk projections replay` child: its JSON outcome, peak RSS and wall time.
struct ChildRun {
    outcome: Value,
    peak_rss_mib: f64,
    wall_seconds: f64,
}

fn replay_child(env: &BenchEnv, name: &str, args: &ReplayArgs) -> Result<ChildRun> {
    let c = &env.config;
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "projections",
            "replay",
            name,
            "--json",
            "--handover-timeout",
            "0",
        ])
        .args([
            "--page",
            &args.page.to_string(),
            "--readers",
            &args.readers.to_string(),
        ])
        .env("COTALK_DATABASE_URL", &c.database_url)
        .env("COTALK_READ_DATABASE_URL", &c.read_database_url)
        .env("COTALK_REDIS_URL", &c.redis_url)
        .env("COTALK_NATS_URL", &c.nats_url)
        .env("COTALK_NAMESPACE", &c.namespace)
        .env("COTALK_DATA_DIR", &c.data_dir)
        .env("RUST_LOG", &env.server_log)
        .env_remove("COTALK_READ_REPLICA_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start cotalk projections replay")?;
    let pid = child.id();
    let mut stdout = child.stdout.take().context("child stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    // VmHWM only ever grows; the last reading before the exit is the peak.
    let mut rss = 0.0f64;
    let status = loop {
        rss = rss.max(peak_rss_mib(pid));
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("replay {name} failed ({status})");
    }
    Ok(ChildRun {
        outcome: serde_json::from_str(&out)
            .with_context(|| format!("replay {name} output: {out}"))?,
        peak_rss_mib: rss,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Read every page with `read_all`, sequentially.
async fn sequential_read(pool: &sqlx::PgPool, page: i64) -> Result<u64> {
    let mut after = 0;
    let mut n = 0u64;
    loop {
        let events = ::eventlog::read_all(pool, after, page).await?;
        let Some(last) = events.last() else { break };
        after = last.position;
        n += events.len() as u64;
    }
    Ok(n)
}

async fn measure(env: &BenchEnv, args: &ReplayArgs, events: u64) -> Result<Value> {
    println!("bench replay: generating {events} events (users, rooms, ~90% posts in Korean/English, edits, deletes, read markers)");
    let pool = env.write_pool(8).await?;
    let t = Instant::now();
    let step = (events / 10).max(1);
    let mut next = step;
    let log = eventlog::generate(&pool, events, SEED, |done| {
        if done >= next {
            println!("  generated {done}");
            next += step;
        }
    })
    .await?;
    let generate_seconds = t.elapsed().as_secs_f64();
    println!(
        "  {} events ({} messages) in {:.1} s ({} events/s)",
        log.events,
        log.messages,
        generate_seconds,
        num(log.events as f64 / generate_seconds)
    );
    // As autovacuum would eventually: visibility map and statistics.
    sqlx::query("VACUUM ANALYZE events").execute(&pool).await?;

    let t = Instant::now();
    let n = sequential_read(&pool, args.page).await?;
    let sequential = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let n = projector::rebuild::drain_log(&pool, args.page, args.readers).await?;
    let ceiling = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "  read ceiling: {} events/s sequential read_all pages, {} events/s replay reader ({} at once)",
        num(sequential),
        num(ceiling),
        args.readers
    );

    let mut runs = Vec::new();
    // Each projection on its own, then all three in one run (`None`).
    for name in ProjectionName::ALL.map(Some).into_iter().chain([None]) {
        let label = name.map_or("all", ProjectionName::as_str);
        println!("  replay {label} …");
        let run = replay_child(env, label, args)?;
        runs.push((name, label, run));
    }

    let mut t = Table::new(
        "replay: rebuild from position 0 (targets: redis, history ≥ 100 000 events/s; search ≥ 20 000 messages/s)",
        &["path", "events", "build s", "events/s", "messages/s", "% of read ceiling", "wall s", "peak RSS MiB", "target"],
    );
    t.row(vec![
        "raw read_all pages (sequential)".into(),
        log.events.to_string(),
        "-".into(),
        num(sequential),
        "-".into(),
        format!("{:.0}%", 100.0 * sequential / ceiling),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);
    t.row(vec![
        format!("raw replay reader ({} at once): ceiling", args.readers),
        log.events.to_string(),
        "-".into(),
        num(ceiling),
        "-".into(),
        "100%".into(),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);
    let mut figures = serde_json::Map::new();
    let mut all_met = true;
    for (name, label, run) in &runs {
        let outcomes = run.outcome.as_array().cloned().unwrap_or_default();
        // `all` applies one read to three projections: it finishes with the slowest.
        let events = outcomes
            .iter()
            .map(|o| o["events"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let messages = outcomes
            .iter()
            .map(|o| o["messages"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let seconds = outcomes
            .iter()
            .map(|o| o["build_seconds"].as_f64().unwrap_or(0.0))
            .fold(0.0, f64::max);
        let eps = if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        };
        let mps = if seconds > 0.0 {
            messages as f64 / seconds
        } else {
            0.0
        };
        let (target, met) = match name {
            Some(ProjectionName::Redis | ProjectionName::History) => {
                ("≥ 100 000 events/s".to_owned(), Some(eps >= 100_000.0))
            }
            Some(ProjectionName::Search) => {
                ("≥ 20 000 messages/s".to_owned(), Some(mps >= 20_000.0))
            }
            None => ("-".to_owned(), None),
        };
        if met == Some(false) {
            all_met = false;
        }
        t.row(vec![
            format!("replay {label}"),
            events.to_string(),
            format!("{seconds:.1}"),
            num(eps),
            num(mps),
            format!("{:.0}%", 100.0 * eps / ceiling),
            format!("{:.1}", run.wall_seconds),
            format!("{:.0}", run.peak_rss_mib),
            match met {
                Some(true) => format!("{target}: met"),
                Some(false) => format!("{target}: not met"),
                None => target,
            },
        ]);
        figures.insert(
            label.to_string(),
            json!({
                "events": events, "messages": messages, "build_seconds": seconds,
                "events_per_s": eps, "messages_per_s": mps, "ratio_to_read_ceiling": eps / ceiling,
                "wall_seconds": run.wall_seconds, "peak_rss_mib": run.peak_rss_mib,
                "target_met": met, "outcome": run.outcome,
            }),
        );
    }
    t.print();
    println!("targets: {}", if all_met { "met" } else { "not all met" });
    Ok(json!({
        "params": { "events": events, "page": args.page, "readers": args.readers },
        "log": { "events": log.events, "messages": log.messages, "generate_seconds": generate_seconds },
        "read_ceiling": { "sequential_read_all_events_per_s": sequential, "replay_reader_events_per_s": ceiling },
        "replays": figures,
        "targets_met": all_met,
    }))
}
