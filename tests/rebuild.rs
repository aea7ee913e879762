//! Rebuilds from the log (`cotalk projections replay`): a shadow rebuild of
//! every projection while writes and queries keep flowing, a rebuild that
//! leaves the other projections alone, bulk application equal to applying
//! event by event, and a replay killed with SIGKILL that resumes while a
//! second concurrent one is refused.

mod support;

use contract::commands::{CreateRoomRequest, EditMessageRequest, PostMessageRequest};
use cotalk::bench::eventlog;
use projector::digest::{history_digest, redis_digest};
use projector::rebuild::{self, OldGeneration, RebuildOptions};
use projector::{
    generations, source, HistoryProjection, Projection, ProjectorConfig, RedisProjection,
};
use readmodel::ProjectionName;
use reqwest::Method;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::client::ClientError;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(120);
const ALL: [ProjectionName; 3] = ProjectionName::ALL;

/// Show a rebuild's steps in the test's output.
fn note(e: rebuild::RebuildEvent) {
    if let rebuild::RebuildEvent::Note(n) = e {
        eprintln!("{n}");
    }
}

fn projector_config(env: &testkit::TestEnv, data_dir: &Path) -> ProjectorConfig {
    ProjectorConfig::new(
        &env.namespace,
        env.write_pool.clone(),
        env.read_pool.clone(),
        &env.redis_url,
        &env.nats_url,
        data_dir,
    )
}

fn data_dir(env: &testkit::TestEnv) -> PathBuf {
    std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace))
}

