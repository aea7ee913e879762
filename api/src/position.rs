//! Read-your-writes headers. A command answers with the `position` of its last
//! event; a query may send it back as `X-Min-Position` and the server waits
//! (up to 2 s, or `X-Max-Wait-Ms` up to 10 s) until the projections the route
//! reads have applied it. Every query answer carries `X-Position`.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};
use std::time::Duration;

/// `X-Position`: the position the answer reflects.
pub const X_POSITION: HeaderName = HeaderName::from_static("x-position");
/// `X-Min-Position`: the position the answer must reflect at least.
pub const X_MIN_POSITION: HeaderName = HeaderName::from_static("x-min-position");
/// `X-Max-Wait-Ms`: how long the caller is willing to wait for it.
pub const X_MAX_WAIT_MS: HeaderName = HeaderName::from_static("x-max-wait-ms");

/// Default wait for `X-Min-Position`.
pub const DEFAULT_WAIT: Duration = Duration::from_millis(2000);
/// Longest wait a caller may ask for.
pub const MAX_WAIT: Duration = Duration::from_millis(10_000);

/// The read-your-writes request of a query.
#[derive(Debug, Clone, Copy)]
pub struct MinPosition {
    /// The position to reach (0 when the caller asked for none).
    pub position: i64,
    /// How long to wait for it.
    pub wait: Duration,
}

fn header_number(parts: &Parts, name: &HeaderName) -> Result<Option<i64>, ApiError> {
    match parts.headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_request(format!("{name} must be a non-negative integer"))
            }),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MinPosition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let position = header_number(parts, &X_MIN_POSITION)?.unwrap_or(0);
        let wait = header_number(parts, &X_MAX_WAIT_MS)?
            .map(|ms| Duration::from_millis(ms as u64).min(MAX_WAIT))
            .unwrap_or(DEFAULT_WAIT);
        Ok(Self { position, wait })
    }
}

/// The `X-Position` header of an answer.
#[derive(Debug, Clone, Copy)]
pub struct Position(pub i64);

impl IntoResponseParts for Position {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.headers_mut()
            .insert(X_POSITION, HeaderValue::from(self.0));
        Ok(res)
    }
}

/// 503 `projection_lagging`: the projections did not reach the position in time.
pub fn lagging(wanted: i64, have: i64) -> ApiError {
    ApiError::unavailable(
        "projection_lagging",
        format!("projections are at position {have}, {wanted} was asked for"),
        1,
    )
}
