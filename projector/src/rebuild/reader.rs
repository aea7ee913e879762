//! The replay's reader: the log straight from Postgres in large pages, read
//! ahead of the appliers and decoded on several threads
//! ([`eventlog::scan`], which explains why that is gap-safe).

use crate::error::Result;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) use eventlog::scan::{Page, ScanPlan as ReadPlan};

/// Read everything after `after` and send it, in order, to every sender in
/// `outs`; `head` is kept at the last head read. Returns the last position
/// sent (or `after`); an applier that stopped makes it return early, and the
/// caller learns why from the applier.
pub(crate) async fn run(
    pool: sqlx::PgPool,
    after: i64,
    plan: ReadPlan,
    outs: Vec<mpsc::Sender<Page>>,
    head: Arc<AtomicI64>,
    cancel: CancellationToken,
) -> Result<i64> {
    Ok(eventlog::scan::read_pages(pool, after, plan, outs, head, cancel).await?)
}
