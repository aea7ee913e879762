//! The `search` projection adapter: batched commits, reopening, and a
//! rebuild from the log.

mod common;

use common::{append, Cast};
use projector::{replay, source, Projection};
use tokio_util::sync::CancellationToken;

async fn log(env: &testkit::TestEnv) -> Vec<domain::event::StoredEvent> {
    source::read_after(&env.write_pool, 0, 100_000)
        .await
        .unwrap()
}

fn search_config(env: &testkit::TestEnv) -> projector::ProjectorConfig {
    projector::ProjectorConfig::new(
        &env.namespace,
        env.write_pool.clone(),
        env.read_pool.clone(),
        &env.redis_url,
        &env.nats_url,
        std::env::temp_dir().join(format!("cotalk-{}", env.namespace)),
    )
}

#[tokio::test]
async fn search_projection_batches_commits_and_equals_a_rebuild() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    append(&env.write_pool, &cast.busy_room(80)).await;
    let events = log(&env).await;
    let last = events.last().unwrap().position;
    let mut cfg = search_config(&env);
    cfg.search.commit_events = 1_000_000;
    cfg.search.commit_interval = std::time::Duration::from_secs(3600);

    let mut live = projector::SearchProjection::open(&cfg, 1).await.unwrap();
    // Nothing is durable before a commit: the durable checkpoint stays put.
    assert_eq!(live.apply_batch(&events[..40]).await.unwrap(), 0);
    assert_eq!(live.flush(false).await.unwrap(), 0);
    for chunk in events[30..].chunks(9) {
        live.apply_batch(chunk).await.unwrap();
    }
    assert_eq!(live.flush(true).await.unwrap(), last);
    // Reopening finds the commit.
    drop(live);
    let mut live = projector::SearchProjection::open(&cfg, 1).await.unwrap();
    assert_eq!(live.checkpoint().await.unwrap(), last);
    live.apply_batch(&events).await.unwrap();

    let mut rebuilt = projector::SearchProjection::open(&cfg, 2).await.unwrap();
    let cancel = CancellationToken::new();
    let cp = replay::catch_up(&mut rebuilt, &env.write_pool, 25, &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(cp, last);
    assert_eq!(
        live.digest().await.unwrap(),
        rebuilt.digest().await.unwrap()
    );
    drop((live, rebuilt));
    let _ = std::fs::remove_dir_all(&cfg.data_dir);
}
