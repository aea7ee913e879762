//! The whole pipeline against real servers: log → relay → JetStream →
//! runtime → projections, including a deleted stream and a bus that lost
//! events.

mod common;

use async_nats::jetstream;
use common::{append, burn_position, Cast};
use domain::event::DomainEvent;
use futures::StreamExt;
use projector::digest::{history_digest, redis_digest};
use projector::{bus, envelope, replay, source, Projection, ProjectorConfig, TaskHandle};
use projector::{HistoryProjection, RedisProjection, SearchProjection};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(60);

fn config(env: &testkit::TestEnv) -> ProjectorConfig {
    let mut c = ProjectorConfig::new(
        &env.namespace,
        env.write_pool.clone(),
        env.read_pool.clone(),
        &env.redis_url,
        &env.nats_url,
        std::env::temp_dir().join(format!("cotalk-{}", env.namespace)),
    );
    c.relay.health_interval = Duration::from_millis(200);
    c
}

async fn wait_for(rx: &mut watch::Receiver<i64>, target: i64, what: &str) {
    let reached = tokio::time::timeout(DEADLINE, rx.wait_for(|p| *p >= target))
        .await
        .map(|r| r.is_ok());
    assert!(
        matches!(reached, Ok(true)),
        "{what} did not reach {target} (at {})",
        *rx.borrow()
    );
}

async fn stop(cancel: CancellationToken, handles: Vec<TaskHandle>) {
    cancel.cancel();
    for h in handles {
        tokio::time::timeout(DEADLINE, h.task)
            .await
            .expect("task stops")
            .unwrap();
    }
}

async fn js(env: &testkit::TestEnv) -> jetstream::Context {
    jetstream::new(async_nats::connect(&env.nats_url).await.unwrap())
}

