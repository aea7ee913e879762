//! The fault run of `make cluster-test` (issue 19): the chaos load
//! (`faults_support::client`) through HAProxy against the deployment `make
//! cluster` runs (Patroni Postgres, Redis Cluster, NATS ×3, two command,
//! three query and two projector nodes), while `scripts/cluster-fault` kills, in
//! turn and several times each: the Postgres primary, the Redis master of
//! cotalk's slot, the NATS node leading the event stream, a query node, and
//! the projector node holding the relay's lease. A user who only watches
//! keeps a WebSocket open through HAProxy, reconnecting with `after=` when
//! its node dies.
//!
//! Afterwards: every acknowledged command's events are in the log exactly
//! once, the stream holds the log once, the `redis` and `history` read
//! models equal a fresh rebuild, every message posted in the watcher's
//! rooms reached the watcher exactly once, and no answer was a 500. A
//! summary table (faults per kind, longest stall of the commands and of the
//! stream per kind) is printed before anything is asserted.
//!
//! Ignored by `cargo test`: it needs the cluster (`make cluster`, then
//! `scripts/cluster-cotalk reset` and `start` for an empty log), and reads
//! where it is from the environment `scripts/cluster env` prints plus the
//! nodes' secrets. `make cluster-test` does all of that.

mod faults_support;
mod support;

