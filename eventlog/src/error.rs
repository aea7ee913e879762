//! Errors of the event store: [`AppendError`] for writes (each caller of a
//! batch gets its own), [`StoreError`] for reads.

use domain::{DecodeError, EventId, StreamId};
use thiserror::Error;

/// Why one commit was not appended. Every variant means nothing of the commit
/// was stored, except [`AppendError::Unavailable`], whose outcome is unknown
/// when the connection broke during `COMMIT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// The stream was not at the version the decision was based on (or the
    /// commit was decided on top of another commit of the same cache epoch
    /// that failed). The caller reloads and decides again.
    #[error("stream {stream_id} is at version {actual}, not the expected {expected}")]
    Conflict {
        /// The stream whose check failed.
        stream_id: StreamId,
        /// The version the commit expected.
        expected: i64,
        /// The version the stream is at.
        actual: i64,
    },
    /// Another commit already stored an answer for this (user, Idempotency-Key):
    /// the caller re-reads the stored answer.
    #[error("idempotency key already used")]
    IdempotencyKeyExists,
    /// An event id the caller supplied is already in the log.
    #[error("event id {0} is already stored")]
    DuplicateEventId(EventId),
    /// The commit is malformed (events of another stream type, a stream named
    /// twice, …) or the database refused it for a reason the store does not
    /// check itself (a constraint violation found only at insert). Retrying
    /// the same commit will not help.
    #[error("commit rejected: {0}")]
    Rejected(String),
    /// The database is down, timed out or the store is shutting down. The
    /// HTTP layer answers 503 with `Retry-After`.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

/// A read from the event store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The query failed.
    #[error("event store database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored payload could not be decoded (unknown type or version).
    #[error("event at position {position} cannot be decoded: {source}")]
    Decode {
        /// Where the event sits in the log.
        position: i64,
        /// What was wrong with it.
        #[source]
        source: DecodeError,
    },
    /// A stored column holds something this build does not understand.
    #[error("corrupt event row at position {position}: {reason}")]
    Corrupt {
        /// Where the row sits in the log.
        position: i64,
        /// What was wrong with it.
        reason: String,
    },
    /// A task reading or decoding part of the log ended abnormally (it
    /// panicked or its runtime shut down).
    #[error("event log reader task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether the failure is the database being unreachable or overloaded
    /// (worth a 503 and a retry) rather than bad data.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(e) if is_transient(e))
    }
}

/// Whether a database error says "try again later" (connection lost, server
/// shutting down or overloaded, timeouts, serialisation failures) rather than
/// "this statement is wrong".
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception, 53: insufficient resources,
            // 57: operator intervention (admin shutdown, query cancelled by
            // statement_timeout), 40001/40P01: serialisation failure and
            // deadlock, 55P03: lock_timeout.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "40001"
                || code == "40P01"
                || code == "55P03"
        }),
        _ => false,
    }
}

/// Whether `error` says the connection is gone (or never answered), rather
/// than that the server refused a statement and the connection is idle
/// again: worth another connection.
pub(crate) fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01–57P03: the backend was
            // terminated, the server is shutting down or starting.
            code.starts_with("08") || code.starts_with("57P")
        }),
        other => is_transient(other),
    }
}

/// Whether `error` is a wait that ran out (`lock_timeout`,
/// `statement_timeout`): a second attempt would wait as long again.
pub(crate) fn is_wait_exhausted(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().is_some_and(|code| code == "55P03" || code == "57014"))
}