/// Every position in the stream, in stream order (read by a throwaway consumer).
async fn stream_positions(env: &testkit::TestEnv) -> Vec<i64> {
    let js = js(env).await;
    let stream = js
        .get_stream(bus::stream_name(&env.namespace))
        .await
        .unwrap();
    let total = stream.cached_info().state.messages as usize;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut messages = consumer.messages().await.unwrap();
    while out.len() < total {
        let m = tokio::time::timeout(DEADLINE, messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        out.push(envelope::decode(&m.payload).unwrap().position);
    }
    out
}

async fn log_positions(env: &testkit::TestEnv) -> Vec<i64> {
    source::read_after(&env.write_pool, 0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect()
}

async fn wait_stream_exists(env: &testkit::TestEnv) {
    let js = js(env).await;
    tokio::time::timeout(DEADLINE, async {
        while bus::stream_info(&js, &env.namespace)
            .await
            .unwrap()
            .is_none()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("stream recreated");
}

/// A fresh generation rebuilt from the log must equal the live one.
async fn assert_equals_rebuild(env: &testkit::TestEnv, live: i64, fresh: i64) {
    let cancel = CancellationToken::new();
    let mut r = RedisProjection::new(&env.redis_url, &env.namespace, fresh).unwrap();
    replay::catch_up(&mut r, &env.write_pool, 1000, &cancel, |_| {})
        .await
        .unwrap();
    let mut h = HistoryProjection::open(env.read_pool.clone(), fresh)
        .await
        .unwrap();
    replay::catch_up(&mut h, &env.write_pool, 1000, &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(
        redis_digest(&env.redis_url, &env.namespace, live)
            .await
            .unwrap(),
        redis_digest(&env.redis_url, &env.namespace, fresh)
            .await
            .unwrap(),
        "redis generation {live} differs from a rebuild"
    );
    assert_eq!(
        history_digest(&env.read_pool, live).await.unwrap(),
        history_digest(&env.read_pool, fresh).await.unwrap(),
        "history generation {live} differs from a rebuild"
    );
}

/// The live search generation equals one rebuilt from the log.
async fn assert_search_equals_rebuild(cfg: &ProjectorConfig, live: i64, fresh: i64) {
    let cancel = CancellationToken::new();
    let mut rebuilt = SearchProjection::open(cfg, fresh).await.unwrap();
    replay::catch_up(&mut rebuilt, &cfg.write_pool, 1000, &cancel, |_| {})
        .await
        .unwrap();
    let mut live = SearchProjection::open(cfg, live).await.unwrap();
    assert_eq!(
        live.digest().await.unwrap(),
        rebuilt.digest().await.unwrap()
    );
    drop((live, rebuilt));
    let _ = std::fs::remove_dir_all(&cfg.data_dir);
}

async fn cleanup(env: &testkit::TestEnv, generations: &[i64]) {
    for g in generations {
        projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, *g)
            .await
            .unwrap();
    }
    let _ = js(env)
        .await
        .delete_stream(bus::stream_name(&env.namespace))
        .await;
}

fn thirds(events: Vec<DomainEvent>) -> [Vec<DomainEvent>; 3] {
    let n = events.len() / 3;
    let mut it = events.into_iter();
    let a = it.by_ref().take(n).collect();
    let b = it.by_ref().take(n).collect();
    [a, b, it.collect()]
}

#[tokio::test]
async fn relay_publishes_every_event_once_in_order_and_recreates_a_lost_stream() {
    let env = testkit::TestEnv::new().await;
    let cfg = config(&env);
    let [one, two, three] = thirds(Cast::new().conversation());
    append(&env.write_pool, &one).await;
    burn_position(&env.write_pool).await;
    let head = append(&env.write_pool, &two).await;

    let cancel = CancellationToken::new();
    let mut relay = projector::spawn_relay(&cfg, cancel.clone()).await.unwrap();
    wait_for(&mut relay.position, head, "relay").await;
    assert_eq!(stream_positions(&env).await, log_positions(&env).await);

    // A restarted relay resumes at its checkpoint: nothing twice.
    stop(cancel, vec![relay]).await;
    let cancel = CancellationToken::new();
    let mut relay = projector::spawn_relay(&cfg, cancel.clone()).await.unwrap();
    let head = append(&env.write_pool, &three[..2]).await;
    wait_for(&mut relay.position, head, "restarted relay").await;
    assert_eq!(stream_positions(&env).await, log_positions(&env).await);

    // The stream disappears: the relay recreates it and republishes.
    js(&env)
        .await
        .delete_stream(bus::stream_name(&env.namespace))
        .await
        .unwrap();
    wait_stream_exists(&env).await;
    let head = append(&env.write_pool, &three[2..]).await;
    wait_for(&mut relay.position, head, "relay after stream loss").await;
    assert_eq!(stream_positions(&env).await, log_positions(&env).await);

    stop(cancel, vec![relay]).await;
    cleanup(&env, &[]).await;
}

#[tokio::test]
async fn projections_converge_through_nats_and_survive_a_deleted_stream() {
    let env = testkit::TestEnv::new().await;
    let mut cfg = config(&env);
    // Stay on the bus path: the log fall-backs are tested on their own.
    cfg.runtime.catchup_threshold = 1_000_000;
    cfg.runtime.pg_poll = Duration::from_secs(3600);
    let [one, two, three] = thirds(Cast::new().conversation());

    let cancel = CancellationToken::new();
    let relay = projector::spawn_relay(&cfg, cancel.clone()).await.unwrap();
    wait_stream_exists(&env).await;
    let mut redis = projector::spawn_generation(&cfg, "redis", 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, "history", 1, cancel.clone())
        .await
        .unwrap();
    let mut search = projector::spawn_generation(&cfg, "search", 1, cancel.clone())
        .await
        .unwrap();
    assert!(search.searcher.borrow().is_some());
    // Let the consumers exist before the first events (they start at the stream's end).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let head = append(&env.write_pool, &one).await;
    wait_for(&mut redis.position, head, "redis").await;
    wait_for(&mut history.position, head, "history").await;

    js(&env)
        .await
        .delete_stream(bus::stream_name(&env.namespace))
        .await
        .unwrap();
    // Holes left by rolled-back appends are not missing events.
    burn_position(&env.write_pool).await;
    append(&env.write_pool, &two).await;
    burn_position(&env.write_pool).await;
    let head = append(&env.write_pool, &three).await;
    wait_for(&mut redis.position, head, "redis after stream loss").await;
    wait_for(&mut history.position, head, "history after stream loss").await;
    wait_for(&mut search.position, head, "search after stream loss").await;

    stop(cancel, vec![relay, redis, history, search]).await;
    assert_equals_rebuild(&env, 1, 2).await;
    assert_search_equals_rebuild(&cfg, 1, 2).await;
    cleanup(&env, &[1, 2]).await;
}

#[tokio::test]
async fn projection_reads_the_log_when_the_bus_lost_events() {
    let env = testkit::TestEnv::new().await;
    let mut cfg = config(&env);
    // The relay never republishes: whatever the stream lost stays lost.
    cfg.relay.republish_window = Some(0);
    cfg.runtime.catchup_threshold = 1_000_000;
    cfg.runtime.pg_poll = Duration::from_millis(200);
    let [one, two, three] = thirds(Cast::new().conversation());

    let relay_cancel = CancellationToken::new();
    let mut relay = projector::spawn_relay(&cfg, relay_cancel.clone())
        .await
        .unwrap();
    let head = append(&env.write_pool, &one).await;
    wait_for(&mut relay.position, head, "relay").await;

    let cancel = CancellationToken::new();
    let mut redis = projector::spawn_generation(&cfg, "redis", 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, "history", 1, cancel.clone())
        .await
        .unwrap();
    wait_for(&mut redis.position, head, "redis").await;
    wait_for(&mut history.position, head, "history").await;
    stop(cancel, vec![redis, history]).await;

    // While the projections are down: events are relayed, then the stream is lost.
    let lost = append(&env.write_pool, &two).await;
    wait_for(&mut relay.position, lost, "relay").await;
    js(&env)
        .await
        .delete_stream(bus::stream_name(&env.namespace))
        .await
        .unwrap();
    wait_stream_exists(&env).await;
    let head = append(&env.write_pool, &three).await;
    wait_for(&mut relay.position, head, "relay").await;
    assert!(stream_positions(&env).await.iter().all(|p| *p > lost));

    let cancel = CancellationToken::new();
    let mut redis = projector::spawn_generation(&cfg, "redis", 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, "history", 1, cancel.clone())
        .await
        .unwrap();
    wait_for(&mut redis.position, head, "redis after the loss").await;
    wait_for(&mut history.position, head, "history after the loss").await;
    stop(cancel, vec![redis, history]).await;
    stop(relay_cancel, vec![relay]).await;
    assert_equals_rebuild(&env, 1, 2).await;
    cleanup(&env, &[1, 2]).await;
}

#[tokio::test]
async fn far_behind_projection_reads_the_log_without_any_bus() {
    let env = testkit::TestEnv::new().await;
    let mut cfg = config(&env);
    cfg.runtime.catchup_threshold = 10;
    cfg.runtime.catchup_page = 7;
    let mut cast = Cast::new();
    let head = append(&env.write_pool, &cast.busy_room(60)).await;
    // No relay and no stream at all.
    let cancel = CancellationToken::new();
    let mut redis = projector::spawn_generation(&cfg, "redis", 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, "history", 1, cancel.clone())
        .await
        .unwrap();
    wait_for(&mut redis.position, head, "redis").await;
    wait_for(&mut history.position, head, "history").await;
    // A few more, below the catch-up threshold: found by polling the log.
    let head = append(
        &env.write_pool,
        &[cast.read(cast.group, cast.alice, 3, 5000)],
    )
    .await;
    wait_for(&mut redis.position, head, "redis").await;
    stop(cancel, vec![redis, history]).await;
    assert_equals_rebuild(&env, 1, 2).await;
    cleanup(&env, &[1, 2]).await;
}

#[tokio::test]
async fn running_projections_follow_a_generation_switch_and_drop_the_old_one() {
    let env = testkit::TestEnv::new().await;
    let cfg = config(&env);
    let [one, two, three] = thirds(Cast::new().conversation());
    let cancel = CancellationToken::new();
    let relay = projector::spawn_relay(&cfg, cancel.clone()).await.unwrap();
    let mut redis = projector::spawn_projection(&cfg, "redis", cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_projection(&cfg, "history", cancel.clone())
        .await
        .unwrap();
    assert_eq!((redis.generation, history.generation), (1, 1));
    let head = append(&env.write_pool, &one).await;
    wait_for(&mut redis.position, head, "redis").await;
    wait_for(&mut history.position, head, "history").await;

    // A shadow rebuild: generation 2 from the log while 1 serves, then the switch.
    let replay_cancel = CancellationToken::new();
    let mut r2 = RedisProjection::new(&env.redis_url, &env.namespace, 2).unwrap();
    replay::catch_up(&mut r2, &env.write_pool, 1000, &replay_cancel, |_| {})
        .await
        .unwrap();
    let mut h2 = HistoryProjection::open(env.read_pool.clone(), 2)
        .await
        .unwrap();
    replay::catch_up(&mut h2, &env.write_pool, 1000, &replay_cancel, |_| {})
        .await
        .unwrap();
    append(&env.write_pool, &two).await;
    projector::generations::switch(&cfg, "redis", 2)
        .await
        .unwrap();
    projector::generations::switch(&cfg, "history", 2)
        .await
        .unwrap();
    let head = append(&env.write_pool, &three).await;
    wait_for(&mut redis.position, head, "redis").await;
    wait_for(&mut history.position, head, "history").await;

    // The old generation disappears once nothing writes it.
    let gone = tokio::time::timeout(DEADLINE, async {
        loop {
            let keys = redis_digest(&env.redis_url, &env.namespace, 1)
                .await
                .unwrap();
            let table: Option<String> =
                sqlx::query_scalar("SELECT to_regclass('messages_g1')::text")
                    .fetch_one(&env.read_pool)
                    .await
                    .unwrap();
            if keys
                == redis_digest(&env.redis_url, &env.namespace, 99)
                    .await
                    .unwrap()
                && table.is_none()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "generation 1 was not dropped");
    // Generation 2 caught up to the head and equals a rebuild.
    tokio::time::timeout(DEADLINE, async {
        while RedisProjection::new(&env.redis_url, &env.namespace, 2)
            .unwrap()
            .checkpoint()
            .await
            .unwrap()
            < head
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("generation 2 at the head");
    stop(cancel, vec![relay, redis, history]).await;
    assert_equals_rebuild(&env, 2, 3).await;
    cleanup(&env, &[2, 3]).await;
}

#[tokio::test]
async fn events_missing_from_the_bus_are_read_from_the_log() {
    let env = testkit::TestEnv::new().await;
    let mut cfg = config(&env);
    // Neither polling nor catch-up: only the hole check can find the missing events.
    cfg.runtime.catchup_threshold = 1_000_000;
    cfg.runtime.pg_poll = Duration::from_secs(3600);
    let mut cast = Cast::new();
    let head = append(&env.write_pool, &cast.conversation()).await;
    let events = source::read_after(&env.write_pool, 0, 1000).await.unwrap();
    let js = js(&env).await;
    bus::ensure_stream(&js, &env.namespace, &Default::default())
        .await
        .unwrap();

    let cancel = CancellationToken::new();
    let mut redis = projector::spawn_generation(&cfg, "redis", 1, cancel.clone())
        .await
        .unwrap();
    let consumer = bus::consumer_name(&env.namespace, "redis", 1);
    tokio::time::timeout(DEADLINE, async {
        let stream = js
            .get_stream(bus::stream_name(&env.namespace))
            .await
            .unwrap();
        while stream.consumer_info(&consumer).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("consumer created");
    // Publish every event but a run in the middle, as a lossy bus would.
    let n = events.len();
    for e in events[..n / 3].iter().chain(&events[2 * n / 3..]) {
        js.publish(bus::subject(&env.namespace, e), envelope::encode(e).into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    wait_for(&mut redis.position, head, "redis").await;
    stop(cancel, vec![redis]).await;
    let cancel = CancellationToken::new();
    let mut fresh = RedisProjection::new(&env.redis_url, &env.namespace, 2).unwrap();
    replay::catch_up(&mut fresh, &env.write_pool, 1000, &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(
        redis_digest(&env.redis_url, &env.namespace, 1)
            .await
            .unwrap(),
        redis_digest(&env.redis_url, &env.namespace, 2)
            .await
            .unwrap()
    );
    cleanup(&env, &[1, 2]).await;
}
