//! The scheduler part: the meet-up reminder scheduler (`crate::scheduler`)
//! with its own event store (for the reminder appends) on the process's log
//! pool. Every node running it competes for one lease; one fires.

use super::component::Component;
use super::shared::Shared;
use anyhow::Result;
use eventlog::{BatchConfig, EventStore};

/// Build the scheduler part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let store = EventStore::connect(shared.pools.log.clone(), BatchConfig::default()).await;
    let task = tokio::spawn(crate::scheduler::run(
        store.clone(),
        shared.config.database_url.clone(),
        shared.cancel.clone(),
    ));
    Ok(Component::default()
        .task(task)
        .after_http(Box::pin(async move { store.shutdown().await })))
}
