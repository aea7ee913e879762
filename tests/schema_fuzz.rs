//! Schema-driven fuzzing: schemathesis generates requests from the server's
//! own `/openapi.json` and checks every answer against it.
//!
//! One real server (in process, `support::start()`), two bounded passes of
//! the schemathesis CLI against it:
//!
//! 1. with a bearer token and real fixtures (two users, a room, a message, a
//!    friend request) that path parameters draw from half of the time, checks
//!    `no_server_error` (tests/schema_fuzz_checks.py: no 5xx but the
//!    documented 503 `projection_lagging` of a position not reached yet),
//!    `status_code_conformance`, `content_type_conformance`,
//!    `response_schema_conformance`, `response_headers_conformance`;
//! 2. without a token (fuzzing phase only): `refused_without_token` (every operation with a bearer
//!    requirement answers 401 `unauthenticated`, the public ones never do)
//!    plus the conformance checks.
//!
//! Excluded: `GET /v1/stream`, a WebSocket upgrade that plain HTTP requests
//! cannot exercise (tests/stream.rs covers it), and the operational routes,
//! which are not in the document.
//!
//! schemathesis comes from `scripts/pytools` (a venv under the data dir; run
//! by `make test`). It is found at `$COTALK_SCHEMATHESIS`, else
//! `$COTALK_DATA_DIR/pytools/bin/schemathesis`, else `.data/pytools/...` in
//! the repo. A missing one fails the test with that instruction.

mod support;

use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::Server;

/// Test cases per operation and phase (schemathesis `--max-examples`).
const MAX_EXAMPLES: &str = "6";
/// Fixed, so a failure reproduces (`--seed`).
const SEED: &str = "20261122";
/// Hard limits on each child; together they stay within two minutes.
const AUTHENTICATED_TIMEOUT: Duration = Duration::from_secs(90);
const UNAUTHENTICATED_TIMEOUT: Duration = Duration::from_secs(30);

/// The checks of both passes that compare answers with the document.
const CONFORMANCE: &str = "status_code_conformance,content_type_conformance,\
response_schema_conformance,response_headers_conformance";

fn schemathesis() -> PathBuf {
    let path = match std::env::var_os("COTALK_SCHEMATHESIS") {
        Some(p) => PathBuf::from(p),
        None => {
            let data = std::env::var_os("COTALK_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".data"));
            data.join("pytools/bin/schemathesis")
        }
    };
    assert!(
        path.is_file(),
        "schemathesis is not installed at {}: run `scripts/pytools` (make test does), \
         or point COTALK_SCHEMATHESIS at a schemathesis executable",
        path.display()
    );
    path
}

/// Ids the fuzzer's path parameters may take, so requests reach real objects.
struct Fixtures {
    room: String,
    message: String,
    users: Vec<String>,
}

async fn fixtures(server: &Server, token: &support::User) -> Fixtures {
    let other = server.user("fuzz_other").await;
    let room_id = server.room(token, "fuzzing", &[&other]).await.room_id;
    let message = server
        .post(token, room_id, "hello 회의 fuzz")
        .await
        .message_id;
    // A pending request from the other user, for .../accept to find.
    server
        .call(Method::POST, "/v1/friends")
        .auth(&other)
        .json(json!({"user_id": token.id}))
        .send()
        .await
        .expect(201, None);
    Fixtures {
        room: room_id.to_string(),
        message: message.to_string(),
        users: vec![other.id.to_string(), token.id.to_string()],
    }
}

/// The schemathesis configuration: fixture dictionaries bound to the path
/// parameters with probability 0.5 (the other half stays generated).
fn config(f: &Fixtures) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[dictionaries.rooms]\nvalues = [\"{}\"]\n\
         [dictionaries.messages]\nvalues = [\"{}\"]\n\
         [dictionaries.users]\nvalues = [{}]\n\
         [parameters]\n\
         \"path.room_id\" = {{ dictionary = \"rooms\", probability = 0.5 }}\n\
         \"path.message_id\" = {{ dictionary = \"messages\", probability = 0.5 }}\n\
         \"path.user_id\" = {{ dictionary = \"users\", probability = 0.5 }}\n",
        f.room,
        f.message,
        list(&f.users)
    )
}

