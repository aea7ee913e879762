//! Generations: which copy of a projection queries read, switching it, and
//! removing a copy.
//!
//! A shadow rebuild (`cotalk projections replay NAME --shadow`) builds
//! generation N+1 from the log (see [`crate::replay`]) while N serves, then
//! calls [`switch`]. A projector started with [`crate::spawn_projection`]
//! follows the pointer: within [`FOLLOW_INTERVAL`] it stops writing N, removes
//! it with [`drop_generation`] (the writer removes its own data, so nothing
//! writes a generation after it is gone), and carries on with N+1 from that
//! generation's checkpoint.

use crate::error::{ProjectorError, Result};
use crate::{bus, history_projection, redis_projection, search_projection, ProjectorConfig};
use domain::views::{HISTORY_PROJECTION, REDIS_PROJECTION, SEARCH_PROJECTION};
use std::time::Duration;

/// How often a running projection checks its generation pointer.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// The generation of projection `name` that queries read (set to 1 if absent).
pub async fn current(config: &ProjectorConfig, name: &str) -> Result<i64> {
    match name {
        REDIS_PROJECTION => {
            redis_projection::current_generation(&config.redis_url, &config.namespace).await
        }
        HISTORY_PROJECTION | SEARCH_PROJECTION => {
            history_projection::current_generation(&config.read_pool, name).await
        }
        other => Err(ProjectorError::UnknownProjection(other.to_owned())),
    }
}

/// Point queries (and running projectors) at `generation` of `name`, atomically.
pub async fn switch(config: &ProjectorConfig, name: &str, generation: i64) -> Result<()> {
    match name {
        REDIS_PROJECTION => {
            redis_projection::set_generation(&config.redis_url, &config.namespace, generation).await
        }
        HISTORY_PROJECTION | SEARCH_PROJECTION => {
            history_projection::set_generation(&config.read_pool, name, generation).await
        }
        other => Err(ProjectorError::UnknownProjection(other.to_owned())),
    }
}

/// Remove one generation's data, checkpoint and durable consumer. Nothing
/// may be writing it (a search index directory must not be open).
pub async fn drop_generation(config: &ProjectorConfig, name: &str, generation: i64) -> Result<()> {
    match name {
        REDIS_PROJECTION => {
            redis_projection::drop_generation(&config.redis_url, &config.namespace, generation)
                .await?;
        }
        HISTORY_PROJECTION => {
            history_projection::drop_generation(&config.read_pool, generation).await?;
        }
        SEARCH_PROJECTION => {
            let dir = search_projection::index_dir(&config.data_dir, &config.namespace, generation);
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        other => return Err(ProjectorError::UnknownProjection(other.to_owned())),
    }
    // The shared consumer; search replicas' own consumers expire unused.
    // Best effort and bounded: the data is gone already, and a NATS that is
    // down must not hold up a rebuild (the client would retry forever).
    let consumer = async {
        let nats = bus::connect(&config.nats_url).await?;
        let js = bus::context(nats);
        if let Ok(stream) = js.get_stream(bus::stream_name(&config.namespace)).await {
            let _ = stream
                .delete_consumer(&bus::consumer_name(&config.namespace, name, generation))
                .await;
        }
        Ok::<_, ProjectorError>(())
    };
    match tokio::time::timeout(Duration::from_secs(10), consumer).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(projection = name, generation, error = %e, "cannot remove the old consumer")
        }
        Err(_) => tracing::warn!(
            projection = name,
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
    name: &str,
    generation: i64,
) -> Result<Option<i64>> {
    match name {
        REDIS_PROJECTION => {
            redis_projection::checkpoint_of(&config.redis_url, &config.namespace, generation).await
        }
        HISTORY_PROJECTION => {
            let cp: Option<i64> = sqlx::query_scalar(
                "SELECT position FROM projection_checkpoints WHERE projection = $1 AND generation = $2",
            )
            .bind(name)
            .bind(generation)
            .fetch_optional(&config.read_pool)
            .await?;
            Ok(cp)
        }
        SEARCH_PROJECTION => {
            let dir = search_projection::index_dir(&config.data_dir, &config.namespace, generation);
            tokio::task::spawn_blocking(move || search_projection::committed_checkpoint(&dir))
                .await
                .map_err(|e| ProjectorError::Search(e.to_string()))?
        }
        other => Err(ProjectorError::UnknownProjection(other.to_owned())),
    }
}
