//! The projectors part: the relay and the shared projections (`redis`,
//! `history`); the `redis` projection publishes the live frames of
//! `/v1/stream`. [`start_projection`] also starts the search replica of the
//! queries part.

use super::component::Component;
use super::{checks, shared::Shared};
use anyhow::{Context, Result};
use projector::{ProjectionName, ProjectorConfig, TaskHandle};
use tokio_util::sync::CancellationToken;

/// The projections every projector node runs (one active node per
/// projection is enough; a second one is correct but wasteful).
const SHARED_PROJECTIONS: [ProjectionName; 2] = [ProjectionName::Redis, ProjectionName::History];

/// Build the projectors part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let mut projector = shared.projector();
    projector.frames = Some(
        projector::FramePublisher::connect(&shared.config.nats_url, &shared.config.namespace)
            .await
            .context("nats client for live frames")?,
    );
    let relay = projector::spawn_relay(&projector, shared.cancel.clone())
        .await
        .context("start relay")?;
    let mut part = Component::default()
        .check("redis", checks::redis(shared.config.redis_url.clone()))
        .check("nats", checks::nats(shared.nats().await?))
        .task(relay.task);
    for name in SHARED_PROJECTIONS {
        let handle = start_projection(&projector, name, shared.cancel.clone()).await?;
        part = part.task(handle.task);
    }
    Ok(part)
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
