//! How the query side fails. A dependency that is down or overloaded is a
//! 503 `dependency_unavailable` with `Retry-After` (the client should retry,
//! nothing is wrong with its request); stored data that does not decode is a
//! bug or corruption and answers a logged 500. Errors found after reading the
//! projections (a room the caller may not see) still carry `X-Position`, so a
//! client can tell "not there yet" from "not there at this position".

use api::{ApiError, Position};
use axum::response::{IntoResponse, Response};

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: u64 = 1;

/// 503 `dependency_unavailable`, logging the cause.
pub(crate) fn unavailable(context: &str, cause: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %cause, context, "dependency unavailable");
    ApiError::unavailable(
        "dependency_unavailable",
        "a backing store is unavailable, retry shortly",
        RETRY_AFTER_SECS,
    )
}

/// A dependency error: 503 when it is about reaching the dependency, a
/// logged 500 otherwise.
pub(crate) fn dependency<E: DependencyError>(context: &str, e: E) -> ApiError {
    if e.is_outage() {
        unavailable(context, e)
    } else {
        ApiError::internal(context, e)
    }
}

/// Errors that can tell an outage (retry later) from a bug.
pub(crate) trait DependencyError: std::fmt::Display {
    /// The dependency is down, restarting, overloaded or unreachable.
    fn is_outage(&self) -> bool;
}

impl DependencyError for redis::RedisError {
    fn is_outage(&self) -> bool {
        use redis::ErrorKind as K;
        self.is_io_error()
            || self.is_timeout()
            || self.is_connection_refusal()
            || self.is_connection_dropped()
            || matches!(
                self.kind(),
                K::BusyLoadingError | K::TryAgain | K::ClusterDown | K::MasterDown | K::IoError
            )
    }
}

impl DependencyError for sqlx::Error {
    fn is_outage(&self) -> bool {
        match self {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                // 08: connection exceptions; 53: insufficient resources;
                // 57P0x: shutdown / cannot connect now; 40001 / 40P01:
                // serialization and recovery conflicts (hot standby).
                c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57P")
                    || c == "40001"
                    || c == "40P01"
            }),
            _ => false,
        }
    }
}

/// A failed query answer, with the position it was decided at when known.
#[derive(Debug)]
pub struct Fail {
    /// The error answered.
    pub error: ApiError,
    /// `X-Position` of the answer, when the projections were read.
    pub position: Option<i64>,
}

impl Fail {
    /// An error decided after reading the projections at `position`.
    pub(crate) fn at(error: impl Into<ApiError>, position: i64) -> Self {
        Self {
            error: error.into(),
            position: Some(position),
        }
    }
}

impl From<ApiError> for Fail {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            position: None,
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        match self.position {
            Some(p) => (Position(p), self.error).into_response(),
            None => self.error.into_response(),
        }
    }
}
