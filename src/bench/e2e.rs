//! `cotalk bench e2e`: post-to-visible lag at fixed offered loads.
//!
//! Open loop: posts are sent on a fixed schedule (`i / rate` after the
//! start), whatever the server's answers, and every latency is measured from
//! the *scheduled* send time, so a slow server cannot hide queueing by slowing
//! the load generator down (coordinated omission). A post is *visible* when a
//! projection's checkpoint reaches its position: an observer samples the
//! `redis` checkpoint (room lists, timelines, unread counts) and the `history`
//! checkpoint (full history) every millisecond, which is exactly the
//! condition `X-Min-Position` waits for.
//!
//! The server under test is one child `cotalk serve --role all` process:
//! command side, relay, projections and query side on one 2-core machine,
//! with Postgres, Redis, NATS and the load generator beside it.

use super::append::latency_json;
use super::harness::{self, BenchEnv, ChildServer};
use super::report::{num, Table};
use super::Common;
use crate::config::Config;
use anyhow::Result;
use clap::Args;
use domain::views::{RedisKeys, HISTORY_PROJECTION};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `cotalk bench e2e`.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    /// Offered loads in posts/s (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<u32>>,
    /// Seconds per load step.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Rooms posted into.
    #[arg(long, default_value_t = 50)]
    pub rooms: usize,
    /// Users posting (each a member of every room).
    #[arg(long, default_value_t = 50)]
    pub users: usize,
}

/// The target of the projection issue: p99 ≤ 100 ms at 5 000 posts/s.
const TARGET_P99_MS: f64 = 100.0;
const TARGET_RATE: u32 = 5000;

/// Most posts in flight at once; beyond it a scheduled post is counted as
/// dropped rather than queued without bound.
const MAX_IN_FLIGHT: usize = 4096;

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
    let env = BenchEnv::new(base, "e2e")?;
    env.prepare().await?;
    let result = measure(&env, args, &rates, seconds, &common.out).await;
    env.cleanup().await;
    result
}

/// Per-post timings, filled by the poster and the observer.
#[derive(Default)]
struct Ledger {
    /// position → scheduled send time, for acknowledged posts not yet seen.
    waiting_redis: BTreeMap<i64, Instant>,
    waiting_history: BTreeMap<i64, Instant>,
}

async fn measure(
    env: &BenchEnv,
    args: &E2eArgs,
    rates: &[u32],
    seconds: u64,
    out: &std::path::Path,
) -> Result<Value> {
    println!("bench e2e: offered loads {rates:?} posts/s, {seconds} s each (server: child process, role all)");
    let server = ChildServer::start(env, "all", &[]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let users = harness::users(&http, &server.base, args.users.max(1), 8).await?;
    let rooms = harness::rooms(&http, &server.base, &users, args.rooms.max(1), users.len()).await?;
    let redis = redis::Client::open(env.config.redis_url.as_str())?;
    let redis = redis.get_multiplexed_async_connection().await?;
    let read_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&env.config.read_database_url)
        .await?;
    let checkpoint_key = RedisKeys::new(&env.config.namespace, 1).checkpoint();

    let mut steps = Vec::new();
    let mut table = Table::new(
        "e2e: post-to-visible lag, open loop (target p99 ≤ 100 ms at 5 000 posts/s)",
        &[
            "offered/s",
            "achieved/s",
            "ack p50",
            "ack p99",
            "redis p50",
            "redis p99",
            "history p50",
            "history p99",
            "dropped",
            "errors",
        ],
    );
    for &rate in rates {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let seen_redis = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
            1,
            120_000_000,
            3,
        )?));
        let seen_history = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
            1,
            120_000_000,
            3,
        )?));
        let stop = tokio_util::sync::CancellationToken::new();
        let observer = {
            let (ledger, seen_redis, seen_history, stop) = (
                ledger.clone(),
                seen_redis.clone(),
                seen_history.clone(),
                stop.clone(),
            );
            let (mut redis, read_pool, key) =
                (redis.clone(), read_pool.clone(), checkpoint_key.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut history_every = 0u32;
                while !stop.is_cancelled() {
                    tick.tick().await;
                    let now = Instant::now();
                    if let Ok(Some(cp)) = redis::cmd("GET")
                        .arg(&key)
                        .query_async::<Option<i64>>(&mut redis)
                        .await
                    {
                        settle(&ledger, cp, now, true, &seen_redis);
                    }
                    // The history checkpoint is a Postgres query: every 2 ms.
                    history_every += 1;
                    if history_every.is_multiple_of(2) {
                        let cp: Option<i64> = sqlx::query_scalar(
                            "SELECT position FROM projection_checkpoints WHERE projection = $1 ORDER BY generation DESC LIMIT 1",
                        )
                        .bind(HISTORY_PROJECTION)
                        .fetch_optional(&read_pool)
                        .await
                        .ok()
                        .flatten();
                        if let Some(cp) = cp {
                            settle(&ledger, cp, Instant::now(), false, &seen_history);
                        }
                    }
                }
            })
        };
        let step = open_loop(&http, &server.base, &users, &rooms, rate, seconds, &ledger).await?;
        // Let what was posted become visible (bounded), then stop observing.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let pending = {
                let l = ledger.lock().unwrap_or_else(|e| e.into_inner());
                l.waiting_redis.len() + l.waiting_history.len()
            };
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        let _ = observer.await;
        let redis_lat = latency_json(&seen_redis.lock().unwrap_or_else(|e| e.into_inner()));
        let history_lat = latency_json(&seen_history.lock().unwrap_or_else(|e| e.into_inner()));
        let ms = |v: &Value, k: &str| num(v[k].as_f64().unwrap_or(0.0));
        table.row(vec![
            rate.to_string(),
            num(step["achieved_per_s"].as_f64().unwrap_or(0.0)),
            ms(&step["ack"], "p50_ms"),
            ms(&step["ack"], "p99_ms"),
            ms(&redis_lat, "p50_ms"),
            ms(&redis_lat, "p99_ms"),
            ms(&history_lat, "p50_ms"),
            ms(&history_lat, "p99_ms"),
            step["dropped"].to_string(),
            step["errors"].to_string(),
        ]);
        steps.push(json!({ "offered_per_s": rate, "load": step, "visible_redis": redis_lat, "visible_history": history_lat }));
    }
    let rss = server.peak_rss_mib();
    drop(server);
    table.print();

    // The highest offered load whose visible-in-redis p99 stayed within target,
    // with nothing dropped and the load actually achieved.
    let ok = |s: &Value| {
        s["visible_redis"]["p99_ms"].as_f64().unwrap_or(f64::MAX) <= TARGET_P99_MS
            && s["load"]["dropped"].as_u64() == Some(0)
            && s["load"]["errors"].as_u64() == Some(0)
            && s["load"]["achieved_per_s"].as_f64().unwrap_or(0.0)
                >= 0.95 * s["offered_per_s"].as_f64().unwrap_or(0.0)
    };
    let best = steps
        .iter()
        .filter(|s| ok(s))
        .filter_map(|s| s["offered_per_s"].as_u64())
        .max();
    let at_target = steps
        .iter()
        .find(|s| s["offered_per_s"].as_u64() == Some(u64::from(TARGET_RATE)));
    let met = at_target.is_some_and(ok);
    println!(
        "highest offered load with visible p99 ≤ {TARGET_P99_MS} ms: {} posts/s; target p99 ≤ 100 ms at 5 000 posts/s: {}; server peak RSS {:.0} MiB",
        best.map_or("none".into(), |b| b.to_string()),
        if at_target.is_none() { "not measured" } else if met { "met" } else { "not met" },
        rss
    );
    let chart = out.join("e2e-latency.svg");
    std::fs::create_dir_all(out)?;
    if let Err(e) = super::chart::latency_vs_load(&chart, &steps) {
        tracing::warn!(error = %e, "could not draw the chart");
    } else {
        println!("chart: {}", chart.display());
    }
    Ok(json!({
        "params": { "rooms": rooms.len(), "users": users.len(), "seconds_per_step": seconds, "max_in_flight": MAX_IN_FLIGHT },
        "steps": steps,
        "highest_rate_p99_within_target": best,
        "server_peak_rss_mib": rss,
        "target": { "rate": TARGET_RATE, "p99_ms": TARGET_P99_MS, "met": met },
        "chart": chart.display().to_string(),
    }))
}

