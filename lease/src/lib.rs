//! Leases on Postgres: of all the nodes that run a named task, exactly one
//! runs it at a time, and when that one dies another takes over.
//!
//! A lease is a session-level advisory lock on the event-log database, held
//! on a connection of its own ([`Lease`]), keyed by namespace and name
//! ([`LeaseKey`]): the reminder scheduler, the relay and each shared
//! projection hold one each, so two nodes may split the work. An advisory
//! lock rather than a lease row with an expiry: it needs no clock agreement
//! between nodes and Postgres frees it the moment the holder's session ends
//! (a `kill -9` closes the socket), so a standby takes over within one poll
//! instead of one lease period.
//!
//! [`spawn`] runs a task under a lease: poll for it, run the task while
//! holding it, renew it, and stop the task before giving the lease up.
//! [`holder`] says who holds one (for the operator's status).
//!
//! Modules:
//! - [`key`]: which lock a lease is and how its holder is named.
//! - [`lock`]: the lease connection (acquire, renew, release).
//! - [`run`]: a task run under a lease, and its pacing ([`Timing`]).
//! - [`holder`]: who holds a lease, from `pg_locks`.

pub mod holder;
pub mod key;
pub mod lock;
pub mod run;

pub use holder::{holder, Holder};
pub use key::LeaseKey;
pub use lock::Lease;
pub use run::{spawn, Leased, Timing};

use std::time::Duration;
use thiserror::Error;

/// Why a lease could not be taken or kept.
#[derive(Debug, Error)]
pub enum LeaseError {
    /// Postgres refused or the connection failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A lease statement did not answer in time (the lease counts as lost).
    #[error("{what} took longer than {limit:?}")]
    TimedOut {
        /// What was being done.
        what: &'static str,
        /// How long it may take.
        limit: Duration,
    },
}

/// `Result` with [`LeaseError`].
pub type Result<T, E = LeaseError> = std::result::Result<T, E>;
