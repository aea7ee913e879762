//! Fault-test support: a split deployment (command side in this process,
//! `cotalk serve --role projector` and `--role query` as child processes),
//! a bounded load, the faults, and the checks once everything has caught up.
//!
//! - [`procs`]: child processes (cotalk, private nats-server and redis-server)
//!   with kill-on-drop guards.
//! - [`load`]: the command load and the ledger of acknowledged commands.
//! - [`verify`]: digests against a fresh rebuild, exactly-once checks.
//! - [`chaos`], [`client`], [`log`]: the chaos suite (`tests/chaos.rs`): every
//!   process a child, a private Postgres restarted, a retrying HTTP load.
//! - [`standby`]: the private Postgres servers (shared with `tests/replica.rs`).

// Each test target (faults, chaos) uses a part of this support.
#![allow(dead_code)]

pub mod chaos;
pub mod client;
pub mod load;
pub mod log;
pub mod messenger_verify;
pub mod procs;
#[path = "../support/standby.rs"]
pub mod standby;
pub mod verify;

use crate::support::{self, Server};
use async_nats::jetstream;
use cotalk::config::Role;
use futures::StreamExt;
use load::Load;
use procs::{Cotalk, NatsServer, RedisServer, Scratch};
use projector::{bus, envelope, generations, source, ProjectorConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use readmodel::ProjectionName;
use readmodel::RedisKeys;
use redis::AsyncCommands;
use std::time::{Duration, Instant};

/// How long the read models may take to reach the log's head after the load.
const CATCH_UP: Duration = Duration::from_secs(60);
/// Commands each load worker sends.
const OPS_PER_WORKER: usize = 250;

/// What is done to the pipeline while the load runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` both cotalk children (relay, redis, history / search) and restart them.
    KillProjectors,
    /// `kill -9` the private nats-server and start it again on the same store.
    RestartNats,
    /// Delete the namespace's JetStream stream.
    DeleteStream,
    /// `FLUSHALL` the private Redis.
    FlushRedis,
}

/// The deployment under test.
pub struct Cluster {
    // Fields drop in this order: the children go before the databases
    // (dropped with the server's TestEnv) and the servers they use.
    pub projector: Cotalk,
    pub query: Cotalk,
    pub server: Server,
    pub cfg: ProjectorConfig,
    pub nats: Option<NatsServer>,
    pub redis: Option<RedisServer>,
    /// Logs and data of the children; dropped last, after they are killed.
    pub _scratch: Scratch,
}

impl Cluster {
    /// Start everything; NATS and Redis are private to the test when asked.
    pub async fn start(private_nats: bool, private_redis: bool) -> Cluster {
        let env = testkit::TestEnv::new().await;
        let dir = Scratch::new(&env.namespace);
        let nats = match private_nats {
            true => Some(NatsServer::start(&dir.path).await),
            false => None,
        };
        let redis = match private_redis {
            true => Some(RedisServer::start(&dir.path).await),
            false => None,
        };
        let nats_url = nats.as_ref().map_or(env.nats_url.clone(), |n| n.url());
        let redis_url = redis.as_ref().map_or(env.redis_url.clone(), |r| r.url());
        let data_dir = dir.path.join("data");
        let cfg = ProjectorConfig::new(
            &env.namespace,
            env.write_pool.clone(),
            env.read_pool.clone(),
            &redis_url,
            &nats_url,
            &data_dir,
        )
        .with_pii(eventlog::pii::Pii::new(support::MASTER_KEY.as_bytes()));
        let vars = child_env(&env, &redis_url, &nats_url, &data_dir);
        let server = support::start_with(env, Role::Command, None).await;
        let projector = Cotalk::start("projector", vars.clone(), &dir.path).await;
        let query = Cotalk::start("query", vars, &dir.path).await;
        Cluster {
            server,
            cfg,
            projector,
            query,
            nats,
            redis,
            _scratch: dir,
        }
    }
}

/// The environment of a `cotalk serve` child on `env`'s databases.
pub fn child_env(
    env: &testkit::TestEnv,
    redis_url: &str,
    nats_url: &str,
    data_dir: &std::path::Path,
) -> Vec<(String, String)> {
    let mut config = support::config(env, data_dir);
    config.redis_url = redis_url.to_owned();
    config.nats_url = nats_url.to_owned();
    let mut vars = support::child_env(&config);
    // The load signs up and logs in many users from 127.0.0.1.
    vars.push(("COTALK_RATE_EXEMPT_LOOPBACK".into(), "true".into()));
    vars
}

/// Generations in use: redis, history, search.
pub async fn generations(cfg: &ProjectorConfig) -> [i64; 3] {
    let mut out = [0; 3];
    for (i, name) in ProjectionName::ALL.iter().enumerate() {
        out[i] = generations::current(cfg, *name).await.unwrap();
    }
    out
}

