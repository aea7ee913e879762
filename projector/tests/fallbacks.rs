//! The runtime's fall-backs to the log (far behind, no bus, holes in what
//! the bus delivered) and following a generation switch.

mod common;

use common::harness::*;
use common::{append, Cast};
use projector::digest::redis_digest;
use projector::{bus, envelope, replay, source, Projection};
use projector::{HistoryProjection, RedisProjection};
use readmodel::ProjectionName;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn running_projections_follow_a_generation_switch_and_drop_the_old_one() {
    let env = testkit::TestEnv::new().await;
    let cfg = config(&env);
    let [one, two, three] = thirds(Cast::new().conversation());
    let cancel = CancellationToken::new();
    let relay = projector::spawn_relay(&cfg, cancel.clone()).await.unwrap();
    let mut redis = projector::spawn_projection(&cfg, ProjectionName::Redis, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_projection(&cfg, ProjectionName::History, cancel.clone())
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
    projector::generations::switch(&cfg, ProjectionName::Redis, 2)
        .await
        .unwrap();
    projector::generations::switch(&cfg, ProjectionName::History, 2)
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
    let mut redis = projector::spawn_generation(&cfg, ProjectionName::Redis, 1, cancel.clone())
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
