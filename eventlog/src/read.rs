//! Reads of the event log. Free functions on a pool, as most readers (the
//! relay, the projections' fall-backs, catch-ups in tests) have no
//! [`crate::EventStore`].
//!
//! Gap safety: appends are serialised (see the crate documentation), so
//! positions become visible strictly in increasing order, and
//! `position > after ORDER BY position` never skips a committed event.
//! Positions may still have holes left by rolled-back transactions, which is
//! why "is something missing?" is answered by asking the log which positions
//! exist ([`count_between`]), never by arithmetic on positions.

use crate::decode::{decode, Columns};
use crate::StoreError;
use domain::{StoredEvent, StreamId, StreamType};
use sqlx::PgPool;

/// Events per query of [`read_between`].
const BETWEEN_PAGE: i64 = 1000;

/// Up to `limit` events with a position above `after`, in position order.
///
/// Gap-safe: when this returns position `p`, every event below `p` that will
/// ever be committed already is. A caller may continue from the last
/// position it got and never skips an event, and never waits on a hole a
/// rollback left.
pub async fn read_all(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
        Columns::Full.select()
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit.max(0))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| decode(row, Columns::Full)).collect()
}

/// What one page of the log holds for a follower of one kind of stream:
/// see [`streams_touched`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TouchedPage {
    /// Events the page held, of every kind (0: the follower is at the head).
    pub read: usize,
    /// The page's last position, where the follower continues from.
    pub last: Option<i64>,
    /// The streams of the asked type that the page's events belong to,
    /// each once, in id order.
    pub streams: Vec<StreamId>,
}

/// The same page as [`read_all`] (up to `limit` events after `after`),
/// answered as the ids of the `stream_type` streams it touched and where it
/// ends. For a follower that reloads the streams it cares about (the
/// reminder scheduler and its meet-ups): Postgres reads the page's positions
/// and stream columns and sends one row, instead of every event's payload
/// and metadata for the follower to decode and mostly drop. Gap-safe like
/// [`read_all`].
pub async fn streams_touched(
    pool: &PgPool,
    after: i64,
    limit: i64,
    stream_type: StreamType,
) -> Result<TouchedPage, StoreError> {
    let (read, last, streams): (i64, Option<i64>, Vec<uuid::Uuid>) = sqlx::query_as(
        "SELECT count(*), max(position),
                coalesce(array_agg(DISTINCT stream_id) FILTER (WHERE stream_type = $3), '{}')
         FROM (SELECT position, stream_id, stream_type FROM events
               WHERE position > $1 ORDER BY position LIMIT $2) AS page",
    )
    .bind(after)
    .bind(limit.max(0))
    .bind(stream_type.as_str())
    .fetch_one(pool)
    .await?;
    Ok(TouchedPage {
        read: read as usize,
        last,
        streams: streams.into_iter().map(StreamId).collect(),
    })
}

/// Every event with `after < position < before`, in order, read in pages.
pub async fn read_between(
    pool: &PgPool,
    after: i64,
    before: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = read_all(pool, cursor, BETWEEN_PAGE).await?;
        let full = page.len() as i64 == BETWEEN_PAGE;
        for event in page {
            if event.position >= before {
                return Ok(out);
            }
            cursor = event.position;
            out.push(event);
        }
        if !full {
            return Ok(out);
        }
    }
}

/// How many events exist with `after < position < before` (an index-only
/// count: tells a hole left by a rollback from a lost message).
pub async fn count_between(pool: &PgPool, after: i64, before: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM events WHERE position > $1 AND position < $2")
            .bind(after)
            .bind(before)
            .fetch_one(pool)
            .await?,
    )
}

/// Up to `limit` events of one stream with a version above `after_version`, in
/// version order.
pub async fn read_stream_page(
    pool: &PgPool,
    stream_id: StreamId,
    after_version: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version LIMIT $3",
        Columns::Full.select()
    );
    let rows = sqlx::query(&sql)
        .bind(stream_id.0)
        .bind(after_version)
        .bind(limit.max(0))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| decode(row, Columns::Full)).collect()
}

/// Position of the last committed event (0 for an empty log).
pub async fn head(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(max(position), 0)::bigint FROM events")
            .fetch_one(pool)
            .await?,
    )
}
