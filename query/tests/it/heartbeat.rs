//! The stream's heartbeat, through a real socket: pings keep coming while
//! the client answers them, and a client that never answers is closed with
//! 1008. (One timer serves the pings and the token's expiry since issue 20;
//! the expiry's close is tested black-box in `tests/stream_security.rs`.)

use crate::fixture::{uid, Fx};
use futures::StreamExt;
use query::stream::{close, StreamHub, StreamOptions};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serve the stream of `fx` on loopback with a fast heartbeat; its URL.
async fn serve(fx: &mut Fx, cancel: &CancellationToken) -> String {
    fx.set_pointer(1).await;
    fx.set_checkpoint(1, 0).await;
    let opts = StreamOptions {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(500),
        ..StreamOptions::default()
    };
    let hub = StreamHub::start(fx.state.clone(), &fx.env.nats_url, opts, cancel.clone())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hub.ready() {
        assert!(
            Instant::now() < deadline,
            "the hub's fan-out never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/stream", listener.local_addr().unwrap());
    let app = query::stream::router(hub);
    let stop = cancel.clone();
    tokio::spawn(async move {
        let serving = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        serving.await
    });
    url
}

async fn connect(url: &str, token: &str) -> Socket {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

#[tokio::test]
async fn pings_keep_coming_while_the_client_answers() {
    let mut fx = Fx::new().await;
    let cancel = CancellationToken::new();
    let url = serve(&mut fx, &cancel).await;
    let mut ws = connect(&url, &fx.token(uid(1))).await;
    // Reading answers every ping with a pong; ten pings span twice the
    // pong timeout, so the connection outlived it by answering.
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while pings < 10 {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("pings stopped coming");
        match msg {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => panic!("closed after {pings} pings: {frame:?}"),
            Some(Ok(_)) => {}
            other => panic!("the stream ended after {pings} pings: {other:?}"),
        }
    }
    cancel.cancel();
}

/// Open the stream over a raw socket that will never send anything (a
/// WebSocket client would answer pings as it reads).
async fn connect_mute(url: &str, token: &str) -> tokio::net::TcpStream {
    let host = url
        .trim_start_matches("ws://")
        .trim_end_matches("/v1/stream");
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "GET /v1/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        answer.push(tcp.read_u8().await.unwrap());
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    tcp
}

#[tokio::test]
async fn a_client_that_never_answers_is_closed_as_too_slow() {
    let mut fx = Fx::new().await;
    let cancel = CancellationToken::new();
    let url = serve(&mut fx, &cancel).await;
    let mut tcp = connect_mute(&url, &fx.token(uid(2))).await;
    // Server frames are unmasked and short here: opcode byte, length byte,
    // payload. Pings (0x9) come until the close (0x8) with its code.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pings = 0;
    let code = loop {
        let frame = tokio::time::timeout_at(deadline, async {
            let (op, len) = (tcp.read_u8().await?, tcp.read_u8().await?);
            let mut payload = vec![0; usize::from(len & 0x7f)];
            tcp.read_exact(&mut payload).await?;
            Ok::<_, std::io::Error>((op & 0x0f, payload))
        })
        .await
        .expect("the server never closed")
        .expect("the socket ended without a close frame");
        match frame {
            (0x9, _) => pings += 1,
            (0x8, payload) => break u16::from_be_bytes([payload[0], payload[1]]),
            (op, _) => panic!("unexpected frame opcode {op}"),
        }
    };
    assert_eq!(code, close::TOO_SLOW, "after {pings} pings");
    assert!(pings >= 1, "the server pinged before giving up");
    cancel.cancel();
}
