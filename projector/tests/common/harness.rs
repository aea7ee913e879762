//! Helpers for the tests that run the whole pipeline.

use async_nats::jetstream;
use domain::event::DomainEvent;
use projector::digest::{history_digest, redis_digest};
use projector::{bus, envelope, replay, source, ProjectorConfig, TaskHandle};
use projector::{HistoryProjection, RedisProjection, SearchProjection};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn config(env: &testkit::TestEnv) -> ProjectorConfig {
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

pub async fn wait_for(rx: &mut watch::Receiver<i64>, target: i64, what: &str) {
    let reached = tokio::time::timeout(DEADLINE, rx.wait_for(|p| *p >= target))
        .await
        .map(|r| r.is_ok());
    assert!(
        matches!(reached, Ok(true)),
        "{what} did not reach {target} (at {})",
        *rx.borrow()
    );
}

pub async fn stop(cancel: CancellationToken, handles: Vec<TaskHandle>) {
    cancel.cancel();
    for h in handles {
        tokio::time::timeout(DEADLINE, h.task)
            .await
            .expect("task stops")
            .unwrap();
    }
}

pub async fn js(env: &testkit::TestEnv) -> jetstream::Context {
    jetstream::new(async_nats::connect(&env.nats_url).await.unwrap())
}

/// Every position in the stream, in stream order: read message by message
/// between the sequences of one look at the stream, and read again if the
/// stream was replaced or changed meanwhile (the relay recreates a stream it
/// finds missing or truncated), so the reader never waits for a message that
/// went with the stream it looked at.
pub async fn stream_positions(env: &testkit::TestEnv) -> Vec<i64> {
    let js = js(env).await;
    let name = bus::stream_name(&env.namespace);
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(positions) = read_stream_once(&js, &name).await {
                return positions;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the stream held still long enough to be read")
}

/// The positions in the stream as of one look, or `None` if it is missing
/// or changed while being read.
async fn read_stream_once(js: &jetstream::Context, name: &str) -> Option<Vec<i64>> {
    let stream = js.get_stream(name).await.ok()?;
    let before = stream.cached_info().clone();
    let mut out = Vec::new();
    if before.state.messages > 0 {
        for seq in before.state.first_sequence..=before.state.last_sequence {
            let m = stream.get_raw_message(seq).await.ok()?;
            for e in envelope::decode_all(&m.payload).unwrap() {
                out.push(e.unwrap().position);
            }
        }
    }
    let after = js.get_stream(name).await.ok()?.cached_info().clone();
    let same = after.created == before.created
        && after.state.first_sequence == before.state.first_sequence
        && after.state.last_sequence == before.state.last_sequence;
    same.then_some(out)
}

pub async fn log_positions(env: &testkit::TestEnv) -> Vec<i64> {
    source::read_after(&env.write_pool, 0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect()
}

pub async fn wait_stream_exists(env: &testkit::TestEnv) {
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
pub async fn assert_equals_rebuild(env: &testkit::TestEnv, live: i64, fresh: i64) {
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
pub async fn assert_search_equals_rebuild(cfg: &ProjectorConfig, live: i64, fresh: i64) {
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

pub async fn cleanup(env: &testkit::TestEnv, generations: &[i64]) {
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

pub fn thirds(events: Vec<DomainEvent>) -> [Vec<DomainEvent>; 3] {
    let n = events.len() / 3;
    let mut it = events.into_iter();
    let a = it.by_ref().take(n).collect();
    let b = it.by_ref().take(n).collect();
    [a, b, it.collect()]
}
