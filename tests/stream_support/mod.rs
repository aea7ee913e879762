//! WebSocket clients of `GET /v1/stream`, request helpers and in-process
//! nodes of one role, for the stream tests.

#![allow(dead_code)]

use crate::support::{Server, User};
use contract::commands::DirectRoomRequest;
use cotalk::config::{Config, Role};
use domain::RoomId;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// Longest wait for any one frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(15);

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Connect to `base` as `user` (header token, or `?token=` when `in_query`),
/// retrying while the node's fan-out is still connecting (503).
pub async fn connect_with(base: &str, user: &User, after: Option<i64>, in_query: bool) -> Client {
    let ws_base = base.replacen("http://", "ws://", 1);
    let mut url = format!("{ws_base}/v1/stream");
    let mut params = Vec::new();
    if let Some(a) = after {
        params.push(format!("after={a}"));
    }
    if in_query {
        params.push(format!("token={}", user.token));
    }
    if !params.is_empty() {
        url = format!("{url}?{}", params.join("&"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut req = url.as_str().into_client_request().unwrap();
        if !in_query {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {}", user.token).parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => return Client { ws },
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot connect the stream: {e}"),
        }
    }
}

pub async fn connect(base: &str, user: &User, after: Option<i64>) -> Client {
    connect_with(base, user, after, false).await
}

impl Client {
    /// The next frame (pings and pongs skipped); panics on close or timeout.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = timeout(FRAME_WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("stream open")
                .expect("stream readable");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("frame is JSON"),
                Message::Close(c) => panic!("stream closed: {c:?}"),
                _ => {}
            }
        }
    }

    /// Frames up to and including the first one matching `stop`.
    pub async fn until(&mut self, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let f = self.next().await;
            let done = stop(&f);
            got.push(f);
            if done {
                return got;
            }
        }
    }

    /// The close code the server sends next (frames before it skipped).
    pub async fn close_code(&mut self) -> u16 {
        loop {
            match timeout(FRAME_WAIT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(Some(c)))) => return c.code.into(),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return 0,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn is_post(body: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "message_posted" && f["body"] == body
}

/// Open the direct room of `a` and `b`; (room id, position).
pub async fn direct(s: &Server, a: &User, b: &User) -> (RoomId, i64) {
    let req = DirectRoomRequest { user_id: b.id };
    let (status, opened) = s.as_user(a).open_direct(&req).await.expect("open");
    assert_eq!(status, StatusCode::CREATED);
    (opened.room_id, opened.position)
}

/// One in-process `cotalk serve --role ROLE` on `config`.
pub struct Node {
    pub base: String,
    pub cancel: CancellationToken,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn node(config: &Config, role: Role) -> Node {
    let (base, cancel) = crate::support::serve_app(config, role).await;
    Node { base, cancel }
}
