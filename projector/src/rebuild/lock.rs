//! One replay per projection at a time: a session-level advisory lock on the
//! write database, keyed by namespace and projection.
//!
//! The lock lives on one dedicated connection held for the whole replay. A
//! replay that exits, crashes or is killed with `kill -9` closes that
//! connection, and Postgres releases the lock with it, so a dead replay
//! never blocks the next one. The connection's `application_name` names the
//! holder (`cotalk replay pid=… host=…`), which is how a refused replay can
//! say who holds the lock.

use crate::error::{ProjectorError, Result};
use readmodel::ProjectionName;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

/// First key of every replay lock (ASCII "cRPL"); the second is derived from
/// namespace and projection. Two-key advisory locks live in another space
/// than the event store's one-key append lock, so they never collide.
const REPLAY_CLASS: i32 = 0x6352_504c;

/// Held replay locks; released when dropped (the connection closes).
pub(crate) struct ReplayLock {
    conn: Option<PoolConnection<Postgres>>,
}

fn object_key(namespace: &str, projection: &str) -> i32 {
    let digest = Sha256::digest(format!("{namespace}\0{projection}").as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// This process as named in `pg_stat_activity`.
pub(crate) fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = format!(
        "cotalk replay pid={} host={}",
        std::process::id(),
        host.trim()
    );
    // application_name keeps 63 bytes.
    name.chars().take(63).collect()
}

impl ReplayLock {
    /// Take the locks of every projection in `projections` (all or none),
    /// failing with [`ProjectorError::ReplayRunning`] if one is held.
    pub(crate) async fn acquire(
        pool: &PgPool,
        namespace: &str,
        projections: &[ProjectionName],
    ) -> Result<Self> {
        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(holder_name())
            .execute(&mut *conn)
            .await?;
        for name in projections {
            let key = object_key(namespace, name.as_str());
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(REPLAY_CLASS)
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
            if !got {
                let holder = holder_of(pool, key)
                    .await
                    .unwrap_or_else(|| "holder unknown".to_owned());
                // Closing the connection releases whatever this call took.
                let _ = conn.close().await;
                return Err(ProjectorError::ReplayRunning {
                    projection: name.as_str().to_owned(),
                    holder,
                });
            }
        }
        Ok(Self { conn: Some(conn) })
    }

    /// Check that the lock's connection is still alive: if Postgres dropped
    /// it, the lock is gone too and another replay could start.
    pub(crate) async fn check(&mut self) -> Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(ProjectorError::LockLost);
        };
        sqlx::query("SELECT 1")
            .execute(&mut **conn)
            .await
            .map_err(|_| ProjectorError::LockLost)?;
        Ok(())
    }

    /// Release the locks now.
    pub(crate) async fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

impl Drop for ReplayLock {
    fn drop(&mut self) {
        // A pooled connection would go back to the pool still holding the
        // session lock: detach it so that dropping it closes it.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// Who holds the replay lock of `projection` in `namespace`, if anyone.
pub(crate) async fn held_by(
    pool: &PgPool,
    namespace: &str,
    projection: ProjectionName,
) -> Option<String> {
    holder_of(pool, object_key(namespace, projection.as_str())).await
}

/// Who holds the replay lock `key`: the holder's `application_name`, or
/// its backend pid when that is all Postgres says.
async fn holder_of(pool: &PgPool, key: i32) -> Option<String> {
    let row: Option<(i32, Option<String>, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
        "SELECT a.pid, a.application_name, a.backend_start
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.classid = ($1::bigint & 4294967295)::oid
                AND l.objid = ($2::bigint & 4294967295)::oid
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              LIMIT 1",
    )
    .bind(REPLAY_CLASS as i64)
    .bind(key as i64)
    .fetch_optional(pool)
    .await
    .unwrap_or(None);
    Some(match row? {
        (_, Some(app), started) if app.starts_with("cotalk replay") => {
            let pid = app.trim_start_matches("cotalk replay ");
            match started {
                Some(at) => format!("{pid}, since {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
                None => pid.to_owned(),
            }
        }
        (backend, _, _) => format!("postgres backend pid={backend}"),
    })
}
