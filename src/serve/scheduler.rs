//! The scheduler part: the meet-up reminder scheduler (`crate::scheduler`)
//! with its own event store (for the reminder appends) on the process's log
//! pool. Every node running it competes for one lease; one fires.

use super::component::Component;
use super::shared::Shared;
use anyhow::Result;
use eventlog::{BatchConfig, EventStore};

/// Build the scheduler part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let store = EventStore::connect(
        shared.pools.log.clone(),
        BatchConfig {
            committed: Some(shared.appended.clone()),
            ..BatchConfig::default()
        },
    )
    .await;
    let leased = crate::scheduler::spawn(
        store.clone(),
        shared.config.database_url.clone(),
        &shared.config.namespace,
        shared.cancel.clone(),
    );
    Ok(Component::default()
        .lease(crate::scheduler::LEASE, leased.active)
        .task(leased.task)
        .after_http(Box::pin(async move { store.shutdown().await })))
}
