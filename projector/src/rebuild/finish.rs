//! Phases 2 and 3 of a rebuild: the switch and the hand-over (see the
//! module documentation of [`crate::rebuild`]).

use super::record::{self, RebuildPhase};
use super::target::Target;
use super::{Plan, RebuildEvent, RebuildOptions};
use crate::error::{ProjectorError, Result};
use crate::{backoff, generations, redis_projection, source, ProjectorConfig};
use readmodel::ProjectionName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What became of the generation a rebuild replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OldGeneration {
    /// A running projector moved over and removed it (or it never existed here).
    RemovedByProjector,
    /// Nothing removed it within the hand-over timeout; the replay did.
    RemovedByReplay,
    /// A projector is still writing it; it removes it when it moves over.
    LeftToProjector,
}

/// Pause between two attempts to switch while the serving generation is ahead.
const SWITCH_RETRY: Duration = Duration::from_millis(20);
/// Pause between two looks at the old generation during the hand-over.
const HANDOVER_POLL: Duration = Duration::from_millis(200);

/// Apply what the log has beyond the target's checkpoint, up to the head as
/// last read; returns the durable checkpoint.
async fn tail(
    config: &ProjectorConfig,
    target: &mut Target,
    opts: &RebuildOptions,
    shared: bool,
) -> Result<i64> {
    let mut cp = target.flush().await?;
    loop {
        let page = source::read_after(&config.write_pool, cp, opts.page).await?;
        // A page that is not full reached the head as it was when read; with
        // appends flowing, waiting for an empty page could take forever.
        let at_head = (page.len() as i64) < opts.page;
        if !page.is_empty() {
            let page = Arc::new(page);
            if shared {
                target.apply_shared(page, &opts.apply).await?;
            } else {
                target.apply(page, &opts.apply).await?;
            }
            // Durable now, and beyond `cp` (the page was above it; with
            // another writer, it may have got further still).
            cp = target.flush().await?;
        }
        if at_head {
            return Ok(cp);
        }
    }
}

/// Switch (if still building) and hand over; returns the new generation's
/// checkpoint at the switch and what became of the old generation.
pub(super) async fn finish(
    config: &ProjectorConfig,
    plan: &mut Plan,
    opts: &RebuildOptions,
    on: &mut (impl FnMut(RebuildEvent) + Send),
    cancel: &CancellationToken,
) -> Result<(i64, OldGeneration)> {
    let name = plan.name;
    let (old, new) = (plan.record.previous, plan.record.generation);
    let mut checkpoint = 0;
    if plan.record.phase == RebuildPhase::Building {
        let target = plan.target.as_mut().ok_or(ProjectorError::Cancelled)?;
        checkpoint = switch(config, name, old, new, target, opts, cancel).await?;
        plan.record.phase = RebuildPhase::Switched;
        record::save(&config.read_pool, &config.namespace, &plan.record).await?;
        on(RebuildEvent::Note(format!(
            "{name}: switched to generation {new} at position {checkpoint}"
        )));
        info!(
            projection = %name,
            generation = new,
            checkpoint,
            "generation switched"
        );
    }
    if name == ProjectionName::Search {
        // The index is closed (a running projector may have opened it).
        plan.target = None;
    } else if plan.target.is_none() {
        plan.target = Some(Target::open(config, name, new, &opts.apply).await?);
    }
    if !opts.handover_timeout.is_zero() {
        on(RebuildEvent::Note(format!(
            "{name}: waiting up to {}s for a running projector to move over to generation {new}",
            opts.handover_timeout.as_secs()
        )));
    }
    let fate = handover(config, name, old, plan.target.as_mut(), opts, cancel).await?;
    if let Some(t) = plan.target.as_mut() {
        checkpoint = checkpoint.max(t.checkpoint().await?);
    }
    let what = match fate {
        OldGeneration::RemovedByProjector => "removed by the running projector",
        OldGeneration::RemovedByReplay => "removed (no projector moved over in time)",
        OldGeneration::LeftToProjector => {
            "still written by a projector, which removes it when it moves over"
        }
    };
    on(RebuildEvent::Note(format!(
        "{name}: generation {old} {what}"
    )));
    record::clear(&config.read_pool, &config.namespace, name).await?;
    Ok((checkpoint, fate))
}

/// Bring the target to the head and move the pointer to `new`.
async fn switch(
    config: &ProjectorConfig,
    name: ProjectionName,
    old: i64,
    new: i64,
    target: &mut Target,
    opts: &RebuildOptions,
    cancel: &CancellationToken,
) -> Result<i64> {
    let mut cp = tail(config, target, opts, false).await?;
    match target {
        Target::Search(_) => {
            // Each node's projector moves its searcher over only once its
            // own copy of `new` is as far as `old`, so the pointer may move now.
            cp = target.close().await?;
            generations::switch(config, name, new).await?;
            Ok(cp)
        }
        _ if !opts.shadow => {
            generations::switch(config, name, new).await?;
            Ok(cp)
        }
        Target::History(h) => h.switch_from(&config.write_pool, old).await,
        Target::Redis(_) => loop {
            if redis_projection::switch_if_caught_up(&config.redis_url, &config.namespace, old, new)
                .await?
            {
                return Ok(cp);
            }
            // The serving generation applied something newer meanwhile.
            if !backoff::sleep(SWITCH_RETRY, cancel).await {
                return Err(ProjectorError::Cancelled);
            }
            cp = tail(config, target, opts, false).await?;
        },
    }
}

/// Wait for a running projector to move over to the new generation and
/// remove `old`, keeping the new one at the head meanwhile; past the
/// timeout, remove `old` here unless something still writes it.
async fn handover(
    config: &ProjectorConfig,
    name: ProjectionName,
    old: i64,
    mut target: Option<&mut Target>,
    opts: &RebuildOptions,
    cancel: &CancellationToken,
) -> Result<OldGeneration> {
    let deadline = Instant::now() + opts.handover_timeout;
    let first = generations::checkpoint_of(config, name, old).await?;
    loop {
        let now = generations::checkpoint_of(config, name, old).await?;
        if now.is_none() {
            return Ok(OldGeneration::RemovedByProjector);
        }
        if Instant::now() >= deadline {
            if now != first {
                warn!(
                    projection = %name,
                    generation = old,
                    "old generation still written; leaving it to its projector"
                );
                return Ok(OldGeneration::LeftToProjector);
            }
            generations::drop_generation(config, name, old).await?;
            return Ok(OldGeneration::RemovedByReplay);
        }
        if let Some(t) = target.as_deref_mut() {
            // Queries read the new generation now: keep it fresh until the
            // running projector takes over writing it. Both may write it at
            // once; its checkpoint makes that safe.
            if let Err(e) = tail(config, t, opts, true).await {
                warn!(projection = %name, error = %e, "cannot keep the new generation at the head");
            }
        }
        if !backoff::sleep(HANDOVER_POLL, cancel).await {
            return Err(ProjectorError::Cancelled);
        }
    }
}