/// Mark every waiting post at or below `checkpoint` as seen at `now`.
fn settle(
    ledger: &Mutex<Ledger>,
    checkpoint: i64,
    now: Instant,
    redis: bool,
    hist: &Mutex<Histogram<u64>>,
) {
    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let waiting = if redis {
        &mut l.waiting_redis
    } else {
        &mut l.waiting_history
    };
    let rest = waiting.split_off(&(checkpoint + 1));
    let done = std::mem::replace(waiting, rest);
    drop(l);
    if done.is_empty() {
        return;
    }
    let mut h = hist.lock().unwrap_or_else(|e| e.into_inner());
    for (_, scheduled) in done {
        let _ = h.record(now.saturating_duration_since(scheduled).as_micros().max(1) as u64);
    }
}

/// Post at `rate` per second for `seconds`, on schedule.
async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    users: &[harness::BenchUser],
    rooms: &[(String, Vec<usize>)],
    rate: u32,
    seconds: u64,
    ledger: &Arc<Mutex<Ledger>>,
) -> Result<Value> {
    let total = u64::from(rate) * seconds;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let acks = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        120_000_000,
        3,
    )?));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut dropped = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            dropped += 1;
            continue;
        };
        let user = &users[i as usize % users.len()];
        let (room, _) = &rooms[(i as usize / users.len()) % rooms.len()];
        let req = http
            .post(format!("{base}/v1/rooms/{room}/messages"))
            .bearer_auth(&user.token)
            .json(&json!({"body": format!("메시지 {i}: 오늘 회의는 3시에 시작합니다. see you at the meeting")}));
        let (acks, errors, ledger) = (acks.clone(), errors.clone(), ledger.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let answer = match req.send().await {
                Ok(res) if res.status().as_u16() == 201 => res.json::<Value>().await.ok(),
                _ => None,
            };
            let now = Instant::now();
            match answer.and_then(|v| v["position"].as_i64()) {
                Some(position) => {
                    let _ = acks
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(now.saturating_duration_since(scheduled).as_micros().max(1) as u64);
                    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
                    l.waiting_redis.insert(position, scheduled);
                    l.waiting_history.insert(position, scheduled);
                }
                None => {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    let sent_for = start.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    let acked = acks.lock().unwrap_or_else(|e| e.into_inner()).len();
    let ack = latency_json(&acks.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(json!({
        "offered": total,
        "acknowledged": acked,
        "achieved_per_s": acked as f64 / sent_for.max(f64::EPSILON),
        "dropped": dropped,
        "errors": errors.load(std::sync::atomic::Ordering::Relaxed),
        "ack": ack,
    }))
}
