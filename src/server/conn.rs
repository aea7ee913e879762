//! One HTTP/1.1 connection: hyper serves it, this module decides when a
//! client has had long enough.
//!
//! hyper's own `header_read_timeout` (1.12) starts when the connection
//! starts waiting for a request head, so the wait for the next request on an
//! idle keep-alive connection and the reading of a head share one timer: a
//! keep-alive connection could not stay idle longer than a head may take to
//! arrive. The two are different things (an idle connection costs a file
//! descriptor; a half-sent head is a client holding one on purpose), so the
//! connection keeps its own [`Clock`] instead and hyper's timer is off:
//!
//! - a new connection has the header-read timeout to deliver its first head;
//! - after an answer it is idle: the idle timeout runs until the first byte
//!   of the next request, which starts the header-read timeout;
//! - while a request is being answered (from its complete head until the
//!   answer's body is done) no connection timer runs: the body-read timeout
//!   is the route's (`api::limits`), and handlers bound their own waits.
//!
//! When a timer runs out the connection is dropped (closed). A WebSocket
//! upgrade ends hyper's part of the connection: from then on only the
//! stream's heartbeat watches it.

use super::{AddressSlot, HttpOptions};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::Router;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Where a connection is between requests (see the module documentation).
#[derive(Debug)]
struct Phase {
    /// Requests whose answer is not done yet.
    in_flight: usize,
    /// Whether a request has been answered on this connection.
    answered: bool,
    /// When the connection was opened or last answered a request.
    idle_since: Instant,
    /// When the first byte of the next request head arrived, since then.
    head_since: Option<Instant>,
}

/// The timers of one connection.
struct Clock {
    phase: Mutex<Phase>,
    /// Woken when the deadline may have moved earlier or appeared.
    changed: Notify,
}

impl Clock {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase {
                in_flight: 0,
                answered: false,
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // The phase is plain data, valid whatever a panicking holder did.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the connection is to be closed, if it stays as it is.
    fn deadline(&self, options: &HttpOptions) -> Option<Instant> {
        let p = self.phase();
        if p.in_flight > 0 {
            None
        } else if let Some(since) = p.head_since {
            Some(since + options.header_read_timeout)
        } else if !p.answered {
            Some(p.idle_since + options.header_read_timeout)
        } else {
            Some(p.idle_since + options.idle_timeout)
        }
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        let mut p = self.phase();
        if p.in_flight == 0 && p.head_since.is_none() {
            p.head_since = Some(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    /// A request head is complete and goes to the router.
    fn begin(self: &Arc<Self>) -> Answering {
        self.phase().in_flight += 1;
        Answering(self.clone())
    }
}

/// A request being answered; dropped when its answer is done (or abandoned).
struct Answering(Arc<Clock>);

impl Drop for Answering {
    fn drop(&mut self) {
        let mut p = self.0.phase();
        p.in_flight = p.in_flight.saturating_sub(1);
        p.answered = true;
        p.idle_since = Instant::now();
        p.head_since = None;
        drop(p);
        self.0.changed.notify_one();
    }
}

/// An answer's body that ends the request's [`Answering`] when it is done.
struct AnswerBody {
    inner: Body,
    answering: Option<Answering>,
}

impl HttpBody for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.answering = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The client's socket, telling the [`Clock`] when bytes arrive, and holding
/// the address's connection slot for as long as the socket lives (through a
/// WebSocket upgrade too).
struct Watched {
    stream: TcpStream,
    clock: Arc<Clock>,
    _slot: AddressSlot,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serve `router` on one accepted connection until it ends, a timer runs
/// out, or (after `shutdown`) its in-flight request is answered.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    slot: AddressSlot,
    router: Router,
    options: HttpOptions,
    shutdown: CancellationToken,
) {
    let clock = Arc::new(Clock::new());
    let io = hyper_util::rt::TokioIo::new(Watched {
        stream,
        clock: clock.clone(),
        _slot: slot,
    });
    let requests = clock.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        // The per-address login limit reads the peer address.
        req.extensions_mut().insert(ConnectInfo(peer));
        let answering = requests.begin();
        let router = router.clone();
        async move {
            let res = router.oneshot(req.map(Body::new)).await?;
            Ok::<_, Infallible>(res.map(|inner| AnswerBody {
                inner,
                answering: Some(answering),
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The connection's own clock replaces hyper's header timer (see above).
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = clock.deadline(&options);
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = clock.changed.notified() => {}
            () = expiry => {
                if clock.deadline(&options).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%peer, "closing a connection that ran out of time");
                    metrics::counter!("cotalk_http_connections_timed_out_total").increment(1);
                    return;
                }
            }
            () = shutdown.cancelled(), if !draining => {
                // Idle connections close now, busy ones after their answer.
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}
