//! The scheduler's lease: a Postgres session-level advisory lock held on a
//! connection of its own. Only the session holding it fires reminders; when
//! that session ends (the process died, was killed, or lost the network)
//! Postgres releases the lock and a standby takes it over.
//!
//! An advisory lock rather than a lease row with an expiry: it needs no
//! clock agreement between nodes and is released the moment the holder's
//! connection closes (a `kill -9` closes it), so a standby takes over
//! within one poll instead of one lease period. Safety does not rest on the
//! lease anyway (two firings of one reminder share an event id and the log
//! stores it once); the lease only keeps a second node from doing the work
//! twice.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::time::Duration;

/// The advisory lock key of the reminder scheduler (the lock is per
/// database, so one per event log).
const LOCK_KEY: i64 = 0x636f_7461_6c6b_1701;

/// The lease connection's `application_name` prefix (then `-<pid>`).
pub const APPLICATION_NAME: &str = "cotalk-scheduler";

/// How long one lease statement may take before the lease counts as lost.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection that may hold the lease.
pub struct Lease {
    conn: PgConnection,
    held: bool,
}

impl Lease {
    /// Open the lease's own connection (not holding the lease yet).
    pub async fn connect(database_url: &str) -> Result<Self, sqlx::Error> {
        // The process id in the name tells an operator (and the fault test)
        // which process holds the lease.
        let name = format!("{APPLICATION_NAME}-{}", std::process::id());
        let options = PgConnectOptions::from_str(database_url)?.application_name(&name);
        let conn = tokio::time::timeout(STATEMENT_TIMEOUT, options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        Ok(Self { conn, held: false })
    }

    /// Take the lease if no other session holds it; `true` when this
    /// session holds it (now or already).
    pub async fn try_acquire(&mut self) -> Result<bool, sqlx::Error> {
        if self.held {
            return self.renew().await.map(|()| true);
        }
        let got = tokio::time::timeout(
            STATEMENT_TIMEOUT,
            sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(&mut self.conn),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
        self.held = got;
        Ok(got)
    }

    /// Prove the session holding the lease is still alive (the lock lives
    /// exactly as long as the session). An error means the lease may be
    /// gone: the caller stops firing and drops this connection.
    pub async fn renew(&mut self) -> Result<(), sqlx::Error> {
        tokio::time::timeout(STATEMENT_TIMEOUT, self.conn.ping())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Give the lease up at a clean shutdown (a standby takes over at once).
    pub async fn release(mut self) {
        if self.held {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut self.conn)
                .await;
        }
        let _ = self.conn.close().await;
    }
}
