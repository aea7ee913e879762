//! Reading the event log (the write database): the only source of truth,
//! through the `eventlog` crate's gap-safe readers (see [`eventlog::read`]
//! for why continuing from the last position seen never skips an event).

use crate::error::Result;
use domain::event::StoredEvent;
use sqlx::PgPool;

/// Up to `limit` events with `position > after`, in position order.
pub async fn read_after(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    Ok(eventlog::read_all(pool, after, limit).await?)
}

/// Every event with `after < position < before`, in order, read in pages.
pub async fn read_between(pool: &PgPool, after: i64, before: i64) -> Result<Vec<StoredEvent>> {
    Ok(eventlog::read_between(pool, after, before).await?)
}

/// How many events exist with `after < position < before` (an index-only
/// count: used to tell a hole left by a rollback from a lost message).
pub async fn count_between(pool: &PgPool, after: i64, before: i64) -> Result<i64> {
    Ok(eventlog::count_between(pool, after, before).await?)
}

/// The position of the newest committed event (0 for an empty log).
pub async fn head(pool: &PgPool) -> Result<i64> {
    Ok(eventlog::head(pool).await?)
}
