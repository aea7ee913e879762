//! `cotalk bench push`: live delivery latency, from a post being sent to its
//! frame arriving on every member's WebSocket (`GET /v1/stream`), with many
//! connected clients and an open-loop poster at fixed rates.
//!
//! Every client is its own user; users are split into rooms of `members`,
//! so each post fans out to `members` connections. The poster sends at a
//! fixed rate whatever the answers (open loop: a slow server does not slow
//! the load down) and stamps each body with its *scheduled* send time, so a
//! stalled sender cannot hide latency. Every frame received is timed
//! against that stamp. Posts and streams go through the same child
//! `cotalk serve --role all` process on loopback.

use super::harness::{BenchEnv, ChildServer};
use super::report::{num, Table};
use super::Common;
use crate::bench::append::latency_json;
use crate::config::Config;
use anyhow::{bail, Context, Result};
use clap::Args;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Options of `cotalk bench push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Connected WebSocket clients, one user each (default 1000; 200 with --quick).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Members per room (each post reaches this many clients).
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Post rates to measure, posts/s (default 1000 and 5000).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<u64>,
    /// Seconds of measured load per rate (default 10; 4 with --quick).
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// The rate the target is stated at, and the target.
const TARGET_RATE: u64 = 5000;
const TARGET_P99_MS: f64 = 100.0;
/// Requests the poster lets be in flight before counting sends as skipped.
const MAX_IN_FLIGHT: u64 = 4000;

#[path = "push_clients.rs"]
mod clients;

use clients::{connect, read_frames, Phases};

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &PushArgs) -> Result<Value> {
    let env = BenchEnv::new(base, "push")?;
    env.prepare().await?;
    let result = measure(&env, common, args).await;
    env.cleanup().await;
    result
}

fn open_files_limit() -> u64 {
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

async fn measure(env: &BenchEnv, common: &Common, args: &PushArgs) -> Result<Value> {
    let clients = args
        .clients
        .unwrap_or(if common.quick { 200 } else { 1000 });
    let members = args.members.clamp(2, clients.max(2));
    let rates = if args.rates.is_empty() {
        vec![1000, TARGET_RATE]
    } else {
        args.rates.clone()
    };
    let seconds = args.seconds.unwrap_or(if common.quick { 4 } else { 10 });
    let limit = open_files_limit();
    if limit < (clients as u64) + MAX_IN_FLIGHT + 256 {
        bail!("open-file limit {limit} is too low for {clients} clients; raise it (ulimit -n)");
    }
    println!(
        "bench push: {clients} WebSocket clients, rooms of {members}, rates {rates:?} posts/s, {seconds} s each (server: child process, role all)"
    );
    let server = ChildServer::start(env, "all", &[]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let started = Instant::now();
    let users = register(&http, &server.base, env, clients).await?;
    let rooms = make_rooms(&http, &server.base, &users, members).await?;
    println!(
        "  {} users, {} rooms in {:.0} s",
        users.len(),
        rooms.len(),
        started.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    let phases: Phases = Arc::default();
    let received = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let mut readers = Vec::with_capacity(users.len());
    let ws_base = server.base.replacen("http://", "ws://", 1);
    for chunk in users.chunks(50) {
        let mut connecting = Vec::new();
        for (_, token) in chunk {
            connecting.push(connect(&ws_base, token));
        }
        for ws in futures::future::join_all(connecting).await {
            let ws = ws?;
            let (phases, received, closed, stop) = (
                phases.clone(),
                received.clone(),
                closed.clone(),
                stop.clone(),
            );
            readers.push(tokio::spawn(read_frames(
                ws, t0, phases, received, closed, stop,
            )));
        }
    }
    println!("  {} clients connected", readers.len());

    let mut results = Vec::new();
    // Warm-up (phase 0, not reported).
    post_phase(
        &http,
        &server.base,
        &rooms,
        500,
        Duration::from_secs(2),
        0,
        t0,
    )
    .await;
    settle(&received, Duration::from_secs(3)).await;
    for (i, rate) in rates.iter().enumerate() {
        let phase = i as u32 + 1;
        let before = received.load(Ordering::Relaxed);
        let posted = post_phase(
            &http,
            &server.base,
            &rooms,
            *rate,
            Duration::from_secs(seconds),
            phase,
            t0,
        )
        .await;
        settle(&received, Duration::from_secs(10)).await;
        let got = received.load(Ordering::Relaxed) - before;
        results.push(json!({
            "rate": rate,
            "posted": posted,
            "frames_expected": posted["ok"].as_u64().unwrap_or(0) * members as u64,
            "frames_received": got,
        }));
    }
    // Readers hand their histograms over when they stop.
    stop.cancel();
    for r in readers {
        let _ = r.await;
    }
    for (i, r) in results.iter_mut().enumerate() {
        let hist = phases
            .lock()
            .ok()
            .and_then(|p| p.get(&(i as u32 + 1)).cloned());
        r["latency"] = hist.as_ref().map(latency_json).unwrap_or(json!(null));
    }
    let rss = server.peak_rss_mib();
    drop(server);

    let mut t = Table::new(
        &format!("push: post → frame on every member's socket ({clients} clients, rooms of {members}; target p99 ≤ 100 ms at 5 000 posts/s)"),
        &["offered posts/s", "posts/s ok", "post→201 p99 ms", "frames expected", "frames received", "p50 ms", "p99 ms", "max ms", "target"],
    );
    let mut met = None;
    for r in &results {
        let p99 = r["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX);
        let complete = r["frames_received"].as_u64() >= r["frames_expected"].as_u64();
        let ok_rate = r["posted"]["ok_per_s"].as_f64().unwrap_or(0.0);
        let verdict = if r["rate"].as_u64() == Some(TARGET_RATE) {
            let m = p99 <= TARGET_P99_MS && complete && ok_rate >= 0.95 * TARGET_RATE as f64;
            met = Some(m);
            if m {
                "met"
            } else {
                "not met"
            }
        } else {
            "-"
        };
        let ms = |k: &str| num(r["latency"][k].as_f64().unwrap_or(0.0));
        t.row(vec![
            r["rate"].to_string(),
            num(ok_rate),
            num(r["posted"]["answer_latency"]["p99_ms"]
                .as_f64()
                .unwrap_or(0.0)),
            r["frames_expected"].to_string(),
            r["frames_received"].to_string(),
            ms("p50_ms"),
            ms("p99_ms"),
            ms("max_ms"),
            verdict.into(),
        ]);
    }
    t.print();
    println!(
        "streams closed by the server during the run: {}; server peak RSS {:.0} MiB",
        closed.load(Ordering::Relaxed),
        rss
    );
    Ok(json!({
        "params": { "clients": clients, "members_per_room": members, "rooms": rooms.len(), "rates": rates, "seconds": seconds },
        "phases": results,
        "streams_closed": closed.load(Ordering::Relaxed),
        "server_peak_rss_mib": rss,
        "target": { "rate": TARGET_RATE, "p99_ms": TARGET_P99_MS, "met": met },
    }))
}

/// Register `n` users (one request each; tokens are minted with the bench
/// server's secret rather than by logging in, to halve the password hashing).
async fn register(
    http: &reqwest::Client,
    base: &str,
    env: &BenchEnv,
    n: usize,
) -> Result<Vec<(String, String)>> {
    let secret = env.config.token_secret.clone().unwrap_or_default();
    let keys = api::TokenKeys::new(secret.as_bytes(), chrono::Duration::hours(2));
    let made = futures::stream::iter(0..n)
        .map(|i| async move {
            let reg: Value = http
                .post(format!("{base}/v1/users"))
                .json(&json!({"username": format!("push_{i}"), "display_name": format!("사용자 {i}"), "password": "bench-password"}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok::<_, anyhow::Error>(reg["user_id"].as_str().unwrap_or_default().to_owned())
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    let mut users = Vec::with_capacity(n);
    for id in made {
        let id = id?;
        let user: domain::UserId = id.parse().context("user id")?;
        let (token, _) = keys
            .issue(user, chrono::Utc::now())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        users.push((id, token));
    }
    Ok(users)
}

/// Split users into rooms of `members`; returns (room id, owner token).
async fn make_rooms(
    http: &reqwest::Client,
    base: &str,
    users: &[(String, String)],
    members: usize,
) -> Result<Vec<(String, String)>> {
    let made = futures::stream::iter(users.chunks(members))
        .map(|group| async move {
            let others: Vec<&str> = group.iter().skip(1).map(|(id, _)| id.as_str()).collect();
            let owner = group[0].1.clone();
            let room: Value = http
                .post(format!("{base}/v1/rooms"))
                .bearer_auth(&owner)
                .json(&json!({"name": "push room", "members": others}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok::<_, anyhow::Error>((
                room["room_id"].as_str().unwrap_or_default().to_owned(),
                owner,
            ))
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    made.into_iter().collect()
}

/// Post at `rate` for `length`, open loop, round-robin over the rooms.
async fn post_phase(
    http: &reqwest::Client,
    base: &str,
    rooms: &[(String, String)],
    rate: u64,
    length: Duration,
    phase: u32,
    t0: Instant,
) -> Value {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (rate as f64 * length.as_secs_f64()) as u64;
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut skipped = 0u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            skipped += 1;
            continue;
        }
        let (room, token) = &rooms[i as usize % rooms.len()];
        let url = format!("{base}/v1/rooms/{room}/messages");
        let body = json!({"body": format!("push {phase} {}", due.duration_since(t0).as_micros())});
        let (http, token, in_flight) = (http.clone(), token.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.push(tokio::spawn(async move {
            let res = http.post(url).bearer_auth(token).json(&body).send().await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            // 0: no answer at all (connection error).
            let status = res.map(|r| r.status().as_u16()).unwrap_or(0);
            (status, due.elapsed().as_micros() as u64)
        }));
    }
    let mut answers =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds");
    let mut statuses: HashMap<u16, u64> = HashMap::new();
    for t in tasks {
        if let Ok((status, micros)) = t.await {
            *statuses.entry(status).or_default() += 1;
            if status == 201 {
                let _ = answers.record(micros.max(1));
            }
        }
    }
    let ok = statuses.get(&201).copied().unwrap_or(0);
    let statuses: HashMap<String, u64> = statuses
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    json!({
        "offered": total,
        "ok": ok,
        "statuses": statuses,
        "skipped_in_flight_cap": skipped,
        "ok_per_s": ok as f64 / length.as_secs_f64(),
        "answer_latency": latency_json(&answers),
    })
}

/// Wait until no frame has arrived for a second (at most `limit`).
async fn settle(received: &AtomicU64, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = received.load(Ordering::Relaxed);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = received.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}
