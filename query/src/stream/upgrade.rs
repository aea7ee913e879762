//! The WebSocket handshake of `GET /v1/stream`, done here (with
//! tungstenite's checks and answer) rather than by axum's `WebSocketUpgrade`,
//! so that a connection keeps its socket.
//!
//! Why the socket matters: a client message over the size limit makes
//! tungstenite fail after reading only the frame's header, and the stream
//! of messages ends there. The rest of the frame is still unread in the
//! kernel; closing a socket with unread data makes the kernel send a TCP
//! reset instead of a FIN, and a client that gets the reset may drop the
//! close frame sent just before it. So after such an error the connection
//! sends its close frame (1009 and friends), shuts its side down, and reads
//! and discards what the client still sends, for a bounded time, before
//! closing: an orderly close ([`super::conn`]). axum's socket does not give
//! its transport back; tokio-tungstenite's does.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use tokio_tungstenite::tungstenite::handshake::server::create_response_with_body;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

/// An upgraded stream connection.
pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// A request's WebSocket handshake, when it is a valid one (HTTP/1.1
/// `GET` with `Connection: upgrade`, `Upgrade: websocket`,
/// `Sec-WebSocket-Version: 13` and a key).
pub(crate) struct Handshake(Option<Upgrade>);

/// A valid handshake, ready to be answered.
pub(crate) struct Upgrade {
    response: Response,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let mut request = http::Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        let Ok(response) = create_response_with_body(&request, Body::empty) else {
            return Ok(Self(None));
        };
        // Present when the server can hand the connection over (HTTP/1.1).
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Ok(Self(None));
        };
        Ok(Self(Some(Upgrade {
            response,
            on_upgrade,
        })))
    }
}

impl Handshake {
    /// The handshake, if the request is a valid one.
    pub(crate) fn valid(self) -> Option<Upgrade> {
        self.0
    }
}

impl Upgrade {
    /// Answer `101 Switching Protocols` and, once the connection is handed
    /// over, run `serve` on it.
    pub(crate) fn accept<F, Fut>(self, config: WebSocketConfig, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let socket =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                    serve(socket).await;
                }
                Err(e) => debug!(error = %e, "stream upgrade failed"),
            }
        });
        self.response
    }
}
