//! What a replay writes: one generation of one projection, fed whole pages.
//!
//! The `redis` and `history` projections are used as they are (each page,
//! cut into chunks, is one `MULTI`/`EXEC`, or one transaction through the
//! history's bulk path, with the checkpoint, so a replay killed at any point
//! resumes from its checkpoint).
//! The search index is driven directly rather than through
//! [`SearchProjection`](crate::SearchProjection): a replay wants several
//! writer threads, rare commits (each fsyncs and reopens readers) and pages
//! shared with the other appliers without copying.

use crate::error::{ProjectorError, Result};
use crate::rebuild::reader::Page;
use crate::runtime::Projection;
use crate::{search_projection, HistoryProjection, ProjectorConfig, RedisProjection};
use domain::event::{DomainEvent, RoomEvent, StoredEvent};
use readmodel::ProjectionName;
use search::{IndexOptions, SearchIndex};
use std::time::{Duration, Instant};

/// How a replay applies.
#[derive(Clone, Debug)]
pub struct ApplyPlan {
    /// Most events per Redis `MULTI`/`EXEC` (bounds how long one transaction
    /// blocks other Redis clients).
    pub redis_chunk: usize,
    /// Most events per history transaction.
    pub history_chunk: usize,
    /// Search index writer threads.
    pub search_threads: usize,
    /// Search indexing memory, in bytes (split over the threads).
    pub search_memory: usize,
    /// Commit the search index after this many events (how much a killed
    /// replay redoes)…
    pub search_commit_events: usize,
    /// …or after this long.
    pub search_commit_interval: Duration,
}

impl Default for ApplyPlan {
    fn default() -> Self {
        Self {
            redis_chunk: 20_000,
            history_chunk: 20_000,
            search_threads: 2,
            search_memory: 256 << 20,
            search_commit_events: 250_000,
            search_commit_interval: Duration::from_secs(20),
        }
    }
}

/// The search index of a generation, written in bulk.
pub(crate) struct SearchBulk {
    index: Option<SearchIndex>,
    commit_events: usize,
    commit_interval: Duration,
    committed_at: Instant,
}

fn search_err(e: impl std::fmt::Display) -> ProjectorError {
    ProjectorError::Search(e.to_string())
}

impl SearchBulk {
    async fn open(config: &ProjectorConfig, generation: i64, plan: &ApplyPlan) -> Result<Self> {
        let dir = search_projection::index_dir(&config.data_dir, &config.namespace, generation);
        let opts = IndexOptions {
            writer_threads: plan.search_threads,
            memory_budget_bytes: plan.search_memory,
            merge_threads: 1,
        };
        let index = tokio::task::spawn_blocking(move || SearchIndex::open(&dir, opts))
            .await
            .map_err(search_err)?
            .map_err(search_err)?;
        Ok(Self {
            index: Some(index),
            commit_events: plan.search_commit_events,
            commit_interval: plan.search_commit_interval,
            committed_at: Instant::now(),
        })
    }

    /// Run blocking index work on the index.
    async fn with<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut SearchIndex) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut index = self
            .index
            .take()
            .ok_or_else(|| ProjectorError::Search("index closed after an error".into()))?;
        let (index, out) = tokio::task::spawn_blocking(move || {
            let out = work(&mut index);
            (index, out)
        })
        .await
        .map_err(search_err)?;
        if out.is_ok() {
            self.index = Some(index);
        }
        out
    }

    async fn apply(&mut self, page: Page) -> Result<i64> {
        let due = self.committed_at.elapsed() >= self.commit_interval;
        let commit_events = self.commit_events;
        let (cp, committed) = self
            .with(move |index| {
                index.apply(&page).map_err(search_err)?;
                if index.pending() >= commit_events || (due && index.pending() > 0) {
                    return Ok((index.commit().map_err(search_err)?, true));
                }
                Ok((index.checkpoint(), false))
            })
            .await?;
        if committed {
            self.committed_at = Instant::now();
        }
        Ok(cp)
    }

    async fn flush(&mut self) -> Result<i64> {
        let cp = self
            .with(|index| index.commit().map_err(search_err))
            .await?;
        self.committed_at = Instant::now();
        Ok(cp)
    }

    /// Close the writer (waiting for its merges), so that another process
    /// can open the directory.
    async fn close(&mut self) -> Result<()> {
        if let Some(index) = self.index.take() {
            tokio::task::spawn_blocking(move || drop(index))
                .await
                .map_err(search_err)?;
        }
        Ok(())
    }
}

