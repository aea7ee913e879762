//! The commands part: the command routes over the event store, whose group
//! commit is drained once the HTTP server has stopped.

use super::component::Component;
use super::{checks, shared::Shared};
use anyhow::Result;
use command::repository::Repository;
use command::CommandState;
use eventlog::{BatchConfig, EventStore};
use std::time::Duration;

/// Aggregates kept in the command side's cache.
const CACHED_AGGREGATES: usize = 100_000;

/// Build the commands part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let pool = shared.pools.log.clone();
    let store = EventStore::connect(
        pool.clone(),
        BatchConfig {
            max_events: shared.args.batch_max_events,
            max_wait: Duration::from_micros(shared.args.batch_max_wait_us),
            committed: Some(shared.appended.clone()),
            thread_nice: shared.args.batcher_nice,
            ..BatchConfig::default()
        },
    )
    .await;
    let state = CommandState::new(
        Repository::new(store.clone(), CACHED_AGGREGATES),
        shared.keys.clone(),
        shared.limits.clone(),
        shared.pii.clone(),
    )
    .with_quarantine(chrono::Duration::days(
        shared.args.username_quarantine_days.into(),
    ))
    .with_sessions(shared.sessions().await?)
    .with_delete_window(domain::values::DeleteWindow::from_secs(
        shared.args.delete_window_secs,
    ));
    let files = shared.attachment_store()?;
    let uploads = command::routes::upload_router(command::routes::attachments::UploadState {
        commands: state.clone(),
        store: files.clone(),
        max_bytes: shared.args.max_attachment_bytes,
    });
    let sweeper = super::sweeper::spawn(shared, state.repo.clone(), files);
    let sessions = super::session_sweeper::spawn(pool.clone(), shared.cancel.clone());
    let mut component = Component {
        large_bodies: shared.upload_limits().apply(uploads),
        tasks: vec![sweeper, sessions],
        ..Component::new(command::router(state))
    };
    if let Some(follower) = shared.follow_revocations().await? {
        component = component.task(follower);
    }
    Ok(component
        .check("postgres", checks::postgres(pool))
        .document(command::openapi())
        .after_http(Box::pin(async move { store.shutdown().await })))
}
