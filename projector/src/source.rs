//! Reading the event log (the write database): the only source of truth.
//!
//! Ordering: appends are serialised by the event store (positions are taken
//! inside the append transaction after an advisory lock), so positions become
//! visible strictly in increasing order. `position > after ORDER BY position`
//! therefore never skips a committed event; positions may still have holes
//! left by rolled-back transactions, which is why "is something missing?" is
//! always answered by asking the log which positions exist, never by
//! arithmetic on positions.

use crate::error::{ProjectorError, Result};
use domain::event::StoredEvent;
use sqlx::PgPool;

/// Up to `limit` events with `position > after`, in position order (the
/// event store's gap-safe reader).
pub async fn read_after(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    read_log(pool, after, limit).await
}

/// Every event with `after < position < before`, in order, read in pages.
pub async fn read_between(pool: &PgPool, after: i64, before: i64) -> Result<Vec<StoredEvent>> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = read_after(pool, cursor, 1000).await?;
        let full = page.len() == 1000;
        for e in page {
            if e.position >= before {
                return Ok(out);
            }
            cursor = e.position;
            out.push(e);
        }
        if !full {
            return Ok(out);
        }
    }
}

/// How many events exist with `after < position < before` (an index-only
/// count: used to tell a hole left by a rollback from a lost message).
pub async fn count_between(pool: &PgPool, after: i64, before: i64) -> Result<i64> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE position > $1 AND position < $2")
            .bind(after)
            .bind(before)
            .fetch_one(pool)
            .await?;
    Ok(n)
}

/// The position of the newest committed event (0 for an empty log).
pub async fn head(pool: &PgPool) -> Result<i64> {
    let n: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(n.unwrap_or(0))
}

async fn read_log(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    command::store::read_all(pool, after, limit)
        .await
        .map_err(|e| ProjectorError::Store(e.to_string()))
}
