//! `cotalk bench append`: how many message posts per second the write side
//! sustains through HTTP (closed loop: N clients, each posting as soon as its
//! previous post is answered, into M rooms), with latency percentiles, next
//! to two references measured against the same Postgres in the same run:
//!
//! - one transaction per event, N concurrent writers: what an event store
//!   without group commit does per command;
//! - the raw batched-insert ceiling: one writer inserting the same row shape
//!   500 rows per transaction, with no HTTP, no domain and no checks;
//! - pgbench's one-row-transaction rate at the same client count
//!   ([`super::pgbench`]), printed as the ratio posts/s ÷ pgbench tps.
//!
//! The CPU time per post of every process involved ([`super::cpu`]) is
//! sampled at both ends of the measured window; `--profile` adds the
//! server's CPU by stage ([`super::profile`]).

use super::cpu::{self, Sampler};
use super::harness::{self, BenchEnv, ChildServer};
use super::poster::Poster;
use super::report::{num, Table};
use super::Common;
use super::{pgbench, profile};
use crate::config::Config;
use anyhow::Result;
use clap::Args;
use contract::commands::PostMessageRequest;
use domain::RoomId;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::client::Client;

/// Options of `cotalk bench append`.
#[derive(Debug, Clone, Args)]
pub struct AppendArgs {
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Rooms posted into.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Registered users (clients post as user `client % users`, a member of every room).
    #[arg(long, default_value_t = 64)]
    pub users: usize,
    /// Seconds of measured load (after a warm-up of a tenth of it).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Also break the server's CPU down by stage from a `perf record` of the
    /// measured load (skipped, with the reason, where perf cannot sample).
    #[arg(long)]
    pub profile: bool,
    /// The server's role: `command` (the write side alone) or `all` (the
    /// whole pipeline: relay, JetStream, the three projections and search
    /// in one process). With `all`, the CPU window ends only when every
    /// projection has caught up with the log's head, so it holds all the
    /// work the measured posts caused (issue 20's CPU per post at
    /// saturation).
    #[arg(long, default_value = "command", value_parser = ["command", "all"])]
    pub role: String,
}

/// Latency summary in milliseconds.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({ "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99), "max_ms": h.max() as f64 / 1000.0, "count": h.len() })
}

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &AppendArgs) -> Result<Value> {
    let seconds = args.seconds.unwrap_or(if common.quick { 8 } else { 30 });
    let env = BenchEnv::new(base, common, "append")?;
    env.prepare().await?;
    let result = measure(&env, args, seconds).await;
    env.cleanup().await;
    result
}

