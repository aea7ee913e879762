//! The real binary, started with its defaults: what an operator gets when
//! they set nothing. Behind a reverse proxy on the same host every client is
//! 127.0.0.1, so the defaults must limit loopback like any other address; and
//! a rate setting that does not parse must stop start-up, not be ignored.

use reqwest::StatusCode;
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// `cotalk serve --role command` on `env`, with no `COTALK_RATE_*` set
/// except `extra`.
fn command_node(env: &testkit::TestEnv, port: u16, extra: &[(&str, &str)]) -> Command {
    let data_dir = std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cotalk"));
    cmd.args(["serve", "--role", "command", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("COTALK_DATABASE_URL", &env.database_url)
        .env("COTALK_READ_DATABASE_URL", &env.read_database_url)
        .env("COTALK_REDIS_URL", &env.redis_url)
        .env("COTALK_NATS_URL", &env.nats_url)
        .env("COTALK_NAMESPACE", &env.namespace)
        .env("COTALK_DATA_DIR", data_dir)
        .env("COTALK_TOKEN_SECRET", "test-secret-test-secret-test-secret")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("COTALK_RATE_") || name == "COTALK_READ_REPLICA_URL" {
            cmd.env_remove(name);
        }
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Wait until the child answers `/healthz`.
async fn healthy(child: &mut Child, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("cotalk serve exited: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "cotalk serve not healthy in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_server_started_with_defaults_limits_loopback() {
    let env = testkit::TestEnv::new().await;
    let port = free_port();
    let mut child = command_node(&env, port, &[]).spawn().expect("start cotalk");
    let base = format!("http://127.0.0.1:{port}");
    healthy(&mut child, &base).await;
    let http = reqwest::Client::new();
    // 40 failed logins at once, to distinct usernames (only the address's
    // budget, 30 a minute, is spent). At once, because each takes an argon2
    // verification and the budget refills while they run one after another.
    let attempts = (0..40).map(|i| {
        let http = http.clone();
        let url = format!("{base}/v1/sessions");
        async move {
            let r = http
                .post(url)
                .json(&json!({"username": format!("guess{i}"), "password": "password-1"}))
                .send()
                .await
                .expect("login request");
            (r.status(), r.headers().contains_key("retry-after"))
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let statuses: Vec<_> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    assert!(
        refused.len() >= 5,
        "40 failed logins from 127.0.0.1 were not limited: {statuses:?}"
    );
    assert!(refused.iter().all(|(_, retry_after)| *retry_after));
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
            .count()
            >= 25,
        "refused too early: {statuses:?}"
    );
}

#[tokio::test]
async fn a_bad_rate_setting_stops_start_up() {
    let env = testkit::TestEnv::new().await;
    for (name, value) in [
        ("COTALK_RATE_POST_PER_SEC", "fast"),
        ("COTALK_RATE_LOGIN_PER_ACCOUNT_PER_MIN", "0"),
        ("COTALK_RATE_EXEMPT_LOOPBACK", "maybe"),
    ] {
        let child = command_node(&env, free_port(), &[(name, value)])
            .spawn()
            .expect("start cotalk");
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{name}={value}: the server started anyway"))
            .expect("wait for cotalk");
        assert!(!out.status.success(), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(value) && stderr.contains("invalid value"),
            "{name}={value}: {stderr}"
        );
    }
}
