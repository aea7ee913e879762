//! Test support: one projection generation brought to the log's head
//! straight from Postgres, page by page, without NATS, so a test can compare
//! it with one the running pipeline built. Production rebuilds (`cotalk
//! projections replay`) go through [`crate::rebuild`], which reads in
//! parallel and applies in bulk.
//!
//! Not behind a feature: [`catch_up`] is generic, so nothing of it is
//! compiled into a binary that does not call it, while a feature that only
//! tests turn on made every test build compile `projector` and everything
//! above it a second time (the release fault run of `make cluster-test`
//! spent 6 minutes of a fresh machine on that).

use crate::error::Result;
use crate::runtime::Projection;
use crate::source;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Progress of a replay, reported after every page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The position applied so far.
    pub applied: i64,
    /// The log's head when last read.
    pub head: i64,
    /// Events applied by this replay so far.
    pub events: u64,
}

/// Apply the log to `projection` from its checkpoint up to the head (read
/// again at the end, so events appended meanwhile are included), in pages of
/// `page` events, then make everything durable. Returns the final durable
/// checkpoint; stops early (still flushing) when cancelled.
pub async fn catch_up<P: Projection>(
    projection: &mut P,
    pool: &PgPool,
    page: i64,
    cancel: &CancellationToken,
    mut on_progress: impl FnMut(Progress),
) -> Result<i64> {
    let mut applied = projection.checkpoint().await?;
    let mut head = source::head(pool).await?;
    let mut events = 0u64;
    while !cancel.is_cancelled() {
        let batch = source::read_after(pool, applied, page).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        projection.apply_batch(&batch).await?;
        applied = last;
        events += batch.len() as u64;
        if applied >= head {
            head = source::head(pool).await?.max(applied);
        }
        on_progress(Progress {
            applied,
            head,
            events,
        });
    }
    projection.flush(true).await
}
