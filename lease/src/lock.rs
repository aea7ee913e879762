//! The lease connection: a Postgres session that may hold one lease's
//! advisory lock. The lock lives exactly as long as the session, so holding
//! the lease means keeping this connection alive, and proving it alive
//! ([`Lease::renew`]) is proving the lease still held.

use crate::{LeaseError, LeaseKey, Result};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::time::Duration;

/// How fast Postgres notices a holder that vanished without closing its
/// connection (a cut network, a host gone): keepalive probes after 2 s of
/// silence, 1 s apart, the session ended after 2 unanswered, and unanswered
/// data given up after 4 s. A live holder renews every 250 ms, so it is
/// never silent that long, and it notices a dead connection (and stops its
/// task) within one renewal plus one statement timeout: before Postgres
/// frees the lock for someone else. Ignored on Unix sockets.
const SESSION_SETTINGS: &str = "SELECT set_config('tcp_keepalives_idle', '2', false), \
     set_config('tcp_keepalives_interval', '1', false), \
     set_config('tcp_keepalives_count', '2', false), \
     set_config('tcp_user_timeout', '4000', false)";

/// A connection that may hold a lease.
pub struct Lease {
    conn: PgConnection,
    key: LeaseKey,
    ids: (i32, i32),
    timeout: Duration,
    held: bool,
}

impl Lease {
    /// Open the lease's own connection to `database_url` (not holding the
    /// lease yet). Every statement on it, the connect included, may take
    /// `timeout`; longer counts as a failure.
    pub async fn connect(database_url: &str, key: &LeaseKey, timeout: Duration) -> Result<Self> {
        let options =
            PgConnectOptions::from_str(database_url)?.application_name(&key.application_name());
        let mut conn = match tokio::time::timeout(timeout, options.connect()).await {
            Ok(conn) => conn?,
            Err(_) => return Err(timed_out("connect", timeout)),
        };
        let settings = sqlx::query(SESSION_SETTINGS).execute(&mut conn);
        match tokio::time::timeout(timeout, settings).await {
            Ok(done) => {
                done?;
            }
            Err(_) => return Err(timed_out("session settings", timeout)),
        }
        Ok(Self {
            conn,
            ids: key.lock_ids(),
            key: key.clone(),
            timeout,
            held: false,
        })
    }

    /// Which lease this is.
    pub fn key(&self) -> &LeaseKey {
        &self.key
    }

    /// Whether this session holds the lease (as of the last call).
    pub fn held(&self) -> bool {
        self.held
    }

    /// Take the lease if no other session holds it; `true` when this
    /// session holds it (now or already).
    pub async fn try_acquire(&mut self) -> Result<bool> {
        if self.held {
            return self.renew().await.map(|()| true);
        }
        let (class, object) = self.ids;
        let ask = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1, $2)")
            .bind(class)
            .bind(object)
            .fetch_one(&mut self.conn);
        let got = match tokio::time::timeout(self.timeout, ask).await {
            Ok(got) => got?,
            Err(_) => return Err(timed_out("take the lease", self.timeout)),
        };
        self.held = got;
        Ok(got)
    }

    /// Prove the session is still alive (the lock lives exactly as long as
    /// the session). An error means the lease may be gone: the caller stops
    /// its task and drops this connection.
    pub async fn renew(&mut self) -> Result<()> {
        match tokio::time::timeout(self.timeout, self.conn.ping()).await {
            Ok(pinged) => Ok(pinged?),
            Err(_) => Err(timed_out("renew the lease", self.timeout)),
        }
    }

    /// Give the lease up (a standby takes over at its next poll) and close
    /// the connection.
    pub async fn release(mut self) {
        if self.held {
            let (class, object) = self.ids;
            let unlock = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(class)
                .bind(object)
                .execute(&mut self.conn);
            let _ = tokio::time::timeout(self.timeout, unlock).await;
        }
        // Closing ends the session, which frees the lock even if the unlock
        // above failed.
        let _ = tokio::time::timeout(self.timeout, self.conn.close()).await;
    }
}

/// `what` took longer than `limit`.
fn timed_out(what: &'static str, limit: Duration) -> LeaseError {
    LeaseError::TimedOut { what, limit }
}
