//! Headers every answer gets unless its route set its own:
//!
//! - `Cache-Control: no-store`: answers carry one user's data (rooms,
//!   messages, tokens) and errors about it; no shared or private cache keeps
//!   them. The embedded web assets set `no-cache` with an `ETag` themselves.
//! - `Referrer-Policy: no-referrer`: the pages link nowhere else, and
//!   addresses may carry what other sites need not see.
//! - `X-Content-Type-Options: nosniff`: every answer says what it is.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Middleware adding the headers above (use with `axum::middleware::from_fn`).
pub async fn defaults(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    res
}
