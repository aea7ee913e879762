//! Rebuilding projections from the log (`cotalk projections replay`).
//!
//! A rebuild always builds a **new generation** G = N + 1 beside the current
//! one N and switches the generation pointer at the end; it never truncates
//! N in place. In place would make queries see the projection empty and then
//! growing (positions going back), would fight the running projector over the
//! same keys, and cannot work for the search index (one writer per
//! directory). Building aside costs the space of a second copy for a while,
//! and buys the same code path for a repair and a zero-downtime rebuild.
//!
//! Phases, per projection:
//!
//! 1. **Build**: the log is read straight from Postgres in large pages (see
//!    `reader`) and applied in bulk to G (see `target`); with `all`, one read
//!    feeds the three projections. G's checkpoint is stored with its data as
//!    usual, so a replay killed at any point resumes from it.
//! 2. **Switch**: G is brought to the head once more and the pointer moves.
//!    With `shadow`, only when G holds at least what N holds, checked
//!    atomically with the move (a Lua script for Redis; one transaction
//!    holding N's checkpoint row for the read database), so a reader never
//!    sees a position older than one it saw before. Without it the pointer
//!    moves as soon as G is at the head, even if N is unreadable or broken.
//!    The search index is closed first (a running projector opens it next);
//!    every node's projector moves its searcher over only once its copy of
//!    G has caught up with N, which keeps search monotonic per node.
//! 3. **Hand-over**: a running projector follows the pointer (see
//!    [`crate::spawn_projection`]): it starts G from G's checkpoint, waits
//!    until G is as far as N, stops writing N and removes it. The replay
//!    keeps G at the head meanwhile and waits for N to disappear; if no
//!    projector removes it within the hand-over timeout, the replay removes
//!    it, unless N is still moving (then a projector is still writing it and
//!    will remove it itself when it moves over).
//!
//! What is in progress is recorded durably (see [`record`]) before each
//! phase, and two replays of one projection exclude each other with a lock
//! (see `lock`).
//!
//! Modules: `reader` (pages of the log), `target` (bulk appliers), `lock`,
//! [`record`], `finish` (switch and hand-over).

mod finish;
mod lock;
mod reader;
pub mod record;
mod target;

pub use finish::OldGeneration;
pub use record::{RebuildPhase, RebuildRecord};
pub use target::ApplyPlan;

use crate::error::{ProjectorError, Result};
use crate::{generations, ProjectorConfig};
use reader::{Page, ReadPlan};
use readmodel::ProjectionName;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::Target;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// How a rebuild runs.
#[derive(Clone, Debug)]
pub struct RebuildOptions {
    /// Zero-downtime: switch only once the new generation is at least as far
    /// as the serving one (see the module documentation).
    pub shadow: bool,
    /// Positions per page read from the log.
    pub page: i64,
    /// Pages read and decoded at once.
    pub readers: usize,
    /// How pages are applied.
    pub apply: ApplyPlan,
    /// How long to wait for a running projector to move over to the new
    /// generation and remove the old one before removing it here.
    pub handover_timeout: Duration,
    /// How often progress is reported.
    pub progress_interval: Duration,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            shadow: false,
            page: 20_000,
            readers: 2,
            apply: ApplyPlan::default(),
            handover_timeout: Duration::from_secs(30),
            progress_interval: Duration::from_millis(250),
        }
    }
}

/// Where one projection's build is.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProjectionProgress {
    /// The projection.
    pub name: ProjectionName,
    /// The generation being built.
    pub generation: i64,
    /// Its checkpoint when this run started (resumed from).
    pub from: i64,
    /// The position applied so far.
    pub applied: i64,
    /// Events applied by this run.
    pub events: u64,
    /// Message posts among them.
    pub messages: u64,
}

/// Progress of a build, reported every [`RebuildOptions::progress_interval`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Progress {
    /// The lowest position the build started from.
    pub start: i64,
    /// The log's head when last read.
    pub head: i64,
    /// Per projection.
    pub projections: Vec<ProjectionProgress>,
}