async fn measure(env: &BenchEnv, args: &AppendArgs, seconds: u64) -> Result<Value> {
    println!(
        "bench append: {} clients, {} rooms, {} s (server: child process, role {})",
        args.clients, args.rooms, seconds, args.role
    );
    let admin_token = hex::encode(rand::random::<[u8; 24]>());
    let server = ChildServer::start(
        env,
        &args.role,
        &[("COTALK_ADMIN_TOKEN", admin_token.clone())],
    )
    .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let client = Client::with_http(http, server.base.clone());
    let users = harness::users(&client, env, args.users.max(1), 8).await?;
    let rooms = harness::rooms(&client, &users, args.rooms.max(1), users.len()).await?;
    let sampler = Sampler::discover(
        &env.config,
        &[(args.role.as_str(), server.pid())],
        &env.config.database_url,
        &env.database_names(),
    )
    .await;
    let profiling = profile::usable(args.profile).await;
    let projections = (args.role == "all").then(|| Projections {
        http: reqwest::Client::new(),
        url: format!("{}/ops/status", server.base),
        token: admin_token,
    });
    if let Some(p) = &projections {
        // The sign-ups and rooms are projected before anything is measured.
        p.caught_up(Duration::from_secs(60)).await?;
    }
    let group = format!("cotalk {}", args.role);
    let probe = Probe {
        sampler: &sampler,
        profile_pid: profiling.then(|| server.pid()),
        projections: projections.as_ref(),
        group: &group,
    };
    let http_figures = post_load(&client, &users, &rooms, args.clients, seconds, &probe).await?;
    let rss = server.peak_rss_mib();
    drop(server);

    // Postgres allows 100 connections by default; one transaction per event
    // saturates the fsync long before 64 writers anyway.
    let writers = args.clients.min(64);
    let pool = env.write_pool(writers as u32 + 2).await?;
    let per_event = per_event_transactions(&pool, writers, seconds.min(10)).await?;
    let ceiling = batched_ceiling(&pool, seconds.min(10)).await?;
    drop(pool);
    let pgbench = pgbench::run(env, writers, seconds.min(10)).await?;

    let posts_per_s = http_figures["posts_per_s"].as_f64().unwrap_or(0.0);
    let p99 = http_figures["latency"]["p99_ms"]
        .as_f64()
        .unwrap_or(f64::MAX);
    let mut t = Table::new(
        "append: message posts (target ≥ 15 000 posts/s sustained with p99 ≤ 50 ms)",
        &[
            "path",
            "events/s",
            "p50 ms",
            "p99 ms",
            "× per-event tx",
            "% of ceiling",
        ],
    );
    let lat = |v: &Value, k: &str| num(v["latency"][k].as_f64().unwrap_or(0.0));
    let per_event_rate = per_event["events_per_s"].as_f64().unwrap_or(0.0);
    let ceiling_rate = ceiling["events_per_s"].as_f64().unwrap_or(0.0);
    let ratio = |x: f64| {
        if per_event_rate > 0.0 {
            format!("{:.1}×", x / per_event_rate)
        } else {
            "-".into()
        }
    };
    let pct = |x: f64| {
        if ceiling_rate > 0.0 {
            format!("{:.0}%", 100.0 * x / ceiling_rate)
        } else {
            "-".into()
        }
    };
    t.row(vec![
        format!("cotalk POST /messages ({} clients)", args.clients),
        num(posts_per_s),
        lat(&http_figures, "p50_ms"),
        lat(&http_figures, "p99_ms"),
        ratio(posts_per_s),
        pct(posts_per_s),
    ]);
    t.row(vec![
        format!("1 tx per event ({writers} writers)"),
        num(per_event_rate),
        lat(&per_event, "p50_ms"),
        lat(&per_event, "p99_ms"),
        ratio(per_event_rate),
        pct(per_event_rate),
    ]);
    t.row(vec![
        "raw batched insert (500/tx)".into(),
        num(ceiling_rate),
        "-".into(),
        "-".into(),
        ratio(ceiling_rate),
        pct(ceiling_rate),
    ]);
    if let Some(tps) = pgbench["tps"].as_f64() {
        t.row(vec![
            format!("pgbench one-row INSERT tx ({writers} clients)"),
            num(tps),
            "-".into(),
            format!(
                "avg {}",
                num(pgbench["latency_avg_ms"].as_f64().unwrap_or(0.0))
            ),
            ratio(tps),
            pct(tps),
        ]);
    }
    t.print();
    let pgbench_ratio = pgbench["tps"].as_f64().map(|tps| posts_per_s / tps);
    match pgbench_ratio {
        Some(r) => println!(
            "posts/s ÷ pgbench tps: {r:.2} ({} clients against {writers} pgbench clients)",
            args.clients
        ),
        None => println!(
            "posts/s ÷ pgbench tps: not measured ({})",
            pgbench["skipped"].as_str().unwrap_or("pgbench failed")
        ),
    }
    let mut cpu_rows = vec![("cotalk POST /messages".to_owned(), &http_figures["cpu"])];
    if pgbench["cpu"].is_object() {
        cpu_rows.push(("pgbench one-row INSERT".to_owned(), &pgbench["cpu"]));
    }
    cpu::print_table(
        "append: CPU µs per post (per transaction for pgbench; load gen. = this bench or pgbench)",
        &cpu_rows,
    );
    if let Some(drain) = http_figures.get("projections").filter(|v| v.is_object()) {
        println!(
            "role all: the window opened with every projection at the head and closed when they caught up, {} s after the last post",
            num(drain["drained_seconds"].as_f64().unwrap_or(0.0))
        );
    }
    if http_figures["profile"].is_object() {
        profile::print(&group, &http_figures["profile"]);
    }
    let met = posts_per_s >= 15_000.0 && p99 <= 50.0;
    println!(
        "target ≥ 15 000 posts/s with p99 ≤ 50 ms: {} ({} posts/s, p99 {} ms); server peak RSS {:.0} MiB",
        if met { "met" } else { "not met" },
        num(posts_per_s),
        num(p99),
        rss
    );
    Ok(json!({
        "params": { "clients": args.clients, "rooms": args.rooms, "users": users.len(), "seconds": seconds,
            "role": args.role, "server": harness::server_binary()?.display().to_string() },
        "cotalk_http": http_figures,
        "one_tx_per_event": per_event,
        "raw_batched_ceiling": ceiling,
        "pgbench": pgbench,
        "posts_per_s_over_pgbench_tps": pgbench_ratio,
        "server_peak_rss_mib": rss,
        "target": { "posts_per_s": 15000, "p99_ms": 50, "met": met },
    }))
}

