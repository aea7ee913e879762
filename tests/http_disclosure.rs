//! What answers and logs give away, black-box against a real served app
//! (issue 13): `/metrics` takes the admin token and made-up methods do not
//! grow it; answers carry the hardening headers (`Cache-Control`,
//! `Referrer-Policy`, `nosniff`, the pages' CSP); at `RUST_LOG=debug` no token
//! reaches the log and `--metrics-listen` serves `/metrics` without the token
//! (the binary as a child process); a bad option stops start-up.

mod stream_support;
mod support;

use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::Method;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;
use support::{Server, ADMIN_TOKEN};
use tokio::time::{timeout, Instant};

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

/// Everything in one process, recording into the process's registry.
async fn start() -> Server {
    support::start_with_args(&support::serve_args(cotalk::config::Role::All), recorder()).await
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let s = start().await;
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
    let s = start().await;
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

    for path in ["/", "/ops", "/invite/AbC-123_xyz"] {
        let page = get(path, false).await;
        assert_eq!(header(&page, "referrer-policy"), "no-referrer", "{path}");
    }
    // An invite link's page is the client (which reads the token from it).
    let client = get("/", false).await.text().await.unwrap();
    let invite = get("/invite/AbC-123_xyz", false).await;
    assert_eq!(invite.status(), 200);
    assert!(header(&invite, "content-type").starts_with("text/html"));
    assert!(header(&invite, "content-security-policy").contains("script-src 'self'"));
    assert_eq!(invite.text().await.unwrap(), client);
    let qr = get("/vendor/qrcode.mjs", false).await;
    assert!(header(&qr, "content-type").starts_with("text/javascript"));
    assert!(qr.text().await.unwrap().contains("export default qrcode"));
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
    let user = testkit::client::Client::with_http(http.clone(), base.clone())
        .sign_up("logged", "L", "password-1")
        .await
        .expect("sign up and log in");
    let client = stream_support::connect_with(&base, &user, Some(0), true).await;
    client.close().await;
    let invite_token = "InviteTokenNotForLogs_0123456789abcdefghijk";
    let page = http
        .get(format!("{base}/invite/{invite_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

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
    let spans: Vec<&str> = log.lines().filter(|l| l.contains("request{")).collect();
    assert!(
        spans
            .iter()
            .any(|l| l.contains("uri=/v1/stream?after=0&token=")),
        "the stream's request span was not logged:\n{}",
        spans.join("\n")
    );
    let signature = user.token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "a session token is in the log");
    assert!(log.contains("uri=/v1/stream?after=0&token=REDACTED"));
    assert!(!log.contains(invite_token), "an invite token is in the log");
    assert!(log.contains("uri=/invite/REDACTED"));
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
