//! HTTP hardening of connections, black-box against a real served app
//! (issue 13), with raw TCP where a client must misbehave: slow and silent
//! clients are cut by the header-read, body-read and idle timeouts
//! (WebSockets are not), connections are capped per client address, and an
//! oversized `Expect: 100-continue` upload hears 413 before sending its body.
//! `tests/http_disclosure.rs` covers what answers and logs give away.
//!
//! Servers here use short timeouts (1–2 s); every wait is bounded by a
//! deadline several times longer.

mod stream_support;
mod support;

use cotalk::config::{Role, ServeArgs};
use std::net::SocketAddr;
use std::time::Duration;
use support::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

/// How long a connection the server should close may take to be closed.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// Everything in one process with a 1 s body-read timeout, these header-read
/// and idle timeouts and `cap` connections per address.
async fn start(cap: u32, header_secs: u64, idle_secs: u64) -> Server {
    let args = ServeArgs {
        header_read_timeout_secs: header_secs,
        body_read_timeout_secs: 1,
        idle_timeout_secs: idle_secs,
        max_connections_per_address: cap,
        ..support::serve_args(Role::All)
    };
    support::start_with_args(&args, support::unrecorded_metrics()).await
}

fn address(s: &Server) -> SocketAddr {
    s.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to `s` from the local address `from` (any of 127/8).
async fn connect_from(s: &Server, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(address(s)).await.unwrap()
}

async fn connect(s: &Server) -> TcpStream {
    connect_from(s, "127.0.0.1").await
}

/// Read until the server closes the connection (EOF or reset), for at most
/// `within`; what arrived, and whether it was closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Send one keep-alive `GET path` and read its whole answer; the answer's head.
async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: cotalk\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = timeout(CLOSE_WITHIN, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("an answer");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return head.to_owned();
            }
        }
    }
}

#[track_caller]
fn assert_closed((got, closed): (String, bool), what: &str) {
    assert!(
        closed,
        "{what}: still open after {CLOSE_WITHIN:?} (got {got:?})"
    );
}

#[tokio::test]
async fn slow_and_silent_connections_are_closed() {
    let s = start(256, 1, 2).await;
    let silent = async {
        let mut c = connect(&s).await;
        assert_closed(read_until_closed(&mut c, CLOSE_WITHIN).await, "silent");
    };
    let partial_line = async {
        let mut c = connect(&s).await;
        c.write_all(b"GET /heal").await.unwrap();
        assert_closed(
            read_until_closed(&mut c, CLOSE_WITHIN).await,
            "partial request line",
        );
    };
    let trickled_headers = async {
        let mut c = connect(&s).await;
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: cotalk\r\n")
            .await
            .unwrap();
        let deadline = Instant::now() + CLOSE_WITHIN;
        let mut buf = [0u8; 64];
        // A header every 300 ms: each is progress, none completes the head.
        loop {
            assert!(Instant::now() < deadline, "trickled headers: still open");
            match timeout(Duration::from_millis(300), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => panic!("trickled headers: answered an incomplete head"),
                Err(_) => {
                    if c.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let idle = async {
        let mut c = connect(&s).await;
        // Keep-alive works: two requests on one connection, then silence.
        assert!(get_on(&mut c, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get_on(&mut c, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert_closed(
            read_until_closed(&mut c, CLOSE_WITHIN).await,
            "idle keep-alive",
        );
    };
    tokio::join!(silent, partial_line, trickled_headers, idle);
}

/// A body stalled after 6 of 100 bytes, and one trickled a byte at a time
/// (progress, but not the whole body within the body-read timeout): 408.
#[tokio::test]
async fn stalled_and_trickled_bodies_get_408_and_are_closed() {
    let s = start(256, 1, 2).await;
    let head = "POST /v1/sessions HTTP/1.1\r\nHost: cotalk\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    let stalled = async {
        let mut c = connect(&s).await;
        c.write_all(format!("{head}{{\"user").as_bytes())
            .await
            .unwrap();
        let (got, closed) = read_until_closed(&mut c, CLOSE_WITHIN).await;
        assert!(got.starts_with("HTTP/1.1 408"), "stalled body: {got:?}");
        assert!(got.contains("\"code\":\"request_timeout\""), "{got}");
        assert!(closed, "stalled body: still open after the 408");
    };
    let trickled = async {
        let mut c = connect(&s).await;
        c.write_all(head.as_bytes()).await.unwrap();
        let deadline = Instant::now() + CLOSE_WITHIN;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            assert!(Instant::now() < deadline, "trickled body: no answer");
            match timeout(Duration::from_millis(200), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => {
                    let _ = c.write_all(b" ").await;
                }
            }
        }
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 408"), "trickled body: {got:?}");
    };
    tokio::join!(stalled, trickled);
}

/// The stream outlives every connection timeout: it has its own heartbeat.
#[tokio::test]
async fn websockets_are_not_cut_by_the_connection_timeouts() {
    let s = start(256, 1, 2).await;
    let a = s.user("streamer").await;
    let room = s.room(&a, "스트림", &[]).await.room_id;
    let mut client = stream_support::connect(&s.base, &a, None).await;
    // Past the header (1 s), body (1 s) and idle (2 s) timeouts, twice over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    s.post(&a, room, "still here").await;
    client.until(stream_support::is_post("still here")).await;
}

#[tokio::test]
async fn connections_are_capped_per_client_address() {
    let cap = 4;
    let s = start(cap, 30, 30).await;
    let mut held = Vec::new();
    for _ in 0..cap {
        let mut c = connect(&s).await;
        assert!(get_on(&mut c, "/healthz").await.starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    for i in 0..3 {
        let mut c = connect(&s).await;
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: cotalk\r\n\r\n")
            .await;
        let (got, closed) = read_until_closed(&mut c, CLOSE_WITHIN).await;
        assert!(
            closed && got.is_empty(),
            "connection {} over the cap: {got:?}",
            cap as usize + i
        );
    }
    // Another address is not affected.
    let mut other = connect_from(&s, "127.0.0.2").await;
    assert!(get_on(&mut other, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    // A closed connection frees its place (once the server has seen it close).
    drop(held.pop());
    let deadline = Instant::now() + CLOSE_WITHIN;
    loop {
        let mut c = connect(&s).await;
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: cotalk\r\n\r\n")
            .await;
        let (got, _) = read_until_closed(&mut c, Duration::from_millis(300)).await;
        if got.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was not given back"
        );
    }
}

#[tokio::test]
async fn an_oversized_expect_continue_upload_hears_413_first() {
    let s = start(256, 10, 10).await;
    let mut c = connect(&s).await;
    c.write_all(
        b"POST /v1/users HTTP/1.1\r\nHost: cotalk\r\nContent-Type: application/json\r\n\
          Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let (got, closed) = read_until_closed(&mut c, CLOSE_WITHIN).await;
    assert!(got.starts_with("HTTP/1.1 413"), "{got:?}");
    assert!(got.contains("\"code\":\"payload_too_large\""), "{got}");
    assert!(closed, "the connection stays open for a body never sent");
}