/// What is measured beside the posts during the measured window.
struct Probe<'a> {
    sampler: &'a Sampler,
    /// The server to profile, with `--profile`.
    profile_pid: Option<u32>,
    /// With role `all`: where to ask how far the projections are.
    projections: Option<&'a Projections>,
    /// The server's CPU group (`cotalk command`, `cotalk all`).
    group: &'a str,
}

/// Lets the load's clients post, or holds them between posts.
#[derive(Default)]
struct Gate {
    closed: AtomicBool,
    /// Posts under way.
    posting: AtomicUsize,
}

/// A post under way ([`Gate::enter`]).
struct Posting<'a>(&'a Gate);

impl Drop for Posting<'_> {
    fn drop(&mut self) {
        self.0.posting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    /// Begin a post, unless the gate is closed.
    fn enter(&self) -> Option<Posting<'_>> {
        self.posting.fetch_add(1, Ordering::SeqCst);
        let posting = Posting(self);
        // Checked after counting: `close` either sees this post or it is
        // not begun.
        (!self.closed.load(Ordering::SeqCst)).then_some(posting)
    }

    /// Hold every client and wait until no post is under way.
    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        while self.posting.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }
}

/// The server's `GET /ops/status`, read with its admin token.
struct Projections {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Projections {
    /// How many events the furthest-behind projection has still to apply
    /// (`None` while a checkpoint or the head is unknown).
    async fn behind(&self) -> Result<Option<i64>> {
        let status: Value = self
            .http
            .get(&self.url)
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Some(head) = status["head"]["position"].as_i64() else {
            return Ok(None);
        };
        let mut behind = 0;
        for p in status["projections"].as_array().into_iter().flatten() {
            match p["checkpoint"].as_i64() {
                Some(cp) => behind = behind.max(head - cp),
                None => return Ok(None),
            }
        }
        Ok(Some(behind.max(0)))
    }

