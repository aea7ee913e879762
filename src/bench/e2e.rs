//! `cotalk bench e2e`: post-to-visible lag and push latency at fixed offered
//! loads, with many WebSocket clients connected.
//!
//! Open loop: posts are sent on a fixed schedule (`i / rate` after the
//! start), whatever the server's answers, and every latency is measured from
//! the *scheduled* send time, so a slow server cannot hide queueing by slowing
//! the load generator down (coordinated omission). Per step:
//!
//! - *visible*: a projection's checkpoint reached the post's position — an
//!   observer samples the `redis` checkpoint (room lists, timelines, unread
//!   counts) every millisecond and the `history` checkpoint every two, which
//!   is exactly the condition `X-Min-Position` waits for;
//! - *push*: the post's frame arrived on a member's `GET /v1/stream` socket
//!   (every member of the room is a connected client; each post fans out to
//!   all of them, and each arrival is timed).
//!
//! Every client is its own user and users are split into disjoint rooms of
//! `--members`. The server under test is one child `cotalk serve --role all`
//! process (command side, relay, projections, queries and streams) on the
//! same 2 cores as Postgres, Redis, NATS and this load generator.
//!
//! Each step also reports the CPU time per acknowledged post of every
//! process ([`super::cpu`]), sampled before the step's first post and after
//! its last frame arrived, and with `--profile` the server's CPU by stage
//! ([`super::profile`]).

use super::append::latency_json;
use super::cpu::{self, Sampler};
use super::e2e_load::{Ledger, Observer, Step, MAX_IN_FLIGHT};
use super::harness::{self, BenchEnv, ChildServer};
use super::profile;
use super::report::{num, Table};
use super::streams::{connect_all, Received};
use super::Common;
use crate::config::Config;
use anyhow::{bail, Result};
use clap::Args;
use readmodel::RedisKeys;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::client::Client;
use tokio_util::sync::CancellationToken;

/// Options of `cotalk bench e2e`.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    /// Offered loads in posts/s (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<u32>>,
    /// Seconds per load step.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Connected WebSocket clients, one user each (default 1000; 300 with --quick).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Members per room: each post reaches this many clients.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Also break the server's CPU down by stage from a `perf record` of
    /// each step (skipped, with the reason, where perf cannot sample).
    #[arg(long)]
    pub profile: bool,
}

/// The targets: visible p99 ≤ 100 ms at 5 000 posts/s (projection issue),
/// push p99 ≤ 100 ms at 5 000 posts/s with 1 000 clients (live delivery).
const TARGET_P99_MS: f64 = 100.0;
const TARGET_RATE: u32 = 5000;
const TARGET_CLIENTS: usize = 1000;
/// The one server under test runs every part.
const SERVER_ROLE: &str = "all";

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &E2eArgs) -> Result<Value> {
    let rates = args.rates.clone().unwrap_or_else(|| {
        if common.quick {
            vec![500, 1000, 2500, 5000]
        } else {
            vec![500, 1000, 2000, 3000, 4000, 5000, 6000, 8000]
        }
    });
    let seconds = args.seconds.unwrap_or(if common.quick { 5 } else { 15 });
    let clients = args
        .clients
        .unwrap_or(if common.quick { 300 } else { TARGET_CLIENTS });
    let limit = open_files_limit();
    if limit < (clients + MAX_IN_FLIGHT + 256) as u64 {
        bail!("open-file limit {limit} is too low for {clients} clients; raise it (ulimit -n)");
    }
    let env = BenchEnv::new(base, common, "e2e")?;
    env.prepare().await?;
    let result = measure(&env, args, clients, &rates, seconds, &common.out).await;
    env.cleanup().await;
    result
}

/// This process's open-file limit (`ulimit -n`).
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u64::MAX)
}