use contract::commands::{LoginRequest, RegisterRequest};
use contract::people::{CreateInviteRequest, JoinInviteRequest};
use domain::RoomId;
use faults_support::client::{Ack, HttpLoad};
use faults_support::{assert_stream_holds_the_log_once, generations, log};
use futures::StreamExt;
use projector::{source, ProjectorConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::client::Client;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The faults, in the order of one round.
const KINDS: [&str; 5] = [
    "pg-primary",
    "redis-master",
    "nats-node",
    "query-node",
    "projector",
];
/// How long the read models and the watcher may take to catch up at the end.
const CATCH_UP: Duration = Duration::from_secs(120);

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run through make cluster-test"))
}

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs make cluster; run by make cluster-test"]
async fn cluster_faults_lose_and_double_nothing() {
    let base =
        std::env::var("COTALK_CLUSTER_URL").unwrap_or_else(|_| "http://127.0.0.1:8180".into());
    let rounds = number("COTALK_CLUSTER_FAULT_ROUNDS", 2);
    let ops = number("COTALK_CLUSTER_OPS", 600);
    let seed = faults_support::seed();
    eprintln!(
        "cluster faults: {rounds} rounds, {ops} commands per worker, COTALK_FAULT_SEED={seed}"
    );
    let started = Instant::now();
    let pool = |url: String| async move {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .unwrap()
    };
    let cfg = ProjectorConfig::new(
        &var("COTALK_NAMESPACE"),
        pool(var("COTALK_DATABASE_URL")).await,
        pool(var("COTALK_READ_DATABASE_URL")).await,
        &var("COTALK_REDIS_URL"),
        &var("COTALK_NATS_URL"),
        std::env::temp_dir().join("cotalk-cluster-faults"),
    )
    .with_pii(eventlog::pii::Pii::new(var("COTALK_MASTER_KEY").as_bytes()));

    let load = HttpLoad::setup(base.clone(), seed, ops, Duration::from_secs(900)).await;
    let watcher = Watcher::join(&base, &load, seed).await;
    let watching = tokio::spawn(watcher.clone().run(base.clone()));
    let stalls = Stalls::default();

    let mut rng = StdRng::seed_from_u64(seed ^ 0xc1a5_7e55);
    let faults: Vec<&str> = (0..rounds).flat_map(|_| KINDS).collect();
    let slot = (load.planned() * 8 / 10 / faults.len().max(1)).max(2);
    let injector = async {
        // A fault's stream stall is the time the watcher's socket was
        // closed: inject nothing before it first opened (a Postgres kill
        // two seconds in, while the new deployment's projection was still
        // reaching the watcher's registration, once counted its first
        // connection as a 14 s stall).
        let opened_by = Instant::now() + Duration::from_secs(60);
        while !watcher.connected.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < opened_by,
                "the watcher's stream never opened"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut done: Vec<(&str, Instant, Instant, String)> = Vec::new();
        for fault in &faults {
            let threshold = load.acked() + rng.gen_range(1..slot);
            while load.acked() < threshold {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let from = Instant::now();
            let out = tokio::process::Command::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/cluster-fault"
            ))
            .arg(fault)
            .output()
            .await
            .expect("run scripts/cluster-fault");
            let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                out.status.success(),
                "scripts/cluster-fault {fault}: {line} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("{:>6.1}s {line}", started.elapsed().as_secs_f64());
            done.push((fault, from, Instant::now(), line));
        }
        load.finish();
        done
    };
    let running = async {
        load.run().await;
        stalls.stop.store(true, Ordering::SeqCst);
    };
    let ((), injected, ()) = tokio::join!(running, injector, stalls.sample(&load, &watcher));
    let acks = load.acks.lock().unwrap().clone();
    let seen = std::mem::take(&mut *load.seen.lock().unwrap());

    // The scheduler (on the projector nodes, by lease) appends the
    // reminders the load's meet-ups are owed; then the log stops growing.
    let owed = load.reminders_owed();
    let fired = faults_support::reminders_fired(&cfg, owed).await;
    // Everything catches up with the log's head.
    let head = source::head(&cfg.write_pool).await.unwrap();
    let live = generations(&cfg).await;
    caught_up(&cfg, live, head).await;
    let posted = posted_after(&cfg, load.rooms(), watcher.joined).await;
    watcher.wait_for(&posted).await;
    watcher.stop.store(true, Ordering::SeqCst);
    let _ = watching.await;

    let logged = log::check(&cfg.write_pool, &acks).await;
    let uploads = load.uploads.lock().unwrap().clone();
    let (uploads_lost, _) = log::check_uploads(&cfg.write_pool, &uploads).await;
    assert_stream_holds_the_log_once(&cfg).await;
    let mut diverged: Vec<String> =
        faults_support::verify::compare_shared_to_rebuild(&cfg, [live[0], live[1]], head)
            .await
            .into_iter()
            .map(str::to_owned)
            .collect();
    diverged.extend(search_diverged(&cfg, live[2], head).await);
    let frames = watcher.frames.lock().unwrap().clone();
    let missing: Vec<&String> = posted
        .iter()
        .filter(|m| !frames.posted.contains_key(*m) && !frames.reloaded.contains(*m))
        .collect();
    let doubled: Vec<(&String, &usize)> = frames.posted.iter().filter(|(_, n)| **n > 1).collect();

    let server_errors: usize = seen
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500 && **s != 503)
        .map(|(_, n)| n)
        .sum();
    let mut by_kind: BTreeMap<&str, (usize, Duration, Duration, u64)> = BTreeMap::new();
    for (kind, from, to, line) in &injected {
        let (commands, stream) = stalls.longest(*from, *to + Duration::from_secs(5));
        let down: u64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("down_ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let row = by_kind.entry(kind).or_default();
        row.0 += 1;
        row.1 = row.1.max(commands);
        row.2 = row.2.max(stream);
        row.3 = row.3.max(down);
    }
    let mut out = format!(
        "\ncluster fault run (COTALK_FAULT_SEED={seed}, {:.1?})\n",
        started.elapsed()
    );
    out.push_str(&format!(
        "{:<14} {:>6} {:>18} {:>18} {:>16}\n",
        "fault", "times", "commands stall ms", "stream stall ms", "engine down ms"
    ));
    for (kind, (n, commands, stream, down)) in &by_kind {
        out.push_str(&format!(
            "{kind:<14} {n:>6} {:>18} {:>18} {down:>16}\n",
            commands.as_millis(),
            stream.as_millis()
        ));
    }
    for (k, v) in [
        ("commands acknowledged", acks.len().to_string()),
        ("lost", logged.lost.len().to_string()),
        (
            "uploads acknowledged / lost",
            format!("{} / {}", uploads.len(), uploads_lost.len()),
        ),
        ("duplicated", logged.duplicated.len().to_string()),
        (
            "diverged (redis, history, search per query node)",
            diverged.len().to_string(),
        ),
        (
            "reminders owed / fired / distinct",
            format!("{owed} / {} / {}", fired.fired, fired.distinct),
        ),
        (
            "posts watched / missed / doubled",
            format!("{} / {} / {}", posted.len(), missing.len(), doubled.len()),
        ),
        (
            "stream reconnects / resyncs / out of order",
            format!(
                "{} / {} / {}",
                frames.reconnects, frames.resyncs, frames.out_of_order
            ),
        ),
        (
            "503 answers (all with Retry-After)",
            format!(
                "{} ({})",
                seen.statuses.get(&503).copied().unwrap_or(0),
                seen.without_retry_after == 0
            ),
        ),
        ("500 answers", server_errors.to_string()),
        (
            "connections refused or cut",
            seen.connection_errors.to_string(),
        ),
    ] {
        out.push_str(&format!("{k:<44} {v:>12}\n"));
    }
    println!("{out}");

    logged.assert_exactly_once();
    assert!(uploads_lost.is_empty(), "uploads lost: {uploads_lost:?}");
    assert!(diverged.is_empty(), "diverged from a rebuild: {diverged:?}");
    assert!(
        missing.is_empty(),
        "{} posts the watcher never got, such as {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        doubled.is_empty(),
        "{} posts the watcher got twice, such as {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)]
    );
    assert_eq!(
        frames.out_of_order, 0,
        "frames at or below an earlier position"
    );
    faults_support::client::assert_answers(&seen, owed, &fired);
}

