//! The web client in a real browser: a real cotalk (every role in this
//! process, fresh databases and namespace) with the demo seeded, and
//! `node --test tests/browser/` driving Debian's chromium through
//! playwright-core against it. `scripts/browser-setup` installs what this
//! needs; when it is missing the test fails and says so (never skips).
//!
//! `COTALK_SCREENSHOTS=<dir>` makes the browser tests save the main views
//! as PNGs there (the ones under docs/screenshots/ come from it).

mod support;

use cotalk::config::Role;
use cotalk::seed::{self, Outcome};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use testkit::TestEnv;

/// The whole browser suite must finish within this.
const SUITE_TIMEOUT: Duration = Duration::from_secs(900);

/// The test files of `dir`; `COTALK_BROWSER_ONLY=name` (a developer's
/// shortcut) keeps only the files whose path contains it.
fn browser_tests(dir: &Path) -> Vec<String> {
    let only = std::env::var("COTALK_BROWSER_ONLY").ok();
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("read tests/browser")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| only.as_deref().is_none_or(|o| p.contains(o)))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_client_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/browser-setup (make test does)"
    );
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run scripts/browser-setup (make test does)"
    );

    let server = support::start_with(TestEnv::new().await, Role::All, None).await;
    let first = seed::run(&server.config, &seed::SeedArgs::default())
        .await
        .expect("seed the demo");
    assert!(matches!(first, Outcome::Seeded { .. }), "{first:?}");
    // Seeding again writes nothing.
    let again = seed::run(&server.config, &seed::SeedArgs::default())
        .await
        .expect("seed again");
    assert_eq!(again, Outcome::AlreadySeeded);

    embedded_pages_and_ops_status(&server).await;

    let files = browser_tests(&dir);
    assert!(!files.is_empty(), "no tests/browser/*.test.mjs");
    let mut node = tokio::process::Command::new("node");
    node.arg("--test")
        .arg("--test-concurrency=1")
        .args(&files)
        .current_dir(&dir)
        .env("COTALK_BASE_URL", &server.base)
        .env(
            "COTALK_ADMIN_TOKEN",
            server.config.admin_token.as_deref().unwrap_or_default(),
        )
        .env("COTALK_DEMO_PASSWORD", seed::DEMO_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Ok(shots) = std::env::var("COTALK_SCREENSHOTS") {
        node.env("COTALK_SCREENSHOTS", root.join(shots));
    }
    let child = node.spawn().expect("start node (is nodejs installed?)");
    let output = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("browser tests did not finish within {SUITE_TIMEOUT:?}"))
        .expect("wait for node");
    let report = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "browser tests failed\n{report}");
    println!("{report}");
}

/// The pages are served with their types and validators; `/ops/status`
/// takes the admin token only.
async fn embedded_pages_and_ops_status(server: &support::Server) {
    let http = &server.http;
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/ops", "text/html"),
    ] {
        let res = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("get a page");
        assert_eq!(res.status(), 200, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        let etag = header("etag");
        assert!(etag.starts_with('"'), "{path}: etag {etag:?}");
        let again = http
            .get(format!("{}{path}", server.base))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("revalidate a page");
        assert_eq!(again.status(), 304, "{path}");
    }
    let url = format!("{}/ops/status", server.base);
    let anonymous = http.get(&url).send().await.expect("ops status");
    assert_eq!(anonymous.status(), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .expect("ops status");
    assert_eq!(wrong.status(), 401);
    let token = server.config.admin_token.as_deref().unwrap_or_default();
    let ok = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("ops status");
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.expect("ops status json");
    let names: Vec<&str> = body["projections"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["redis", "history", "search"], "{body}");
    assert!(body["head"]["position"].as_i64() > Some(0), "{body}");
    assert!(body["appends"].is_object(), "{body}");
}
