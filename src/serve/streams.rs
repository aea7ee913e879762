//! The streams part: `GET /v1/stream` and this node's WebSocket hub, which
//! closes its connections with 1001 when the process shuts down.

use super::component::Component;
use super::shared::Shared;
use anyhow::{Context, Result};
use query::stream::{StreamHub, StreamOptions};
use std::time::Duration;

/// How long shutdown waits for the WebSockets to send their close frames.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Build the streams part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let options = StreamOptions {
        max_per_user: shared.args.max_streams_per_user as usize,
        allowed_origins: shared.args.stream_allowed_origins.clone(),
        ..StreamOptions::default()
    };
    let hub = StreamHub::start(
        shared.query().await?,
        &shared.config.nats_url,
        options,
        shared.cancel.clone(),
    )
    .await
    .context("start the live stream hub")?;
    let (drain, stop) = (hub.clone(), shared.cancel.clone());
    let closing = tokio::spawn(async move {
        stop.cancelled().await;
        drain.drained(CLOSE_WAIT).await;
    });
    let mut component = Component::new(query::stream::router(hub)).task(closing);
    if let Some(follower) = shared.follow_revocations().await? {
        component = component.task(follower);
    }
    Ok(component)
}
