//! Who holds a lease, as Postgres sees it (`pg_locks` joined with
//! `pg_stat_activity`): what an operator's status shows for each lease.

use crate::LeaseKey;
use sqlx::PgPool;
use std::fmt;

/// The session holding a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its `application_name` (`cotalk-<name>-<pid>`), when visible.
    pub application_name: Option<String>,
    /// Its client address (`None` on a Unix socket or when not visible).
    pub client_addr: Option<String>,
    /// The Postgres backend serving it.
    pub backend_pid: i32,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.application_name {
            Some(name) if !name.is_empty() => write!(f, "{name}")?,
            _ => write!(f, "postgres backend pid={}", self.backend_pid)?,
        }
        if let Some(addr) = &self.client_addr {
            write!(f, " at {addr}")?;
        }
        Ok(())
    }
}

/// Who holds `key` in the database of `pool` (the event-log database the
/// leases are taken on), if anyone.
pub async fn holder(pool: &PgPool, key: &LeaseKey) -> Result<Option<Holder>, sqlx::Error> {
    let (class, object) = key.lock_ids();
    // pg_locks shows the two int4 keys as oids (unsigned): compare as such.
    let row: Option<(i32, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT l.pid, a.application_name, host(a.client_addr)
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
            AND l.classid = ($1::bigint & 4294967295)::oid
            AND l.objid = ($2::bigint & 4294967295)::oid
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          LIMIT 1",
    )
    .bind(class as i64)
    .bind(object as i64)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(backend_pid, application_name, client_addr)| Holder {
            application_name,
            client_addr,
            backend_pid,
        }),
    )
}