/// One generation of one projection, written by a replay.
pub(crate) enum Target {
    Redis(RedisProjection),
    History(HistoryProjection),
    Search(Box<SearchBulk>),
}

impl Target {
    /// Open generation `generation` of `name`.
    pub(crate) async fn open(
        config: &ProjectorConfig,
        name: ProjectionName,
        generation: i64,
        plan: &ApplyPlan,
    ) -> Result<Self> {
        Ok(match name {
            ProjectionName::Redis => Self::Redis(
                RedisProjection::new(&config.redis_url, &config.namespace, generation)?
                    .with_pii_of(config),
            ),
            ProjectionName::History => {
                Self::History(HistoryProjection::open(config.read_pool.clone(), generation).await?)
            }
            ProjectionName::Search => {
                Self::Search(Box::new(SearchBulk::open(config, generation, plan).await?))
            }
        })
    }

    /// The durable checkpoint.
    pub(crate) async fn checkpoint(&mut self) -> Result<i64> {
        match self {
            Self::Redis(p) => p.checkpoint().await,
            Self::History(p) => p.checkpoint().await,
            Self::Search(s) => Ok(s.index.as_ref().map_or(0, |i| i.checkpoint())),
        }
    }

    /// Apply a page; returns the durable checkpoint after it.
    pub(crate) async fn apply(&mut self, page: Page, plan: &ApplyPlan) -> Result<i64> {
        match self {
            Self::Redis(p) => p.apply_bulk(&page, plan.redis_chunk).await,
            Self::History(p) => {
                let mut cp = 0;
                for part in page.chunks(plan.history_chunk.max(1)) {
                    cp = p.apply_bulk(part).await?;
                }
                Ok(cp)
            }
            Self::Search(s) => s.apply(page).await,
        }
    }

    /// Apply a page while a running projector may be writing the same
    /// generation (after the switch): Redis through the live path, whose
    /// every batch reads what it depends on, rather than the bulk path,
    /// which assumes it is the only writer.
    pub(crate) async fn apply_shared(&mut self, page: Page, plan: &ApplyPlan) -> Result<i64> {
        match self {
            Self::Redis(p) => {
                p.finish_bulk().await?;
                let mut cp = 0;
                for part in page.chunks(plan.redis_chunk.max(1)) {
                    cp = p.apply_batch(part).await?;
                }
                Ok(cp)
            }
            _ => self.apply(page, plan).await,
        }
    }

    /// Make everything applied durable; returns the checkpoint.
    pub(crate) async fn flush(&mut self) -> Result<i64> {
        match self {
            Self::Redis(p) => {
                p.finish_bulk().await?;
                p.flush(true).await
            }
            Self::History(p) => p.flush(true).await,
            Self::Search(s) => s.flush().await,
        }
    }

    /// Flush and release what the target holds (the search index's
    /// directory lock).
    pub(crate) async fn close(&mut self) -> Result<i64> {
        let cp = self.flush().await?;
        if let Self::Search(s) = self {
            s.close().await?;
        }
        Ok(cp)
    }
}

/// How many of `events` are message posts (what the search index counts).
pub(crate) fn messages_in(events: &[StoredEvent]) -> u64 {
    events
        .iter()
        .filter(|e| matches!(e.event, DomainEvent::Room(RoomEvent::MessagePosted(_))))
        .count() as u64
}