/// Digest of a search index generation, once no writer holds it.
async fn search_digest(cfg: &ProjectorConfig, g: i64) -> String {
    let started = Instant::now();
    loop {
        match projector::SearchProjection::open(cfg, g).await {
            Ok(mut p) => return p.digest().await.expect("search digest"),
            Err(e) => {
                assert!(
                    started.elapsed() < DEADLINE,
                    "search g{g} stays locked: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Redis keys, table and index directory of generation `g` are all gone.
async fn assert_gone(cfg: &ProjectorConfig, g: i64) {
    let empty = redis_digest(&cfg.redis_url, &cfg.namespace, 999_999)
        .await
        .unwrap();
    assert_eq!(
        redis_digest(&cfg.redis_url, &cfg.namespace, g)
            .await
            .unwrap(),
        empty,
        "redis g{g} left"
    );
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("messages_g{g}"))
        .fetch_one(&cfg.read_pool)
        .await
        .unwrap();
    assert!(table.is_none(), "messages_g{g} left");
    let dir = projector::search_projection::index_dir(&cfg.data_dir, &cfg.namespace, g);
    assert!(!dir.exists(), "{} left", dir.display());
}

/// One client reading a route over and over: every answer must be 200 and
/// `X-Position` must never go back.
fn reader(
    s: &support::Server,
    user: &support::User,
    path: String,
    from: i64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Vec<String>)> {
    let client = s.as_user(user).at(from);
    tokio::spawn(async move {
        let (mut reads, mut problems, mut last) = (0u64, Vec::new(), 0i64);
        while !stop.load(Ordering::Relaxed) {
            // Under the search limit of 20 requests per second and user.
            tokio::time::sleep(Duration::from_millis(60)).await;
            // Wait for the room to exist, then read whatever is there.
            // Any query route: only the status and `X-Position` matter here.
            match client.raw(Method::GET, &path).send().await {
                Ok(r) if r.status.is_success() => {
                    let p = r.position().unwrap_or(-1);
                    if p < last {
                        problems.push(format!("{path}: X-Position went back from {last} to {p}"));
                    }
                    last = last.max(p);
                    reads += 1;
                }
                Ok(r) => problems.push(format!("{path}: {} {}", r.status, r.text())),
                Err(e) => problems.push(format!("{path}: {e}")),
            }
        }
        (reads, problems)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shadow_rebuild_under_writes_and_reads_equals_the_live_projections() {
    let s = support::start().await;
    let cfg = projector_config(&s.env, &s.config.data_dir);
    // A witness: every projection also built live (bus and log, batch by
    // batch) into generation 99, which no switch touches.
    let witness = CancellationToken::new();
    let mut witnesses = Vec::new();
    for name in ALL {
        witnesses.push(
            projector::spawn_generation(&cfg, name, 99, witness.clone())
                .await
                .unwrap(),
        );
    }
    eventlog::generate(&s.env.write_pool, 4_000, 7, |_| {})
        .await
        .unwrap();
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let created = s
        .as_user(&minsu)
        .create_room(&CreateRoomRequest {
            name: "재구축".into(),
            members: vec![bora.id],
        })
        .await
        .expect("create a room");
    let (room, from) = (created.room_id, created.position);

    let stop_writes = Arc::new(AtomicBool::new(false));
    let posts = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, posts) = (stop_writes.clone(), posts.clone());
        let users = [s.as_user(&minsu), s.as_user(&bora)];
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let user = &users[(i % 2) as usize];
                let post = PostMessageRequest::text(format!("회의 {i} 자료"));
                // A refusal (a rate limit, say) is no failure of this test;
                // no answer at all is.
                let id = match user.post_message(room, &post).await {
                    Ok(posted) => Some(posted.message_id),
                    Err(e @ ClientError::Transport { .. }) => panic!("post: {e}"),
                    Err(_) => None,
                };
                if let Some(id) = id {
                    if i % 7 == 3 {
                        let edit = EditMessageRequest {
                            body: "고친 회의 자료".into(),
                        };
                        let _ = user.edit_message(room, id, &edit).await;
                    } else if i % 11 == 5 {
                        let _ = user.delete_message(room, id).await;
                    }
                }
                posts.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let stop_reads = Arc::new(AtomicBool::new(false));
    let readers = vec![
        reader(
            &s,
            &bora,
            format!("/v1/rooms/{room}/messages"),
            from,
            stop_reads.clone(),
        ),
        reader(&s, &bora, "/v1/me/rooms".into(), from, stop_reads.clone()),
        reader(
            &s,
            &minsu,
            "/v1/search/messages?q=%ED%9A%8C%EC%9D%98".into(),
            from,
            stop_reads.clone(),
        ),
    ];
    while posts.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let opts = RebuildOptions {
        shadow: true,
        page: 1_000,
        handover_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let outcomes = tokio::time::timeout(
        DEADLINE,
        rebuild::rebuild(&cfg, &ALL, &opts, note, CancellationToken::new()),
    )
    .await
    .expect("rebuild in time")
    .expect("rebuild");
    for o in &outcomes {
        assert_eq!((o.previous, o.generation), (1, 2), "{o:?}");
        assert_eq!(
            o.old_generation,
            OldGeneration::RemovedByProjector,
            "{}: the live projector took over",
            o.name
        );
    }
    // Writes go on into generation 2, now written by the live projectors.
    let after = posts.load(Ordering::Relaxed);
    while posts.load(Ordering::Relaxed) < after + 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_writes.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let head = source::head(&s.env.write_pool).await.unwrap();
    for name in [ProjectionName::Redis, ProjectionName::History] {
        support::caught_up(&cfg, name, 2, head).await;
        support::caught_up(&cfg, name, 99, head).await;
    }
    support::caught_up(&cfg, ProjectionName::Search, 2, head).await;
    support::caught_up(&cfg, ProjectionName::Search, 99, head).await;
    stop_reads.store(true, Ordering::Relaxed);
    for r in readers {
        let (reads, problems) = r.await.unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(reads > 0);
    }
    for name in ALL {
        assert_eq!(generations::current(&cfg, name).await.unwrap(), 2);
    }
    assert_eq!(
        redis_digest(&cfg.redis_url, &cfg.namespace, 2)
            .await
            .unwrap(),
        redis_digest(&cfg.redis_url, &cfg.namespace, 99)
            .await
            .unwrap()
    );
    assert_eq!(
        history_digest(&cfg.read_pool, 2).await.unwrap(),
        history_digest(&cfg.read_pool, 99).await.unwrap()
    );
    assert_gone(&cfg, 1).await;
    // The search indexes can be opened for a digest once nothing writes them.
    s.cancel.cancel();
    witness.cancel();
    for w in witnesses {
        let _ = w.task.await;
    }
    assert_eq!(search_digest(&cfg, 2).await, search_digest(&cfg, 99).await);
    for g in [2, 99] {
        generations::drop_generation(&cfg, ProjectionName::Redis, g)
            .await
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&cfg.data_dir);
}

#[tokio::test]
async fn rebuilding_one_projection_leaves_the_others_untouched() {
    let env = testkit::TestEnv::new().await;
    let dir = data_dir(&env);
    let cfg = projector_config(&env, &dir);
    eventlog::generate(&env.write_pool, 3_000, 11, |_| {})
        .await
        .unwrap();
    let opts = RebuildOptions {
        handover_timeout: Duration::ZERO,
        ..Default::default()
    };
    rebuild::rebuild(&cfg, &ALL, &opts, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    let redis_before = redis_digest(&cfg.redis_url, &cfg.namespace, 2)
        .await
        .unwrap();
    let history_before = history_digest(&cfg.read_pool, 2).await.unwrap();
    let search_before = search_digest(&cfg, 2).await;
    let checkpoints = |cfg: ProjectorConfig| async move {
        let mut out = Vec::new();
        for name in ALL {
            out.push(generations::checkpoint_of(&cfg, name, 2).await.unwrap());
        }
        out
    };
    let cps_before = checkpoints(cfg.clone()).await;

    let outcomes = rebuild::rebuild(
        &cfg,
        &[ProjectionName::History],
        &opts,
        |_| {},
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!((outcomes[0].previous, outcomes[0].generation), (2, 3));
    assert_eq!(
        generations::current(&cfg, ProjectionName::History)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        generations::current(&cfg, ProjectionName::Redis)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        generations::current(&cfg, ProjectionName::Search)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        history_digest(&cfg.read_pool, 3).await.unwrap(),
        history_before
    );
    assert_eq!(
        redis_digest(&cfg.redis_url, &cfg.namespace, 2)
            .await
            .unwrap(),
        redis_before
    );
    assert_eq!(search_digest(&cfg, 2).await, search_before);
    let cps_after = checkpoints(cfg.clone()).await;
    assert_eq!((cps_after[0], cps_after[2]), (cps_before[0], cps_before[2]));
    assert_eq!(cps_after[1], None, "history g2 removed");
    generations::drop_generation(&cfg, ProjectionName::Redis, 2)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bulk_application_equals_applying_event_by_event() {
    let env = testkit::TestEnv::new().await;
    let dir = data_dir(&env);
    let cfg = projector_config(&env, &dir);
    // Busy rooms get more posts than a timeline or a frame window holds.
    eventlog::generate(&env.write_pool, 1_500, 5, |_| {})
        .await
        .unwrap();
    let events = source::read_after(&env.write_pool, 0, 10_000)
        .await
        .unwrap();
    let mut redis = RedisProjection::new(&env.redis_url, &env.namespace, 50).unwrap();
    let mut history = HistoryProjection::open(env.read_pool.clone(), 50)
        .await
        .unwrap();
    for e in &events {
        redis.apply_batch(std::slice::from_ref(e)).await.unwrap();
        history.apply_batch(std::slice::from_ref(e)).await.unwrap();
    }
    let opts = RebuildOptions {
        // Many small pipelined batches, each starting from the state the
        // one before left (see `redis_projection::bulk`).
        page: 400,
        apply: rebuild::ApplyPlan {
            redis_chunk: 150,
            history_chunk: 150,
            ..Default::default()
        },
        handover_timeout: Duration::ZERO,
        ..Default::default()
    };
    rebuild::rebuild(
        &cfg,
        &[ProjectionName::Redis, ProjectionName::History],
        &opts,
        |_| {},
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        redis_digest(&cfg.redis_url, &cfg.namespace, 2)
            .await
            .unwrap(),
        redis_digest(&cfg.redis_url, &cfg.namespace, 50)
            .await
            .unwrap()
    );
    assert_eq!(
        history_digest(&cfg.read_pool, 2).await.unwrap(),
        history_digest(&cfg.read_pool, 50).await.unwrap()
    );
    for g in [2, 50] {
        generations::drop_generation(&cfg, ProjectionName::Redis, g)
            .await
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cotalk projections replay ARGS` against the test's databases.
fn replay_command(env: &testkit::TestEnv, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cotalk"));
    cmd.args(["projections", "replay"])
        .args(args)
        .env("COTALK_DATABASE_URL", &env.database_url)
        .env("COTALK_READ_DATABASE_URL", &env.read_database_url)
        .env("COTALK_REDIS_URL", &env.redis_url)
        .env("COTALK_NATS_URL", &env.nats_url)
        .env("COTALK_NAMESPACE", &env.namespace)
        .env("COTALK_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .env_remove("COTALK_READ_REPLICA_URL")
        .stdin(Stdio::null());
    cmd
}

#[tokio::test]
async fn a_killed_replay_resumes_and_a_concurrent_one_is_refused() {
    let env = testkit::TestEnv::new().await;
    let dir = data_dir(&env);
    let cfg = projector_config(&env, &dir);
    let head = eventlog::generate(&env.write_pool, 20_000, 3, |_| {})
        .await
        .unwrap()
        .head;

    // Small pages: progress (and checkpoints) early, and a replay that takes a while.
    let mut first = replay_command(
        &env,
        &dir,
        &[
            "all",
            "--handover-timeout",
            "0",
            "--page",
            "500",
            "--search-threads",
            "1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let pid = first.id();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let progress = tokio::task::spawn_blocking(move || {
        for line in lines.by_ref() {
            let line = line.unwrap_or_default();
            if line.starts_with("progress ") {
                return (line, lines);
            }
        }
        panic!("the replay printed no progress line");
    });
    let (line, lines) = tokio::time::timeout(DEADLINE, progress)
        .await
        .expect("progress in time")
        .unwrap();
    assert!(line.contains("events/s"), "{line}");

    // A second replay of a projection the first one holds is refused.
    let second = replay_command(&env, &dir, &["redis"]).output().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("a replay of redis is already running (pid={pid} ")),
        "{stderr}"
    );

    // SIGKILL mid-way: nothing is flushed, nothing is cleaned up.
    first.kill().unwrap();
    first.wait().unwrap();
    drop(lines);
    let mut shadow = Vec::new();
    for name in ALL {
        let record = rebuild::record::load(&cfg.read_pool, &cfg.namespace, name)
            .await
            .unwrap();
        let record =
            record.unwrap_or_else(|| panic!("{name}: the rebuild record survives the kill"));
        assert_eq!((record.previous, record.generation), (1, 2));
        shadow.push(
            generations::checkpoint_of(&cfg, name, 2)
                .await
                .unwrap()
                .unwrap_or(0),
        );
    }
    assert!(
        shadow.iter().any(|cp| *cp < head),
        "killed after it finished: {shadow:?} of {head}"
    );
    assert!(
        shadow.iter().any(|cp| *cp > 0),
        "killed before any checkpoint: {shadow:?}"
    );

    // Run again: it resumes generation 2 from its checkpoints and finishes.
    let again = tokio::task::spawn_blocking({
        let mut cmd = replay_command(&env, &dir, &["all", "--handover-timeout", "0", "--json"]);
        move || cmd.stderr(Stdio::null()).output().unwrap()
    });
    let again = tokio::time::timeout(DEADLINE, again)
        .await
        .expect("resumed replay in time")
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let outcomes: Vec<Value> = serde_json::from_slice(&again.stdout).unwrap();
    for (o, cp) in outcomes.iter().zip(&shadow) {
        assert_eq!(o["generation"], 2, "{o}");
        assert_eq!(o["resumed_from"].as_i64().unwrap(), *cp, "{o}");
        assert_eq!(o["checkpoint"].as_i64().unwrap(), head, "{o}");
    }
    for name in ALL {
        assert!(rebuild::record::load(&cfg.read_pool, &cfg.namespace, name)
            .await
            .unwrap()
            .is_none());
        assert_eq!(generations::current(&cfg, name).await.unwrap(), 2);
    }
    // Equal to one straight rebuild of the same log.
    let opts = RebuildOptions {
        handover_timeout: Duration::ZERO,
        ..Default::default()
    };
    let redis2 = redis_digest(&cfg.redis_url, &cfg.namespace, 2)
        .await
        .unwrap();
    let history2 = history_digest(&cfg.read_pool, 2).await.unwrap();
    let search2 = search_digest(&cfg, 2).await;
    rebuild::rebuild(&cfg, &ALL, &opts, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        redis_digest(&cfg.redis_url, &cfg.namespace, 3)
            .await
            .unwrap(),
        redis2
    );
    assert_eq!(history_digest(&cfg.read_pool, 3).await.unwrap(), history2);
    assert_eq!(search_digest(&cfg, 3).await, search2);
    generations::drop_generation(&cfg, ProjectionName::Redis, 3)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
