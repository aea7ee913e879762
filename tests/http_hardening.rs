//! HTTP hardening, black-box against a real served app (issue 13): slow and
//! silent clients are cut by the header-read, body-read and idle timeouts
//! (WebSockets are not), connections are capped per client address, made-up
//! methods do not grow `/metrics` (which takes the admin token), an
//! oversized `Expect: 100-continue` upload hears 413 before sending its body,
//! answers carry the hardening headers, and at `RUST_LOG=debug` no token
//! reaches the log (the binary as a child process, with `--metrics-listen`).
//!
//! Servers here use short timeouts (1–2 s); every wait is bounded by a
//! deadline several times longer.

mod stream_support;
mod support;

use cotalk::config::{Role, ServeArgs};
use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use support::{Server, ADMIN_TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

/// How long a connection the server should close may take to be closed.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// The process's metrics registry, installed once per test process, so the
/// app's counters reach `/metrics`.
fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("install the metrics recorder")
        })
        .clone()
}

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
    support::start_with_args(&args, recorder()).await
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
    let room = stream_support::room(&s, &a, &[]).await;
    let mut client = stream_support::connect(&s.base, &a, None).await;
    // Past the header (1 s), body (1 s) and idle (2 s) timeouts, twice over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    s.post(&a, &room, "still here").await;
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

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let s = start(256, 10, 10).await;
    let made_up = |i: usize| format!("M{i}{}", "X".repeat(1000));
    for i in 0..100 {
        let method = Method::from_bytes(made_up(i).as_bytes()).unwrap();
        let res = s
            .http
            .request(method, format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
    }
    let metrics = |token: Option<&str>| {
        let req = s.http.get(format!("{}/metrics", s.base));
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move { req.send().await.unwrap() }
    };
    let text = metrics(Some(ADMIN_TOKEN)).await.text().await.unwrap();
    assert!(
        !text.contains(&made_up(7)),
        "a made-up method became a label"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("cotalk_http_requests_total")
                && l.contains("method=\"other\"")
                && l.contains("route=\"/healthz\"")),
        "no method=\"other\" series:\n{text}"
    );
    // Only the admin token reads it; a user's token is not one.
    let u = s.user("metricsreader").await;
    for token in [None, Some(u.token.as_str()), Some("wrong")] {
        let res = metrics(token).await;
        assert_eq!(res.status(), 401, "{token:?}");
        assert!(res.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[tokio::test]
async fn answers_carry_the_hardening_headers() {
    let s = start(256, 10, 10).await;
    let u = s.user("headers").await;
    let get = |path: &str, auth: bool| {
        let req = s.http.get(format!("{}{path}", s.base));
        let req = if auth {
            req.bearer_auth(&u.token)
                .header("x-min-position", u.position)
        } else {
            req
        };
        async move { req.send().await.unwrap() }
    };
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };

    let docs = get("/docs", false).await;
    let policy = header(&docs, "content-security-policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header(&docs, "x-content-type-options"), "nosniff");
    assert_eq!(header(&docs, "referrer-policy"), "no-referrer");
    // The page's inline script runs under its policy: its hash is listed.
    let page = docs.text().await.unwrap();
    let script = page
        .split("<script>")
        .nth(1)
        .and_then(|r| r.split("</script>").next())
        .unwrap();
    let hash = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Sha256::digest(script.as_bytes()),
    );
    assert!(
        policy.contains(&format!("script-src 'sha256-{hash}'")),
        "{policy}"
    );

    for path in ["/", "/ops"] {
        let page = get(path, false).await;
        assert_eq!(header(&page, "referrer-policy"), "no-referrer", "{path}");
    }
    // Static assets keep their validator caching.
    let asset = get("/app.js", false).await;
    assert_eq!(header(&asset, "cache-control"), "no-cache");
    assert!(!header(&asset, "etag").is_empty());

    // Every /v1 answer, errors included, is not to be stored.
    let answers = [
        get("/v1/me", true).await,
        get("/v1/me", false).await,
        get("/v1/no-such-route", true).await,
        s.http
            .post(format!("{}/v1/users", s.base))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200, 401, 404, 400]);
    for a in &answers {
        assert_eq!(header(a, "cache-control"), "no-store", "{}", a.status());
    }
}

/// `cotalk serve` as a child at `RUST_LOG=debug`: the request span logs the
/// stream's URI without its `?token=`, and `--metrics-listen` serves
/// `/metrics` without the token there while the main address asks for it.
#[tokio::test]
async fn the_debug_log_holds_no_token_and_metrics_listen_serves_metrics() {
    let env = testkit::TestEnv::new().await;
    let dir = std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let config = support::config(&env, &dir);
    let (port, metrics_port) = (free_port(), free_port());
    let log_path = dir.join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cotalk"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args([
            "--idle-timeout-secs",
            "30",
            "--header-read-timeout-secs",
            "5",
        ])
        .envs(support::child_env(&config))
        .env("RUST_LOG", "debug")
        .env_remove("COTALK_LOG_JSON")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start cotalk serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "cotalk serve did not start");
        assert!(child.try_wait().unwrap().is_none(), "cotalk serve exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let post =
        |path: &str, body: serde_json::Value| http.post(format!("{base}{path}")).json(&body).send();
    let reg = post(
        "/v1/users",
        json!({"username": "logged", "display_name": "L", "password": "password-1"}),
    )
    .await
    .unwrap();
    assert_eq!(reg.status(), 201);
    let reg: serde_json::Value = reg.json().await.unwrap();
    let login: serde_json::Value = post(
        "/v1/sessions",
        json!({"username": "logged", "password": "password-1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let user = support::User {
        id: reg["user_id"].as_str().unwrap().to_owned(),
        token: login["token"].as_str().unwrap().to_owned(),
        position: reg["position"].as_i64().unwrap(),
    };
    let client = stream_support::connect_with(&base, &user, Some(0), true).await;
    client.close().await;

    let anonymous = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let scraped = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("cotalk_http_requests_total"));

    child.kill().await.unwrap();
    let log = without_colours(&std::fs::read_to_string(&log_path).unwrap());
    assert!(
        log.contains("uri=/v1/stream?after=0&token=REDACTED"),
        "the request span was not logged:\n{}",
        log.lines()
            .filter(|l| l.contains("request{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let signature = user.token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "a session token is in the log");
    assert!(!log.contains(ADMIN_TOKEN), "the admin token is in the log");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bad option stops start-up, before anything is served.
#[tokio::test]
async fn a_bad_timeout_stops_start_up() {
    for (flag, value) in [
        ("--header-read-timeout-secs", "0"),
        ("--body-read-timeout-secs", "-1"),
        ("--idle-timeout-secs", "soon"),
        ("--max-connections-per-address", "0"),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cotalk"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                &format!("{flag}={value}"),
            ])
            .kill_on_drop(true)
            .output();
        let out = timeout(Duration::from_secs(30), out)
            .await
            .expect("exits")
            .unwrap();
        assert!(!out.status.success(), "{flag} {value} was taken");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag) && err.contains("invalid value"),
            "{flag}: {err}"
        );
    }
}

/// `text` without ANSI escape sequences (the log's colours).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
