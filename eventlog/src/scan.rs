//! The whole log read in large pages, read ahead of its consumers and
//! decoded on several threads, delivered in order: what projection rebuilds
//! (`cotalk projections replay`) and the replay benchmark read with.
//!
//! Gap safety: appends are serialised (see the crate documentation), so once
//! the log's head `H` is visible, every position below it is committed or
//! will never be. Below a head read beforehand, ranges of positions can
//! therefore be read in any order and in parallel (`position > lo AND
//! position <= hi`) and reassembled in order without skipping anything; past
//! it, the reader reads the head again. It stops when a fresh head read finds
//! less than a page more.

use crate::decode::{decode, Columns};
use crate::{read, StoreError};
use domain::StoredEvent;
use futures::StreamExt;
use sqlx::PgPool;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A page of the log, shared by every consumer it goes to.
pub type Page = Arc<Vec<StoredEvent>>;

/// How [`read_pages`] reads.
#[derive(Clone, Copy, Debug)]
pub struct ScanPlan {
    /// Positions per page (a page holds at most this many events).
    pub page: i64,
    /// Pages read (and decoded) at once.
    pub parallel: usize,
}

/// Read `(lo, hi]` and decode it, without the metadata (see
/// [`Columns::WithoutMetadata`]): the events carry default metadata.
async fn read_range(pool: PgPool, lo: i64, hi: i64) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {} FROM events WHERE position > $1 AND position <= $2 ORDER BY position",
        Columns::WithoutMetadata.select()
    );
    let rows = sqlx::query(&sql).bind(lo).bind(hi).fetch_all(&pool).await?;
    // Decoding JSON is the CPU-heavy half of reading: off the async threads,
    // so parallel pages decode in parallel.
    tokio::task::spawn_blocking(move || {
        rows.iter()
            .map(|row| decode(row, Columns::WithoutMetadata))
            .collect()
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

/// Read everything after `after` and send it, in order, to every sender in
/// `outs`; `head` is kept at the last head read. Returns the last position
/// sent (or `after`). Stops early, without an error, when cancelled or when
/// a consumer hangs up (the caller learns why from the consumer).
pub async fn read_pages(
    pool: PgPool,
    after: i64,
    plan: ScanPlan,
    outs: Vec<mpsc::Sender<Page>>,
    head: Arc<AtomicI64>,
    cancel: CancellationToken,
) -> Result<i64, StoreError> {
    let mut next = after;
    let page = plan.page.max(1);
    let mut first = true;
    loop {
        let h = read::head(&pool).await?;
        head.fetch_max(h, Ordering::Relaxed);
        // Under a steady stream of appends the head never stands still:
        // stop within a page of it and leave the rest to the caller's
        // final catch-up, which reads up to the head as it is then.
        if h <= next || (!first && h - next < page) || cancel.is_cancelled() {
            return Ok(next);
        }
        first = false;
        let ranges: Vec<(i64, i64)> = (0..)
            .map(|i| next + i * page)
            .take_while(|lo| *lo < h)
            .map(|lo| (lo, (lo + page).min(h)))
            .collect();
        let mut pages = futures::stream::iter(ranges)
            .map(|(lo, hi)| {
                let pool = pool.clone();
                async move {
                    let events = tokio::spawn(read_range(pool, lo, hi))
                        .await
                        .map_err(|e| StoreError::Task(e.to_string()))??;
                    Ok::<_, StoreError>((hi, events))
                }
            })
            .buffered(plan.parallel.max(1));
        while let Some(read) = pages.next().await {
            let (hi, events) = read?;
            next = hi;
            if events.is_empty() {
                continue;
            }
            let events: Page = Arc::new(events);
            for out in &outs {
                if out.send(events.clone()).await.is_err() {
                    return Ok(next);
                }
            }
            if cancel.is_cancelled() {
                return Ok(next);
            }
        }
    }
}
