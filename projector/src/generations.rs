//! Generations: which copy of a projection queries read, switching it, and
//! removing a copy.
//!
//! A shadow rebuild (`cotalk projections replay NAME --shadow`) builds
//! generation N+1 from the log (see [`crate::rebuild`]) while N serves, then
//! calls [`switch`]. A projector started with [`crate::spawn_projection`]
//! follows the pointer: within [`FOLLOW_INTERVAL`] it stops writing N, removes
//! it with [`drop_generation`] (the writer removes its own data, so nothing
//! writes a generation after it is gone), and carries on with N+1 from that
//! generation's checkpoint.
//!
//! Each projection's module implements [`Lifecycle`]; the functions here
//! dispatch on [`ProjectionName`] with an exhaustive `match`, so a new
//! projection does not compile until it has every step.

use crate::error::{ProjectorError, Result};
use crate::{bus, HistoryProjection, ProjectorConfig, RedisProjection, SearchProjection};
use readmodel::ProjectionName;
use std::time::Duration;

/// How often a running projection checks its generation pointer.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// The generation steps of one projection, implemented in its own module.
pub(crate) trait Lifecycle {
    /// The generation queries read (the pointer set to 1 if absent).
    async fn current(config: &ProjectorConfig) -> Result<i64>;
    /// Point queries (and running projectors) at `generation`, atomically.
    async fn switch(config: &ProjectorConfig, generation: i64) -> Result<()>;
    /// Remove one generation's data and checkpoint.
    async fn drop_data(config: &ProjectorConfig, generation: i64) -> Result<()>;
    /// The stored checkpoint of one generation, `None` if it does not exist.
    async fn checkpoint_of(config: &ProjectorConfig, generation: i64) -> Result<Option<i64>>;
}

/// Run `$body` with `$p` naming the type of projection `$name`.
macro_rules! with_projection {
    ($name:expr, $p:ident => $body:expr) => {
        match $name {
            ProjectionName::Redis => {
                type $p = RedisProjection;
                $body
            }
            ProjectionName::History => {
                type $p = HistoryProjection;
                $body
            }
            ProjectionName::Search => {
                type $p = SearchProjection;
                $body
            }
        }
    };
}

/// The generation of projection `name` that queries read (set to 1 if absent).
pub async fn current(config: &ProjectorConfig, name: ProjectionName) -> Result<i64> {
    with_projection!(name, P => P::current(config).await)
}

/// Point queries (and running projectors) at `generation` of `name`, atomically.
pub async fn switch(config: &ProjectorConfig, name: ProjectionName, generation: i64) -> Result<()> {
    with_projection!(name, P => P::switch(config, generation).await)
}

/// Remove one generation's data, checkpoint and durable consumer. Nothing
/// may be writing it (a search index directory must not be open).
pub async fn drop_generation(
    config: &ProjectorConfig,
    name: ProjectionName,
    generation: i64,
) -> Result<()> {
    with_projection!(name, P => P::drop_data(config, generation).await)?;
    // The shared consumer; search replicas' own consumers expire unused.
    // Best effort and bounded: the data is gone already, and a NATS that is
    // down must not hold up a rebuild (the client would retry forever).
    let consumer = async {
        let nats = bus::connect(&config.nats_url).await?;
        let js = bus::context(nats);
        if let Ok(stream) = js.get_stream(bus::stream_name(&config.namespace)).await {
            let _ = stream
                .delete_consumer(&bus::consumer_name(
                    &config.namespace,
                    name.as_str(),
                    generation,
                ))
                .await;
        }
        Ok::<_, ProjectorError>(())
    };
    match tokio::time::timeout(Duration::from_secs(10), consumer).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(projection = %name, generation, error = %e, "cannot remove the old consumer")
        }
        Err(_) => tracing::warn!(
            projection = %name,
            generation,
            "nats unreachable, old consumer left in place"
        ),
    }
    Ok(())
}

/// The stored checkpoint of one generation, or `None` if the generation does
/// not exist (never written, or dropped). For `search`, the index in this
/// node's data directory.
pub async fn checkpoint_of(
    config: &ProjectorConfig,
    name: ProjectionName,
    generation: i64,
) -> Result<Option<i64>> {
    with_projection!(name, P => P::checkpoint_of(config, generation).await)
}
