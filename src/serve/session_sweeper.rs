//! The session sweeper: rows of sessions that were revoked, or whose
//! refresh token expired, more than a day ago (`sessions::store::ENDED_KEPT`)
//! are deleted with their refresh tokens, so the table holds what can still
//! be used or listed rather than every login ever made. Every command node
//! runs it (the deletes are idempotent); a failed pass (Postgres restarting)
//! is logged and the next one runs on time.

use command::sessions::store;
use sqlx::PgPool;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Time between passes.
const EVERY: Duration = Duration::from_secs(600);

/// Statements one pass runs at most (each deletes a bounded batch).
const MAX_STATEMENTS: usize = 100;

/// Start the sweeper; it stops when `cancel` fires.
pub fn spawn(pool: PgPool, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
            match pass(&pool).await {
                Ok(0) => {}
                Ok(deleted) => info!(deleted, "ended sessions swept"),
                Err(e) => warn!(code = e.code, "session sweep failed; retrying next pass"),
            }
        }
    })
}

/// One pass: delete batches until one comes back short.
pub async fn pass(pool: &PgPool) -> Result<u64, api::ApiError> {
    let mut deleted = 0;
    for _ in 0..MAX_STATEMENTS {
        let n = store::sweep(pool, chrono::Utc::now()).await?;
        deleted += n;
        if n == 0 {
            break;
        }
    }
    Ok(deleted)
}
