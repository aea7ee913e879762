//! Request body limits as a layer a route group configures: the most bytes a
//! body may hold and how long the client may take to send it.
//!
//! - A `Content-Length` over the limit is answered 413 `payload_too_large`
//!   before the body is polled. hyper sends `100 Continue` to a client that
//!   asked for it (`Expect: 100-continue`) only when the body is first polled,
//!   so such a client hears 413 and never sends the body. A body without a
//!   length (chunked) is cut at the limit by the extractors
//!   ([`DefaultBodyLimit`], set by the same layer).
//! - A body that has not fully arrived within the read timeout, counted from
//!   the moment the handler starts reading it, is answered 408
//!   `request_timeout`. The deadline is for the whole body, not between
//!   chunks (tower-http's `RequestBodyTimeout` resets on every chunk, so a
//!   client trickling a byte at a time would never be cut).
//!
//! Both answers close the connection: the rest of the body may still be on
//! its way, and reading it would give the client what the limit denies.
//!
//! The API's route groups share [`BodyLimits::api`]; a group with other
//! needs (an upload route) applies its own before it is merged with the rest
//! (`Router::layer` only wraps the routes the router holds at that point).

use crate::error::ApiError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How large a request body may be and how long it may take to arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// The most bytes a body may hold.
    pub max_bytes: usize,
    /// How long the whole body may take once the handler reads it.
    pub read_timeout: Duration,
}

impl BodyLimits {
    /// The API's JSON bodies: at most [`crate::extract::MAX_BODY_BYTES`].
    pub fn api(read_timeout: Duration) -> Self {
        Self {
            max_bytes: crate::extract::MAX_BODY_BYTES,
            read_timeout,
        }
    }

    /// `router` with these limits on every route it holds now.
    pub fn apply<S>(self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router
            .layer(axum::middleware::from_fn_with_state(self, enforce))
            .layer(DefaultBodyLimit::max(self.max_bytes))
    }
}

async fn enforce(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return closing(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {} bytes", limits.max_bytes),
        ));
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let req = req.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            timeout: limits.read_timeout,
            deadline: None,
            timed_out: flag,
        })
    });
    let res = next.run(req).await;
    // Whatever the extractor made of the failed read (it cannot tell a
    // timeout from a broken body), the answer is the timeout.
    if timed_out.load(Ordering::Acquire) {
        return closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                limits.read_timeout.as_secs()
            ),
        ));
    }
    res
}

/// `error` with `Connection: close`.
fn closing(error: ApiError) -> Response {
    let mut res = error.into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The read deadline passed before the body was complete.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body that fails with [`BodyTimedOut`] once `timeout` has passed
/// since it was first polled, and says so through `timed_out`.
struct DeadlineBody {
    inner: Body,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        // The body first: a frame that is there is taken even at the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err(BodyTimedOut.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