/// What a rebuild tells its caller while it runs.
#[derive(Clone, Debug)]
pub enum RebuildEvent {
    /// The build moved on.
    Progress(Progress),
    /// A step happened (a generation chosen, a switch, a removal).
    Note(String),
}

/// How one projection's rebuild ended.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RebuildOutcome {
    /// The projection.
    pub name: ProjectionName,
    /// The generation replaced.
    pub previous: i64,
    /// The generation now serving.
    pub generation: i64,
    /// Its checkpoint at the switch.
    pub checkpoint: i64,
    /// Where this run's build started (0 unless resumed).
    pub resumed_from: i64,
    /// Events applied by the build phase of this run.
    pub events: u64,
    /// Message posts among them.
    pub messages: u64,
    /// Seconds the build phase took.
    pub build_seconds: f64,
    /// What became of the previous generation.
    pub old_generation: OldGeneration,
}

/// One projection's rebuild as it goes.
struct Plan {
    name: ProjectionName,
    record: RebuildRecord,
    target: Option<Target>,
    from: i64,
    events: u64,
    messages: u64,
    build_seconds: f64,
}

/// Read and decode the whole log the way a replay does, applying nothing:
/// the ceiling of replay speed (for `cotalk bench replay`). Returns the
/// number of events read.
pub async fn drain_log(write_pool: &sqlx::PgPool, page: i64, readers: usize) -> Result<u64> {
    let (tx, mut rx) = mpsc::channel::<Page>(4);
    let plan = ReadPlan {
        page,
        parallel: readers,
    };
    let reader = tokio::spawn(reader::run(
        write_pool.clone(),
        0,
        plan,
        vec![tx],
        Arc::new(AtomicI64::new(0)),
        CancellationToken::new(),
    ));
    let mut n = 0;
    while let Some(p) = rx.recv().await {
        n += p.len() as u64;
    }
    reader
        .await
        .map_err(|e| ProjectorError::Store(e.to_string()))??;
    Ok(n)
}

/// Who runs a replay of `projection` now (`pid=… host=…`), if anyone.
pub async fn replay_holder(
    write_pool: &sqlx::PgPool,
    namespace: &str,
    projection: ProjectionName,
) -> Option<String> {
    lock::held_by(write_pool, namespace, projection).await
}

/// Rebuild `names` (see the module documentation). Fails at once with
/// [`ProjectorError::ReplayRunning`] if another replay of any of them runs.
/// Cancelling stops it resumably ([`ProjectorError::Cancelled`]).
pub async fn rebuild(
    config: &ProjectorConfig,
    names: &[ProjectionName],
    opts: &RebuildOptions,
    mut on: impl FnMut(RebuildEvent) + Send,
    cancel: CancellationToken,
) -> Result<Vec<RebuildOutcome>> {
    let mut lock = lock::ReplayLock::acquire(&config.write_pool, &config.namespace, names).await?;
    let mut plans = Vec::new();
    for name in names {
        let plan = prepare(config, *name, opts).await?;
        on(RebuildEvent::Note(describe(&plan)));
        plans.push(plan);
    }
    build(config, &mut plans, opts, &mut on, &cancel).await?;
    let mut outcomes = Vec::new();
    for mut plan in plans {
        lock.check().await?;
        let (checkpoint, old) = finish::finish(config, &mut plan, opts, &mut on, &cancel).await?;
        outcomes.push(RebuildOutcome {
            name: plan.name,
            previous: plan.record.previous,
            generation: plan.record.generation,
            checkpoint,
            resumed_from: plan.from,
            events: plan.events,
            messages: plan.messages,
            build_seconds: plan.build_seconds,
            old_generation: old,
        });
    }
    lock.release().await;
    Ok(outcomes)
}

