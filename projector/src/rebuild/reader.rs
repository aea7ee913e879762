//! The replay's reader: the log straight from Postgres, in large pages read
//! ahead of the appliers and decoded on several threads.
//!
//! Gap safety: appends are serialised (see `command::store`), so once the
//! log's head `H` is visible, every position below it is committed or will
//! never be. Below a head read beforehand, ranges of positions can therefore
//! be read in any order and in parallel (`position > lo AND position <= hi`)
//! and reassembled in order without skipping anything; past it, the reader
//! reads the head again. It stops when a fresh head read finds less than a
//! page more.

use crate::error::{ProjectorError, Result};
use crate::source;
use domain::event::{DomainEvent, EventMetadata, StoredEvent, StreamType};
use domain::ids::{EventId, StreamId};
use futures::StreamExt;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use sqlx::Row;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A page of the log, shared by every applier it goes to.
pub(crate) type Page = Arc<Vec<StoredEvent>>;

/// How the reader reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadPlan {
    /// Positions per page (a page holds at most this many events).
    pub page: i64,
    /// Pages read (and decoded) at once.
    pub parallel: usize,
}

/// Read `(lo, hi]` and decode it.
///
/// Leaner than the event store's reader: the payload comes as JSON text and
/// is parsed straight into its event type (see [`DomainEvent::decode_json`]),
/// and `metadata` is not read at all, since no projection uses it (who did
/// what is in the payloads). Replayed events carry default metadata.
async fn read_range(pool: PgPool, lo: i64, hi: i64) -> Result<Vec<StoredEvent>> {
    let rows = sqlx::query(
        "SELECT position, event_id, stream_id, stream_type, version, event_type,
                schema_version, payload::text, recorded_at
           FROM events WHERE position > $1 AND position <= $2 ORDER BY position",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&pool)
    .await?;
    // Decoding JSON is the CPU-heavy half of reading: off the async threads,
    // so parallel pages decode in parallel.
    tokio::task::spawn_blocking(move || rows.iter().map(decode).collect())
        .await
        .map_err(|e| ProjectorError::Store(e.to_string()))?
}

fn decode(row: &PgRow) -> Result<StoredEvent> {
    let position: i64 = row.try_get(0)?;
    let corrupt = |reason: String| ProjectorError::Store(format!("event {position}: {reason}"));
    let stream_type: &str = row.try_get(3)?;
    let stream_type = StreamType::parse(stream_type)
        .ok_or_else(|| corrupt(format!("unknown stream type {stream_type}")))?;
    let schema_version: i16 = row.try_get(6)?;
    let schema_version = u16::try_from(schema_version)
        .map_err(|_| corrupt(format!("negative schema version {schema_version}")))?;
    let event_type: &str = row.try_get(5)?;
    let payload: &str = row.try_get(7)?;
    let event = DomainEvent::decode_json(event_type, schema_version, payload)
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(StoredEvent {
        position,
        event_id: EventId(row.try_get(1)?),
        stream_id: StreamId(row.try_get(2)?),
        stream_type,
        version: row.try_get(4)?,
        metadata: EventMetadata::default(),
        recorded_at: row.try_get(8)?,
        event,
    })
}

/// Read everything after `after` and send it, in order, to every sender in
/// `outs`; `head` is kept at the last head read. Returns the last position
/// sent (or `after`).
pub(crate) async fn run(
    pool: PgPool,
    after: i64,
    plan: ReadPlan,
    outs: Vec<mpsc::Sender<Page>>,
    head: Arc<AtomicI64>,
    cancel: CancellationToken,
) -> Result<i64> {
    let mut next = after;
    let page = plan.page.max(1);
    let mut first = true;
    loop {
        let h = source::head(&pool).await?;
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
                        .map_err(|e| ProjectorError::Store(e.to_string()))??;
                    Ok::<_, ProjectorError>((hi, events))
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
                    // An applier stopped (it failed or was cancelled): the
                    // caller learns why from it.
                    return Ok(next);
                }
            }
            if cancel.is_cancelled() {
                return Ok(next);
            }
        }
    }
}