async fn measure(
    env: &BenchEnv,
    args: &E2eArgs,
    clients: usize,
    rates: &[u32],
    seconds: u64,
    out: &std::path::Path,
) -> Result<Value> {
    let members = args.members.clamp(2, clients.max(2));
    println!(
        "bench e2e: offered loads {rates:?} posts/s, {seconds} s each; {clients} WebSocket clients in rooms of {members} (server: child process, role all)"
    );
    let server = ChildServer::start(env, SERVER_ROLE, &[]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let started = Instant::now();
    let client = Client::with_http(http, server.base.clone());
    let users = harness::users(&client, env, clients.max(2), 16).await?;
    let rooms = harness::group_rooms(&client, &users, members).await?;
    let received = Received::new(rates.len() + 1)?;
    let stop = CancellationToken::new();
    let ws_base = server.base.replacen("http://", "ws://", 1);
    let readers = connect_all(
        &ws_base,
        users.iter().map(|u| u.token.as_str()),
        &received,
        &stop,
    )
    .await?;
    println!(
        "  {} users, {} rooms, {} streams connected in {:.0} s",
        users.len(),
        rooms.len(),
        readers.len(),
        started.elapsed().as_secs_f64()
    );
    let redis = redis::Client::open(env.config.redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    // The visibility probe's reads are the bench's work: the CPU sampler
    // leaves its backends out of Postgres' figure by this name.
    let read_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(
            sqlx::postgres::PgConnectOptions::from_str(&env.config.read_database_url)?
                .application_name(cpu::BENCH_PROBE),
        )
        .await?;
    let checkpoint_key = RedisKeys::new(&env.config.namespace, 1).checkpoint();
    let sampler = Sampler::discover(
        &env.config,
        &[(SERVER_ROLE, server.pid())],
        &env.config.database_url,
        &env.database_names(),
    )
    .await;
    let profiling = profile::usable(args.profile).await;
    let mut step = Step {
        client: &client,
        users: &users,
        rooms: &rooms,
        received: &received,
        step: 0,
        rate: 500,
        seconds: 2.0,
    };

    let mut steps = Vec::new();
    // Step 0 warms connections, caches and the JIT-less but cold paths; not reported.
    for (i, &rate) in std::iter::once(&500).chain(rates).enumerate() {
        step.step = i;
        step.rate = rate;
        step.seconds = if i == 0 { 2.0 } else { seconds as f64 };
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let observer = Observer::start(
            ledger.clone(),
            redis.clone(),
            read_pool.clone(),
            checkpoint_key.clone(),
        );
        let frames_before = received.frames.load(Ordering::Relaxed);
        let cpu_before = sampler.sample().await;
        let perf = if profiling && i > 0 {
            Some(profile::Recording::start(
                server.pid(),
                &format!("e2e-{rate}"),
            )?)
        } else {
            None
        };
        let (load, frames_expected) = step.post(&ledger).await?;
        // Let what was posted become visible and arrive (bounded).
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline
            && ledger.lock().unwrap_or_else(|e| e.into_inner()).pending() > 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        received
            .settle(
                frames_before + frames_expected,
                Duration::from_secs(2),
                Duration::from_secs(20),
            )
            .await;
        let (visible_redis, visible_history) = observer.finish().await;
        let cpu_after = sampler.sample().await;
        if i == 0 {
            continue;
        }
        // The step's CPU includes draining what it queued: the cost of
        // every acknowledged post, whenever it was processed.
        let acknowledged = load["acknowledged"].as_u64().unwrap_or(0);
        let cpu = sampler.per_post(&cpu_before, &cpu_after, acknowledged);
        let server_us = cpu::group_us_per_post(&cpu, &format!("cotalk {SERVER_ROLE}"));
        let profile = profile::finish(perf, server_us).await;
        let push = received.step(i).map_or(json!(null), |h| latency_json(&h));
        steps.push(json!({
            "offered_per_s": rate,
            "load": load,
            "visible_redis": visible_redis,
            "visible_history": visible_history,
            "push": push,
            "frames_expected": frames_expected,
            "frames_received": push["count"],
            "cpu": cpu,
            "profile": profile,
        }));
    }
    stop.cancel();
    for r in readers {
        let _ = r.await;
    }
    let closed = received.closed.load(Ordering::Relaxed);
    let rss = server.peak_rss_mib();
    drop(server);
    summarise(
        &steps,
        clients,
        members,
        rooms.len(),
        seconds,
        closed,
        rss,
        out,
    )
}

/// Print the table and the verdicts, draw the chart; the figures as JSON.
#[allow(clippy::too_many_arguments)]
fn summarise(
    steps: &[Value],
    clients: usize,
    members: usize,
    rooms: usize,
    seconds: u64,
    closed: u64,
    rss: f64,
    out: &std::path::Path,
) -> Result<Value> {
    let mut table = Table::new(
        &format!("e2e: post → visible and post → frame, open loop, {clients} streams in rooms of {members} (targets p99 ≤ 100 ms at 5 000 posts/s)"),
        &[
            "offered/s",
            "achieved/s",
            "ack p50",
            "ack p99",
            "redis p50",
            "redis p99",
            "history p99",
            "push p50",
            "push p99",
            "frames recv/exp",
            "dropped",
            "errors",
        ],
    );
    for s in steps {
        let ms = |v: &Value, k: &str| num(v[k].as_f64().unwrap_or(0.0));
        table.row(vec![
            s["offered_per_s"].to_string(),
            num(s["load"]["achieved_per_s"].as_f64().unwrap_or(0.0)),
            ms(&s["load"]["ack"], "p50_ms"),
            ms(&s["load"]["ack"], "p99_ms"),
            ms(&s["visible_redis"], "p50_ms"),
            ms(&s["visible_redis"], "p99_ms"),
            ms(&s["visible_history"], "p99_ms"),
            ms(&s["push"], "p50_ms"),
            ms(&s["push"], "p99_ms"),
            format!("{}/{}", s["frames_received"], s["frames_expected"]),
            s["load"]["dropped"].to_string(),
            s["load"]["errors"].to_string(),
        ]);
    }
    table.print();
    let cpu_rows: Vec<(String, &Value)> = steps
        .iter()
        .map(|s| (format!("{}/s", s["offered_per_s"]), &s["cpu"]))
        .collect();
    cpu::print_table(
        "e2e: CPU µs per acknowledged post, by process (step = offered load; includes draining the step's backlog)",
        &cpu_rows,
    );
    for s in steps {
        if s["profile"].is_object() {
            profile::print(&format!("{}/s", s["offered_per_s"]), &s["profile"]);
        }
    }

    // A step counts when the load was achieved, nothing dropped or failed,
    // and (for push) every expected frame arrived.
    let clean = |s: &Value| {
        s["load"]["dropped"].as_u64() == Some(0)
            && s["load"]["errors"].as_u64() == Some(0)
            && s["load"]["achieved_per_s"].as_f64().unwrap_or(0.0)
                >= 0.95 * s["offered_per_s"].as_f64().unwrap_or(0.0)
    };
    let visible_ok = |s: &Value| {
        clean(s) && s["visible_redis"]["p99_ms"].as_f64().unwrap_or(f64::MAX) <= TARGET_P99_MS
    };
    let push_ok = |s: &Value| {
        clean(s)
            && s["push"]["p99_ms"].as_f64().unwrap_or(f64::MAX) <= TARGET_P99_MS
            && s["frames_received"].as_u64() >= s["frames_expected"].as_u64()
    };
    let best = |ok: &dyn Fn(&Value) -> bool| {
        steps
            .iter()
            .filter(|s| ok(s))
            .filter_map(|s| s["offered_per_s"].as_u64())
            .max()
    };
    let (best_visible, best_push) = (best(&visible_ok), best(&push_ok));
    let at_target = steps
        .iter()
        .find(|s| s["offered_per_s"].as_u64() == Some(u64::from(TARGET_RATE)));
    let verdict = |ok: &dyn Fn(&Value) -> bool, enough_clients: bool| match at_target {
        None => "not measured",
        Some(_) if !enough_clients => "not measured (fewer clients than the target's 1 000)",
        Some(s) if ok(s) => "met",
        Some(_) => "not met",
    };
    let visible_met = verdict(&visible_ok, true);
    let push_met = verdict(&push_ok, clients >= TARGET_CLIENTS);
    let show = |b: Option<u64>| b.map_or("none".into(), |b| b.to_string());
    println!(
        "highest offered load with p99 ≤ {TARGET_P99_MS} ms: visible {} posts/s, push {} posts/s",
        show(best_visible),
        show(best_push)
    );
    println!(
        "target visible p99 ≤ 100 ms at 5 000 posts/s: {visible_met}; target push p99 ≤ 100 ms at 5 000 posts/s with 1 000 clients: {push_met}"
    );
    println!("streams closed by the server during the run: {closed}; server peak RSS {rss:.0} MiB");
    let chart = out.join("e2e-latency.svg");
    std::fs::create_dir_all(out)?;
    if let Err(e) = super::chart::latency_vs_load(&chart, steps) {
        tracing::warn!(error = %e, "could not draw the chart");
    } else {
        println!("chart: {}", chart.display());
    }
    let cpu_chart = out.join("e2e-cpu.svg");
    if let Err(e) = super::chart::cpu_vs_load(&cpu_chart, steps) {
        tracing::warn!(error = %e, "could not draw the cpu chart");
    } else {
        println!("cpu chart: {}", cpu_chart.display());
    }
    Ok(json!({
        "params": { "clients": clients, "members_per_room": members, "rooms": rooms, "seconds_per_step": seconds, "max_in_flight": MAX_IN_FLIGHT },
        "steps": steps,
        "highest_rate_visible_p99_within_target": best_visible,
        "highest_rate_push_p99_within_target": best_push,
        "streams_closed": closed,
        "server_peak_rss_mib": rss,
        "target": { "rate": TARGET_RATE, "p99_ms": TARGET_P99_MS, "clients": TARGET_CLIENTS, "visible": visible_met, "push": push_met },
        "chart": chart.display().to_string(),
        "cpu_chart": cpu_chart.display().to_string(),
    }))
}