fn describe(plan: &Plan) -> String {
    let r = &plan.record;
    match (r.phase, plan.from) {
        (RebuildPhase::Switched, _) => format!(
            "{}: generation {} already serves; finishing the removal of generation {}",
            r.projection, r.generation, r.previous
        ),
        (RebuildPhase::Building, 0) => format!(
            "{}: building generation {} from the log (generation {} keeps serving)",
            r.projection, r.generation, r.previous
        ),
        (RebuildPhase::Building, from) => format!(
            "{}: resuming generation {} from its checkpoint {} (generation {} keeps serving)",
            r.projection, r.generation, from, r.previous
        ),
    }
}

/// Decide what to do for `name`: resume a recorded rebuild, finish one that
/// already switched, or start generation `current + 1`.
async fn prepare(
    config: &ProjectorConfig,
    name: ProjectionName,
    opts: &RebuildOptions,
) -> Result<Plan> {
    let current = generations::current(config, name).await?;
    let holder = lock::holder_name();
    let existing = record::load(&config.read_pool, &config.namespace, name).await?;
    let mut record = match existing {
        Some(mut r) if r.generation == current && r.previous != current => {
            r.phase = RebuildPhase::Switched;
            r
        }
        Some(mut r)
            if r.previous == current
                && r.generation > current
                && r.phase == RebuildPhase::Building =>
        {
            r.shadow = opts.shadow;
            r
        }
        stale => {
            if let Some(s) = stale {
                // The pointer moved some other way since: that build is moot.
                info!(
                    projection = %name,
                    generation = s.generation,
                    "discarding a stale rebuild"
                );
                if s.generation != current {
                    discard(config, name, s.generation).await?;
                }
            }
            let generation = current + 1;
            // Leftovers of an attempt that never got recorded cannot be
            // served or followed (the pointer never named them).
            discard(config, name, generation).await?;
            RebuildRecord {
                projection: name.as_str().to_owned(),
                generation,
                previous: current,
                phase: RebuildPhase::Building,
                shadow: opts.shadow,
                holder: holder.clone(),
                started_at: chrono::Utc::now(),
            }
        }
    };
    record.holder = holder;
    record::save(&config.read_pool, &config.namespace, &record).await?;
    let mut plan = Plan {
        name,
        record,
        target: None,
        from: 0,
        events: 0,
        messages: 0,
        build_seconds: 0.0,
    };
    if plan.record.phase == RebuildPhase::Building {
        let mut target = Target::open(config, name, plan.record.generation, &opts.apply).await?;
        plan.from = target.checkpoint().await?;
        plan.target = Some(target);
    }
    Ok(plan)
}

/// Remove a generation nothing serves, if it has anything.
async fn discard(config: &ProjectorConfig, name: ProjectionName, generation: i64) -> Result<()> {
    if generations::checkpoint_of(config, name, generation)
        .await?
        .is_some()
    {
        generations::drop_generation(config, name, generation).await?;
    }
    Ok(())
}

/// Counters one applier updates and the progress reporter reads.
#[derive(Default)]
struct Cell {
    applied: AtomicI64,
    events: AtomicU64,
    messages: AtomicU64,
}