/// Run schemathesis in `dir` (which holds `schemathesis.toml`) with `args`,
/// killing it at `limit`; (success, output). `token` is the real bearer token.
async fn run(dir: &Path, args: &[&str], limit: Duration, token: &str) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(schemathesis());
    // One worker: with several, schemathesis 4.32.5's coverage phase fails
    // inside itself (a KeyError in its schema walker), and the server shares
    // two cores with it anyway.
    cmd.arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .arg("run")
        .args(["--workers", "1"])
        .args(args)
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", hooks())
        .env("NO_COLOR", "1")
        // For refused_without_token: the token that must not be sent.
        .env("COTALK_FUZZ_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start schemathesis");
    // Read both streams as they come, so a run killed at the limit still
    // shows how far it got.
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
        tokio::spawn(async move {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut text).await;
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let status = tokio::time::timeout(limit, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    let text = format!(
        "{}{}",
        stdout.await.unwrap_or_default(),
        stderr.await.unwrap_or_default()
    );
    match status {
        Ok(Ok(status)) => (status.success(), text),
        Ok(Err(e)) => panic!("schemathesis did not run: {e}"),
        Err(_) => (
            false,
            format!("{text}\nschemathesis ran over {limit:?} and was killed"),
        ),
    }
}

fn hooks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema_fuzz_checks.py")
}

/// The lines of schemathesis' summary with the counts, for the log.
fn summary(output: &str) -> String {
    output
        .lines()
        .filter(|l| l.contains(" generated, ") || (l.starts_with('=') && l.contains(" in ")))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" / ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_conform_to_the_openapi_document() {
    // The fuzzer signs up and logs in far more often than a person, and
    // searches and looks users up as fast as it can: raise those limits for
    // this server (the limiters still run; their 429 is part of the document).
    let rate = cotalk::config::RateArgs {
        rate_login_per_account_per_min: 100_000.0,
        rate_login_per_address_per_min: 100_000.0,
        rate_login_delay_ms: 0,
        rate_search_per_sec: 10_000.0,
        rate_search_burst: 10_000.0,
        rate_user_lookup_per_sec: 10_000.0,
        rate_user_lookup_burst: 10_000.0,
        ..support::serve_args(cotalk::config::Role::All).rate
    };
    // The server's warnings (why a 503, say) show with a failure.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,sqlx=error")
        .with_test_writer()
        .try_init();
    let bin = schemathesis();
    let server = support::start_rated(rate).await;
    let me = server.user("fuzzer").await;
    let fixtures = fixtures(&server, &me).await;
    // Reports and the config stay beside the server's data dir.
    let dir = std::env::temp_dir().join(format!("cotalk-schema-fuzz-{}", server.env.namespace));
    std::fs::create_dir_all(&dir).expect("a work dir");
    std::fs::write(dir.join("schemathesis.toml"), config(&fixtures)).expect("write the config");
    let schema = format!("{}/openapi.json", server.base);
    let auth = format!("Authorization: Bearer {}", me.token);
    let started = Instant::now();

    let authenticated_checks = format!("no_server_error,{CONFORMANCE}");
    let (ok, out) = run(
        &dir,
        &[
            &schema,
            "--header",
            &auth,
            "--exclude-path",
            "/v1/stream",
            "--checks",
            &authenticated_checks,
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
            "--request-timeout",
            "15",
        ],
        AUTHENTICATED_TIMEOUT,
        &me.token,
    )
    .await;
    assert!(
        ok,
        "schemathesis (with a token) failed; {bin:?} said:\n{out}"
    );
    eprintln!("with a token: {}", summary(&out));

    let unauthenticated_checks = format!("refused_without_token,{CONFORMANCE}");
    let (ok, out) = run(
        &dir,
        &[
            &schema,
            "--exclude-path",
            "/v1/stream",
            "--checks",
            &unauthenticated_checks,
            // Generated requests suffice to see the 401s; the edge-case
            // sweep (coverage phase) runs in the pass with a token.
            "--phases",
            "fuzzing",
            "--max-examples",
            "5",
            "--seed",
            SEED,
            "--request-timeout",
            "15",
        ],
        UNAUTHENTICATED_TIMEOUT,
        &me.token,
    )
    .await;
    assert!(ok, "schemathesis (without a token) failed; it said:\n{out}");
    eprintln!("without a token: {}", summary(&out));
    eprintln!("schemathesis took {:?} in all", started.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}