/// Until the relay, `redis` and `history` reach `head`.
async fn caught_up(cfg: &ProjectorConfig, live: [i64; 3], head: i64) {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let at = faults_support::shared_positions(cfg, [live[0], live[1]]).await;
        if at.iter().all(|p| *p >= head) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not caught up with {head} after {CATCH_UP:?}: relay, redis, history at {at:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each query node keeps its own search index, held for writing while the
/// node runs: once it has reached `head`, stop the node, compare its index
/// with a fresh rebuild beside it, and start it again. The nodes that differ.
async fn search_diverged(cfg: &ProjectorConfig, live: i64, head: i64) -> Vec<String> {
    let nodes = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster-cotalk");
    let cluster = std::env::var("COTALK_CLUSTER_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.data/cluster").into());
    let token = var("COTALK_ADMIN_TOKEN");
    let mut diverged = Vec::new();
    for (node, port) in [("query1", 8191), ("query2", 8192), ("query3", 8193)] {
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + CATCH_UP;
        loop {
            let at = faults_support::procs::gauge(
                &base,
                &token,
                "cotalk_projection_position",
                "projection=\"search\"",
            )
            .await
            .map_or(-1, |v| v as i64);
            if at >= head {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "search on {node} stuck at {at} < {head}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let run = |step: &'static str| {
            let nodes = nodes.to_owned();
            async move {
                let out = tokio::process::Command::new(nodes)
                    .args([step, node])
                    .output()
                    .await
                    .expect("run scripts/cluster-cotalk");
                assert!(
                    out.status.success(),
                    "{step} {node}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        run("stop-node").await;
        let mut own = cfg.clone();
        own.data_dir = std::path::PathBuf::from(&cluster)
            .join("cotalk")
            .join(node)
            .join("data");
        let (_, same) = faults_support::verify::compare_search_to_rebuild(&own, live, head).await;
        if !same {
            diverged.push(format!("search on {node}"));
        }
        run("start-node").await;
    }
    diverged
}

/// Ids of the messages posted in `rooms` after `position`, from the log.
async fn posted_after(cfg: &ProjectorConfig, rooms: &[RoomId], position: i64) -> HashSet<String> {
    let rooms: Vec<uuid::Uuid> = rooms.iter().map(|r| r.0).collect();
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'message_id' FROM events
          WHERE event_type = 'room.message_posted' AND stream_id = ANY($1) AND position > $2",
    )
    .bind(&rooms)
    .bind(position)
    .fetch_all(&cfg.write_pool)
    .await
    .unwrap();
    ids.into_iter().collect()
}

/// What the watcher received.
#[derive(Clone, Default)]
struct Frames {
    /// `message_posted` frames per message id.
    posted: HashMap<String, usize>,
    /// The last frame's position (resumed from).
    last: i64,
    /// Frames at or below `last` when they arrived.
    out_of_order: usize,
    reconnects: usize,
    /// `resync_required` frames, and the messages the reloads they asked
    /// for read over HTTP (what a client shows without a frame).
    resyncs: usize,
    reloaded: HashSet<String>,
}

/// A member of the load's rooms who only reads its stream.
#[derive(Clone)]
struct Watcher {
    api: Client,
    token: String,
    /// Where it joined the last room: every later post must reach it.
    joined: i64,
    rooms: Vec<RoomId>,
    frames: Arc<Mutex<Frames>>,
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    /// Sign up, log in, and join every room of the load through invites.
    async fn join(base: &str, load: &HttpLoad, seed: u64) -> Watcher {
        let api = Client::with_http(reqwest::Client::new(), base);
        let username = format!("watch{:x}", seed & 0xffff_ffff);
        let register = RegisterRequest {
            username: username.clone(),
            display_name: "지켜보는 사람".into(),
            password: "password-1".into(),
        };
        let acked = |key: String, position: i64| {
            load.acks.lock().unwrap().push(Ack { key, position });
        };
        let key = uuid::Uuid::new_v4().to_string();
        let registered = api.key(key.clone()).register(&register).await.unwrap();
        acked(key, registered.position);
        let login = LoginRequest {
            username,
            password: "password-1".into(),
        };
        let token = api.login(&login).await.unwrap().token.clone();
        let (owner, me) = (api.auth(load.token(0)), api.auth(token.clone()));
        let mut joined = 0;
        for room in load.rooms() {
            let key = uuid::Uuid::new_v4().to_string();
            let invite = owner
                .key(key.clone())
                .create_invite(*room, &CreateInviteRequest::default())
                .await
                .unwrap();
            acked(key, invite.position);
            let key = uuid::Uuid::new_v4().to_string();
            let j = me
                .key(key.clone())
                .join_invite(&invite.token, &JoinInviteRequest::default())
                .await
                .unwrap();
            acked(key, j.position);
            joined = joined.max(j.position);
        }
        // The first connection resumes from the join too: without `after`
        // the node would start from its projection as it stands, which may
        // not show the joins yet.
        let frames = Frames {
            last: joined,
            ..Frames::default()
        };
        Watcher {
            api: me,
            token,
            joined,
            rooms: load.rooms().to_vec(),
            frames: Arc::new(Mutex::new(frames)),
            connected: Arc::default(),
            stop: Arc::default(),
        }
    }

    /// Read frames until `stop`, reconnecting from the last position.
    async fn run(self, base: String) {
        let ws_base = base.replacen("http://", "ws://", 1);
        while !self.stop.load(Ordering::SeqCst) {
            let after = self.frames.lock().unwrap().last;
            let url = if after > 0 {
                format!("{ws_base}/v1/stream?after={after}")
            } else {
                format!("{ws_base}/v1/stream")
            };
            let mut req = url.into_client_request().unwrap();
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {}", self.token).parse().unwrap(),
            );
            let Ok(Ok((mut ws, _))) = tokio::time::timeout(
                Duration::from_secs(5),
                tokio_tungstenite::connect_async(req),
            )
            .await
            else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.connected.store(true, Ordering::SeqCst);
            while !self.stop.load(Ordering::SeqCst) {
                match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                    Err(_) => continue,
                    Ok(Some(Ok(Message::Text(t)))) => {
                        if let Some((room, at)) = self.receive(&t) {
                            self.reload(room, at).await;
                        }
                    }
                    Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
                    Ok(Some(Ok(_))) => {}
                }
            }
            self.connected.store(false, Ordering::SeqCst);
            self.frames.lock().unwrap().reconnects += 1;
        }
    }

    /// Count one frame; a `resync_required` one returns what to reload.
    fn receive(&self, text: &str) -> Option<(Option<RoomId>, i64)> {
        let frame = serde_json::from_str::<Value>(text).ok()?;
        let position = frame["position"].as_i64()?;
        let mut f = self.frames.lock().unwrap();
        if frame["type"] == "resync_required" {
            f.resyncs += 1;
            f.last = f.last.max(position);
            let room = frame["room_id"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .map(RoomId);
            return Some((room, position));
        }
        if position <= f.last {
            f.out_of_order += 1;
            return None;
        }
        f.last = position;
        if frame["type"] == "message_posted" {
            if let Some(id) = frame["message_id"].as_str() {
                *f.posted.entry(id.to_owned()).or_default() += 1;
            }
        }
        None
    }

    /// What a client does on `resync_required`: read the room (every room
    /// of the load when none is named) over HTTP at `position`, newest
    /// first, page by page.
    async fn reload(&self, room: Option<RoomId>, position: i64) {
        let rooms = match room {
            Some(r) => vec![r],
            None => self.rooms.clone(),
        };
        let reader = self.api.at(position);
        for room in rooms {
            let mut before: Option<u64> = None;
            loop {
                let before_text = before.map(|b| b.to_string());
                let mut query = vec![("limit", "100")];
                if let Some(b) = &before_text {
                    query.push(("before", b.as_str()));
                }
                let Ok(page) = reader.messages(room, &query).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let mut f = self.frames.lock().unwrap();
                for m in &page.messages {
                    f.reloaded.insert(m.message_id.to_string());
                }
                before = page.messages.last().map(|m| m.seq);
                if !page.has_more || before.is_none() {
                    break;
                }
            }
        }
    }

    /// Until every id in `posted` arrived (or the catch-up deadline).
    async fn wait_for(&self, posted: &HashSet<String>) {
        let deadline = Instant::now() + CATCH_UP;
        while Instant::now() < deadline {
            let all = {
                let got = self.frames.lock().unwrap();
                posted
                    .iter()
                    .all(|m| got.posted.contains_key(m) || got.reloaded.contains(m))
            };
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Samples, every 10 ms, how many commands were acknowledged and whether
/// the watcher's socket was open.
#[derive(Clone, Default)]
struct Stalls {
    samples: Arc<Mutex<Vec<(Instant, usize, bool)>>>,
    stop: Arc<AtomicBool>,
}

impl Stalls {
    async fn sample(&self, load: &HttpLoad, watcher: &Watcher) {
        while !self.stop.load(Ordering::SeqCst) {
            let acked = load.acked();
            self.samples.lock().unwrap().push((
                Instant::now(),
                acked,
                watcher.connected.load(Ordering::SeqCst),
            ));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Within `[from, to]`: the longest stretch without a new
    /// acknowledgement, and the longest with the watcher's socket closed.
    fn longest(&self, from: Instant, to: Instant) -> (Duration, Duration) {
        let samples = self.samples.lock().unwrap();
        let window: Vec<&(Instant, usize, bool)> = samples
            .iter()
            .filter(|(t, _, _)| *t >= from && *t <= to)
            .collect();
        let (mut commands, mut stream) = (Duration::ZERO, Duration::ZERO);
        let (mut last_ack, mut closed_since): (Option<(Instant, usize)>, Option<Instant>) =
            (None, None);
        for (t, acked, open) in window {
            match last_ack {
                Some((since, n)) if n == *acked => commands = commands.max(*t - since),
                _ => last_ack = Some((*t, *acked)),
            }
            match (open, closed_since) {
                (false, None) => closed_since = Some(*t),
                (false, Some(since)) => stream = stream.max(*t - since),
                (true, _) => closed_since = None,
            }
        }
        (commands, stream)
    }
}