/// Phase 1 for every plan still building: one reader, one applier each.
async fn build(
    config: &ProjectorConfig,
    plans: &mut [Plan],
    opts: &RebuildOptions,
    on: &mut (impl FnMut(RebuildEvent) + Send),
    cancel: &CancellationToken,
) -> Result<()> {
    let building: Vec<usize> = (0..plans.len())
        .filter(|i| plans[*i].target.is_some())
        .collect();
    let Some(start) = building.iter().map(|i| plans[*i].from).min() else {
        return Ok(());
    };
    let started = Instant::now();
    let stop = cancel.child_token();
    let head = Arc::new(AtomicI64::new(start));
    let mut outs = Vec::new();
    let mut appliers = Vec::new();
    let mut cells = Vec::new();
    for i in &building {
        let plan = &mut plans[*i];
        let (tx, rx) = mpsc::channel::<Page>(4);
        outs.push(tx);
        let cell = Arc::new(Cell::default());
        cell.applied.store(plan.from, Ordering::Relaxed);
        cells.push((plan.name, plan.record.generation, plan.from, cell.clone()));
        let target = plan.target.take().ok_or(ProjectorError::Cancelled)?;
        appliers.push(tokio::spawn(apply_pages(
            target,
            rx,
            plan.from,
            opts.apply.clone(),
            cell,
            stop.clone(),
        )));
    }
    let read_plan = ReadPlan {
        page: opts.page,
        parallel: opts.readers,
    };
    let mut reader = tokio::spawn(reader::run(
        config.write_pool.clone(),
        start,
        read_plan,
        outs,
        head.clone(),
        stop.clone(),
    ));
    let report = |cells: &[(ProjectionName, i64, i64, Arc<Cell>)]| Progress {
        start,
        head: head.load(Ordering::Relaxed),
        projections: cells
            .iter()
            .map(|(name, generation, from, c)| ProjectionProgress {
                name: *name,
                generation: *generation,
                from: *from,
                applied: c.applied.load(Ordering::Relaxed),
                events: c.events.load(Ordering::Relaxed),
                messages: c.messages.load(Ordering::Relaxed),
            })
            .collect(),
    };
    let mut tick = tokio::time::interval(opts.progress_interval);
    let mut read_result = None;
    while read_result.is_none() {
        tokio::select! {
            r = &mut reader => read_result = Some(r),
            _ = tick.tick() => on(RebuildEvent::Progress(report(&cells))),
        }
        // A failed applier stops the whole build: stop reading too.
        if appliers.iter().any(|a| a.is_finished()) {
            stop.cancel();
        }
    }
    let mut first_error = match read_result {
        Some(Ok(Ok(_))) => None,
        Some(Ok(Err(e))) => Some(e),
        Some(Err(e)) => Some(ProjectorError::Store(e.to_string())),
        None => None,
    };
    if first_error.is_some() {
        stop.cancel();
    }
    for (k, applier) in appliers.into_iter().enumerate() {
        let joined = applier.await;
        let plan = &mut plans[building[k]];
        match joined {
            Ok((target, Ok(()))) => plan.target = Some(target),
            Ok((target, Err(e))) => {
                plan.target = Some(target);
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(ProjectorError::Store(e.to_string()));
            }
        }
    }
    on(RebuildEvent::Progress(report(&cells)));
    let seconds = started.elapsed().as_secs_f64();
    for (k, (_, _, _, cell)) in cells.iter().enumerate() {
        let plan = &mut plans[building[k]];
        plan.events = cell.events.load(Ordering::Relaxed);
        plan.messages = cell.messages.load(Ordering::Relaxed);
        plan.build_seconds = seconds;
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if cancel.is_cancelled() {
        return Err(ProjectorError::Cancelled);
    }
    Ok(())
}

/// One applier: every page into its target, then a flush. Gives the target
/// back (with the first error, if any) so the caller can carry on with it.
async fn apply_pages(
    mut target: Target,
    mut pages: mpsc::Receiver<Page>,
    from: i64,
    plan: ApplyPlan,
    cell: Arc<Cell>,
    stop: CancellationToken,
) -> (Target, Result<()>) {
    let result = async {
        loop {
            let page = tokio::select! {
                p = pages.recv() => p,
                _ = stop.cancelled() => None,
            };
            let Some(page) = page else { break };
            let fresh_from = page.partition_point(|e| e.position <= from);
            let fresh = &page[fresh_from..];
            let (n, m) = (fresh.len() as u64, target::messages_in(fresh));
            let last = page.last().map_or(0, |e| e.position);
            target.apply(page, &plan).await?;
            cell.applied.fetch_max(last, Ordering::Relaxed);
            cell.events.fetch_add(n, Ordering::Relaxed);
            cell.messages.fetch_add(m, Ordering::Relaxed);
        }
        target.flush().await.map(|_| ())
    }
    .await;
    if result.is_err() {
        // Tell the others (and the reader) to stop.
        stop.cancel();
    }
    (target, result)
}
