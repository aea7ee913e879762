//! The projectors part: the relay and the shared projections (`redis`,
//! `history`), each under a lease of its own (`projector::LEASED`): every
//! projector node competes for each, one node runs it, another takes over
//! when that one dies. The `redis` projection publishes the live frames of
//! `/v1/stream`. [`start_projection`] also starts the search replica of the
//! queries part, which is not leased (every query node keeps its own index).

use super::component::Component;
use super::{checks, shared::Shared};
use anyhow::{Context, Result};
use projector::{ProjectionName, ProjectorConfig, Task, TaskHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// Build the projectors part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let mut projector = shared.projector();
    projector.frames = Some(
        projector::FramePublisher::connect(&shared.config.nats_url, &shared.config.namespace)
            .await
            .context("nats client for live frames")?,
    );
    let mut part = Component::default()
        .check("redis", checks::redis(shared.config.redis_url.clone()))
        .check("nats", checks::nats(shared.nats().await?));
    for task in projector::LEASED {
        let config = projector.clone();
        let leased = lease::spawn(
            shared.config.database_url.clone(),
            task.lease_key(&shared.config.namespace),
            lease::Timing::default(),
            shared.cancel.clone(),
            move |cancel| run(config.clone(), task, cancel),
        );
        part = part.lease(task.label(), leased.active).task(leased.task);
    }
    Ok(part)
}

/// Run `task` until `cancel` fires (this node lost its lease or stops). A
/// task that cannot start returns, which gives the lease up: this node or
/// another tries again after a backoff.
async fn run(config: ProjectorConfig, task: Task, cancel: CancellationToken) {
    let started = match task {
        Task::Relay => projector::spawn_relay(&config, cancel).await,
        Task::Projection(name) => projector::spawn_projection(&config, name, cancel).await,
    };
    match started {
        // Aborted with this future if the lease runner gives up waiting for
        // it to stop.
        Ok(handle) => {
            let _ = AbortOnDropHandle::new(handle.task).await;
        }
        Err(e) => tracing::warn!(task = task.label(), error = %e, "cannot start a leased task"),
    }
}

/// Start projection `name`.
pub async fn start_projection(
    projector: &ProjectorConfig,
    name: ProjectionName,
    cancel: CancellationToken,
) -> Result<TaskHandle> {
    projector::spawn_projection(projector, name, cancel)
        .await
        .map_err(|e| anyhow::anyhow!(e).context(format!("start {name}")))
}
