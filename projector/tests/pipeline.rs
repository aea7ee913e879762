//! The whole pipeline against real servers: log → relay → JetStream →
//! runtime → projections, including a deleted stream and a bus that lost
//! events.

mod common;

use common::harness::*;
use common::{append, burn_position, Cast};
use projector::bus;
use readmodel::ProjectionName;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    let mut redis = projector::spawn_generation(&cfg, ProjectionName::Redis, 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, ProjectionName::History, 1, cancel.clone())
        .await
        .unwrap();
    let mut search = projector::spawn_generation(&cfg, ProjectionName::Search, 1, cancel.clone())
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
    let mut redis = projector::spawn_generation(&cfg, ProjectionName::Redis, 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, ProjectionName::History, 1, cancel.clone())
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
    let mut redis = projector::spawn_generation(&cfg, ProjectionName::Redis, 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, ProjectionName::History, 1, cancel.clone())
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
    let mut redis = projector::spawn_generation(&cfg, ProjectionName::Redis, 1, cancel.clone())
        .await
        .unwrap();
    let mut history = projector::spawn_generation(&cfg, ProjectionName::History, 1, cancel.clone())
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
