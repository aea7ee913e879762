//! The load generator of `bench append`: one HTTP/1.1 connection per client,
//! posting one body encoded once, and reading only the status of each answer.
//!
//! `bench append` compares the server's posts per second with pgbench's
//! transactions per second on the same two cores, where the load generator
//! competes with the server for CPU. pgbench's client is lean C; the typed
//! test client (reqwest, a JSON body encoded and an answer decoded per post)
//! cost 24–34 µs of CPU per post, two to three times pgbench's 11–12 per
//! transaction (issue 20). This one does what `wrk` would.

use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, Request, StatusCode};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Largest answer read back (a posted message's answer is under 200 bytes).
const ANSWER_LIMIT: usize = 64 << 10;

/// One client posting as one user over one connection, made again after an
/// error.
pub struct Poster {
    /// `host:port` of the server.
    address: String,
    host: HeaderValue,
    authorization: HeaderValue,
    body: Bytes,
    sender: Option<SendRequest<Body>>,
}

impl Poster {
    /// A poster to `base` (`http://host:port`) as the holder of `token`,
    /// sending `body` (JSON) with every post.
    pub fn new(base: &str, token: &str, body: Bytes) -> anyhow::Result<Self> {
        let address = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("the load generator speaks plain http, not {base}"))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            host: HeaderValue::from_str(&address)?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))?,
            address,
            body,
            sender: None,
        })
    }

    /// POST the body to `path`; whether the server answered 201 Created.
    pub async fn post(&mut self, path: &str) -> bool {
        if self.sender.is_none() {
            self.sender = self.connect().await;
        }
        let Some(sender) = self.sender.as_mut() else {
            return false;
        };
        let request = Request::post(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Body::from(self.body.clone()));
        let Ok(request) = request else {
            return false;
        };
        let answered = match sender.ready().await {
            Ok(()) => sender.send_request(request).await,
            Err(e) => Err(e),
        };
        let Ok(response) = answered else {
            self.sender = None;
            return false;
        };
        let created = response.status() == StatusCode::CREATED;
        // The answer is read to its end so the connection can carry the next.
        let read = axum::body::to_bytes(Body::new(response.into_body()), ANSWER_LIMIT).await;
        if read.is_err() {
            self.sender = None;
        }
        created && read.is_ok()
    }

    async fn connect(&self) -> Option<SendRequest<Body>> {
        let stream = TcpStream::connect(&self.address).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(connection);
        Some(sender)
    }
}