/// The redis projection's stored checkpoint (0 when absent).
pub async fn redis_checkpoint(cfg: &ProjectorConfig, generation: i64) -> i64 {
    let Ok(target) = readmodel::RedisTarget::open(&cfg.redis_url) else {
        return 0;
    };
    let timeouts = readmodel::Timeouts::new(Duration::from_secs(2), Duration::from_secs(2));
    let Ok(mut c) = target.connect(timeouts).await else {
        return 0;
    };
    let key = RedisKeys::new(&cfg.namespace, generation).checkpoint();
    c.get::<_, Option<i64>>(key)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// `COTALK_FAULT_SEED`, or a new seed.
pub fn seed() -> u64 {
    std::env::var("COTALK_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Run the load, inject `fault` `times` times at random points of it, wait
/// for the pipeline to catch up, and check every read model.
pub async fn scenario(fault: Fault, times: usize) {
    let seed = seed();
    eprintln!("fault scenario {fault:?} x{times}: COTALK_FAULT_SEED={seed}");
    let mut cl = Cluster::start(fault == Fault::RestartNats, fault == Fault::FlushRedis).await;
    let Cluster {
        server,
        cfg,
        projector,
        query,
        nats,
        ..
    } = &mut cl;
    let load = Load::setup(server, seed, OPS_PER_WORKER).await;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let (base, planned) = (load.acked(), load.planned());
    // Spread over the middle of the load, so events keep coming after each.
    let mut at: Vec<usize> = (0..times)
        .map(|_| base + rng.gen_range(planned / 10..planned * 8 / 10))
        .collect();
    at.sort_unstable();
    let injector = async {
        let mut resumed_at = 0;
        for (i, threshold) in at.iter().enumerate() {
            while load.acked() < *threshold {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            match fault {
                Fault::KillProjectors => {
                    // Kill it while it is applying, not while it starts up.
                    let done = || load.acked() >= base + planned;
                    wait_past(cfg, resumed_at, done).await;
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..30))).await;
                    projector.kill9_and_restart().await;
                    query.kill9_and_restart().await;
                    resumed_at = redis_checkpoint(cfg, 1).await;
                }
                Fault::RestartNats => {
                    let down = Duration::from_millis(rng.gen_range(50..800));
                    nats.as_mut().unwrap().restart(down).await;
                }
                Fault::DeleteStream => delete_stream(cfg).await,
                Fault::FlushRedis => flushall(cfg).await,
            }
            eprintln!("fault {i} ({fault:?}) injected after {threshold} acknowledgements");
        }
    };
    tokio::join!(load.run(), injector);
    let ledger = load.ledger.into_inner().unwrap();

    // The scheduler (in the projector child) appends the owed reminders;
    // once they are all in, the log stops moving.
    let reminders = reminders_fired(&cl.cfg, ledger.reminders_owed).await;
    assert_eq!(
        reminders.fired as usize, ledger.reminders_owed,
        "reminders fired once each"
    );
    let head = source::head(&cl.cfg.write_pool).await.unwrap();
    assert_eq!(
        head,
        reminders.last_position.max(ledger.max_position),
        "log head vs last acknowledged position (or reminder)"
    );
    let live = generations(&cl.cfg).await;
    wait_caught_up(&cl.cfg, &mut cl.projector, &mut cl.query, live, head).await;
    if fault == Fault::FlushRedis {
        // Once more with nothing new coming: an idle projection must notice too.
        flushall(&cl.cfg).await;
        eprintln!("fault ({fault:?}) injected while idle");
        let live = generations(&cl.cfg).await;
        wait_caught_up(&cl.cfg, &mut cl.projector, &mut cl.query, live, head).await;
    }
    cl.query.terminate().await;
    cl.projector.terminate().await;
    assert_stream_holds_the_log_once(&cl.cfg).await;
    let docs = verify::assert_equal_to_rebuild(&cl.cfg, live, head).await;
    verify::assert_history_exact(&cl.cfg, live[1], &ledger).await;
    messenger_verify::assert_history_attachments(&cl.cfg, live[1], &ledger).await;
    verify::assert_redis_exact(&cl.cfg, live[0], &ledger).await;
    verify::assert_search_exact(docs, &ledger);
    cleanup(&cl, live[0]).await;
}

/// The log's reminders once it holds `owed` of them (or after 60 s: a
/// missing one fails the caller's check, and so does one more than owed).
pub async fn reminders_fired(cfg: &ProjectorConfig, owed: usize) -> log::Reminders {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = log::reminders(&cfg.write_pool).await;
        if seen.fired >= owed as i64 || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wait until the redis projection has applied something beyond `cp` (or
/// the load is over, when there may be nothing more to apply).
async fn wait_past(cfg: &ProjectorConfig, cp: i64, load_done: impl Fn() -> bool) {
    let deadline = Instant::now() + CATCH_UP;
    while redis_checkpoint(cfg, 1).await <= cp && !load_done() {
        assert!(
            Instant::now() < deadline,
            "the restarted projector applied nothing past {cp} in {CATCH_UP:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn flushall(cfg: &ProjectorConfig) {
    let client = redis::Client::open(cfg.redis_url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHALL")
        .exec_async(&mut c)
        .await
        .expect("FLUSHALL");
}

async fn delete_stream(cfg: &ProjectorConfig) {
    let nats = async_nats::connect(readmodel::subjects::servers(&cfg.nats_url));
    let js = jetstream::new(nats.await.unwrap());
    let deadline = Instant::now() + CATCH_UP;
    while bus::stream_info(&js, &cfg.namespace)
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the relay never created the stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    js.delete_stream(bus::stream_name(&cfg.namespace))
        .await
        .expect("delete the stream");
}

/// Where the relay and the shared projections stand: relay, `redis` at
/// generation `live[0]`, `history` at `live[1]` (-1 for one unreadable now).
pub async fn shared_positions(cfg: &ProjectorConfig, live: [i64; 2]) -> [i64; 3] {
    let relay = projector::relay::load_checkpoint(&cfg.write_pool, &cfg.namespace)
        .await
        .unwrap_or(-1);
    let redis = redis_checkpoint(cfg, live[0]).await;
    let history =
        projector::history_projection::checkpoint(&cfg.read_pool, ProjectionName::History, live[1])
            .await
            .unwrap_or(-1);
    [relay, redis, history]
}

/// Wait (bounded) until the relay and every projection stand at `head`;
/// `projector` runs the relay, redis and history, `query` runs search.
pub async fn wait_caught_up(
    cfg: &ProjectorConfig,
    projector: &mut Cotalk,
    query: &mut Cotalk,
    live: [i64; 3],
    head: i64,
) {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        projector.assert_running();
        query.assert_running();
        let [relay, redis, history] = shared_positions(cfg, [live[0], live[1]]).await;
        let search = query
            .gauge(
                "cotalk_projection_position",
                &format!("projection=\"{}\"", ProjectionName::Search),
            )
            .await
            .map_or(-1, |v| v as i64);
        let at = [relay, redis, history, search];
        if at.iter().all(|p| *p >= head) {
            assert_eq!(at, [head; 4], "positions past the head of the log");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not caught up with head {head} after {CATCH_UP:?}: \
             relay {relay}, redis {redis}, history {history}, search {search}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stream holds every event of the log exactly once, in log order.
pub async fn assert_stream_holds_the_log_once(cfg: &ProjectorConfig) {
    let log: Vec<i64> = source::read_after(&cfg.write_pool, 0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    let js = jetstream::new(
        async_nats::connect(readmodel::subjects::servers(&cfg.nats_url))
            .await
            .unwrap(),
    );
    let stream = js
        .get_stream(bus::stream_name(&cfg.namespace))
        .await
        .unwrap();
    // A message carries a run of consecutive events.
    let held = stream.cached_info().state.messages as usize;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::with_capacity(log.len());
    for _ in 0..held {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("stream message within 10 s")
            .expect("consumer open")
            .expect("message");
        for e in envelope::decode_all(&m.payload).unwrap() {
            got.push(e.unwrap().position);
        }
    }
    assert_eq!(got, log, "stream order vs log order");
}

/// Remove what the test left in the shared Redis and NATS.
async fn cleanup(cl: &Cluster, redis_generation: i64) {
    cleanup_shared(
        &cl.cfg,
        cl.redis.is_none(),
        cl.nats.is_none(),
        redis_generation,
    )
    .await;
}

/// Remove what a test left in Redis (when `redis`) and NATS (when `nats`):
/// the live and the rebuilt generation, the pointer, the stream.
pub async fn cleanup_shared(cfg: &ProjectorConfig, redis: bool, nats: bool, redis_generation: i64) {
    if redis {
        for g in [redis_generation, verify::FRESH] {
            let _ = projector::redis_projection::drop_generation(&cfg.redis_url, &cfg.namespace, g)
                .await;
        }
        if let Ok(client) = redis::Client::open(cfg.redis_url.as_str()) {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                let _: Result<(), _> = c.del(RedisKeys::generation_pointer(&cfg.namespace)).await;
            }
        }
    }
    if nats {
        if let Ok(client) = async_nats::connect(readmodel::subjects::servers(&cfg.nats_url)).await {
            let _ = jetstream::new(client)
                .delete_stream(bus::stream_name(&cfg.namespace))
                .await;
        }
    }
}