    /// Wait until every projection reached the head, at most `limit`;
    /// returns how long it took.
    async fn caught_up(&self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            if self.behind().await? == Some(0) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                anyhow::bail!("the projections did not catch up with the log within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Closed-loop posting for `seconds` after a warm-up; the processes' CPU
/// time is sampled at both ends of the measured window.
async fn post_load(
    client: &Client,
    users: &[harness::BenchUser],
    rooms: &[(RoomId, Vec<usize>)],
    clients: usize,
    seconds: u64,
    probe: &Probe<'_>,
) -> Result<Value> {
    let warmup = Duration::from_millis(seconds * 100).max(Duration::from_secs(1));
    let measure = Duration::from_secs(seconds);
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Gate::default());
    let mut tasks = Vec::new();
    let body = serde_json::to_vec(&PostMessageRequest::text(
        "오늘 회의는 3시에 시작합니다. Meeting at 3pm, see you there",
    ))?;
    let paths: Vec<String> = rooms
        .iter()
        .map(|(id, _)| format!("/v1/rooms/{id}/messages"))
        .collect();
    for c in 0..clients {
        let mut me = Poster::new(
            client.base(),
            &users[c % users.len()].token,
            body.clone().into(),
        )?;
        let paths = paths.clone();
        let (recording, stop, errors) = (recording.clone(), stop.clone(), errors.clone());
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let mut ok = 0u64;
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let Some(_posting) = gate.enter() else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let path = &paths[(i >> 33) % paths.len()];
                let started = Instant::now();
                let good = me.post(path).await;
                if recording.load(Ordering::Relaxed) {
                    if good {
                        ok += 1;
                        let _ = hist.record(started.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (ok, hist)
        }));
    }
    tokio::time::sleep(warmup).await;
    if let Some(p) = probe.projections {
        // The window starts with nothing posted and not yet projected, so
        // it holds the projecting of exactly the posts it counts.
        gate.close().await;
        p.caught_up(Duration::from_secs(120)).await?;
    }
    let cpu_before = probe.sampler.sample().await;
    let perf = match probe.profile_pid {
        Some(pid) => Some(profile::Recording::start(pid, "append")?),
        None => None,
    };
    recording.store(true, Ordering::Relaxed);
    gate.open();
    let started = Instant::now();
    tokio::time::sleep(measure).await;
    let mut drained = None;
    if probe.projections.is_some() {
        // Every post begun in the window is counted, none after it.
        gate.close().await;
    }
    recording.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(p) = probe.projections {
        // Then the window goes on until every one of them is projected.
        drained = Some(p.caught_up(Duration::from_secs(120)).await?);
    }
    let cpu_after = probe.sampler.sample().await;
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut ok = 0;
    for t in tasks {
        let (n, h) = t.await?;
        ok += n;
        hist.add(h)?;
    }
    let cpu = probe.sampler.per_post(&cpu_before, &cpu_after, ok);
    let profile = profile::finish(perf, cpu::group_us_per_post(&cpu, probe.group)).await;
    let projections = drained.map(|d| json!({ "drained_seconds": d.as_secs_f64() }));
    Ok(json!({
        "projections": projections,
        "cpu": cpu,
        "profile": profile,
        "posts": ok,
        "errors": errors.load(Ordering::Relaxed),
        "posts_per_s": ok as f64 / elapsed,
        "latency": latency_json(&hist),
    }))
}

/// The same row shape as the event log, for the two references.
const INSERT_ONE: &str = "INSERT INTO events (position, event_id, stream_id, stream_type, version, event_type, schema_version, payload, metadata)
     VALUES (nextval('events_position_seq'), $1, $2, 'room', $3, 'room.message_posted', 1, $4, '{}')";

fn payload() -> Value {
    json!({"room_id": uuid::Uuid::now_v7(), "message_id": uuid::Uuid::now_v7(), "seq": 1, "author_id": uuid::Uuid::now_v7(),
        "body": "오늘 회의는 3시에 시작합니다. Meeting at 3pm, see you there", "reply_to": null, "at": chrono::Utc::now()})
}

/// N writers, each committing one event per transaction.
async fn per_event_transactions(
    pool: &sqlx::PgPool,
    writers: usize,
    seconds: u64,
) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(seconds.max(2));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let stream = uuid::Uuid::now_v7();
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let mut version = 0i64;
            while Instant::now() < deadline {
                version += 1;
                let started = Instant::now();
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT_ONE)
                    .bind(uuid::Uuid::now_v7())
                    .bind(stream)
                    .bind(version)
                    .bind(payload())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                let _ = hist.record(started.elapsed().as_micros() as u64);
            }
            Ok::<_, sqlx::Error>(hist)
        }));
    }
    let started = Instant::now();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        hist.add(t.await??)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(json!({ "events_per_s": hist.len() as f64 / elapsed, "latency": latency_json(&hist) }))
}

/// One writer, 500 rows per transaction, multi-row insert.
async fn batched_ceiling(pool: &sqlx::PgPool, seconds: u64) -> Result<Value> {
    const BATCH: usize = 500;
    let deadline = Instant::now() + Duration::from_secs(seconds.max(2));
    let started = Instant::now();
    let stream = uuid::Uuid::now_v7();
    let mut version = 0i64;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let ids: Vec<uuid::Uuid> = (0..BATCH).map(|_| uuid::Uuid::now_v7()).collect();
        let versions: Vec<i64> = (1..=BATCH as i64).map(|v| version + v).collect();
        let payloads: Vec<Value> = (0..BATCH).map(|_| payload()).collect();
        version += BATCH as i64;
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO events (position, event_id, stream_id, stream_type, version, event_type, schema_version, payload, metadata)
             SELECT nextval('events_position_seq'), id, $2, 'room', v, 'room.message_posted', 1, p, '{}'
             FROM UNNEST($1::uuid[], $3::bigint[], $4::jsonb[]) AS t(id, v, p)",
        )
        .bind(&ids)
        .bind(stream)
        .bind(&versions)
        .bind(&payloads)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        n += BATCH as u64;
    }
    Ok(json!({ "events_per_s": n as f64 / started.elapsed().as_secs_f64(), "batch": BATCH }))
}
