//! The process wiring of `cotalk serve` (`cotalk::serve::start`, as the
//! binary runs it): each role serves the routes of its parts and `/readyz`
//! checks the dependencies those parts use; a process listening on port 0
//! says where, and stops when its token fires.

mod support;

use contract::ops::Readiness;
use cotalk::config::Role;
use reqwest::StatusCode;
use std::time::Duration;
use testkit::client::Client;
use testkit::TestEnv;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// `/readyz` once it answers 200 (it may take a moment to reach NATS).
async fn ready(http: &reqwest::Client, base: &str) -> Readiness {
    let client = Client::with_http(http.clone(), base);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, report) = client.readiness().await.expect("a readiness report");
        assert_eq!(report.ready, status == StatusCode::OK, "{report:?}");
        if report.ready {
            return report;
        }
        assert!(Instant::now() < deadline, "{base} not ready: {report:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `base` serves `method path` (anything but 404).
async fn serves(http: &reqwest::Client, base: &str, method: reqwest::Method, path: &str) -> bool {
    let res = http
        .request(method, format!("{base}{path}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    res.status() != StatusCode::NOT_FOUND
}

#[tokio::test]
async fn each_role_serves_its_parts_and_checks_what_they_use() {
    use reqwest::Method;
    let env = TestEnv::new().await;
    let http = reqwest::Client::new();
    // role, checks of `/readyz`, and whether it serves commands, queries,
    // streams and the web pages.
    let roles = [
        (
            Role::Command,
            &["postgres"][..],
            [true, false, false, false],
        ),
        (Role::Projector, &["nats", "redis"][..], [false; 4]),
        (
            Role::Query,
            &["nats", "postgres", "read_models", "redis"][..],
            [false, true, true, true],
        ),
        (
            Role::All,
            &["nats", "postgres", "read_models", "redis"][..],
            [true; 4],
        ),
    ];
    for (role, checks, [commands, queries, streams, web]) in roles {
        // Each process its own data directory (search replicas lock theirs).
        let dir = std::env::temp_dir().join(format!("cotalk-test-{}-{role:?}", env.namespace));
        let (base, cancel) = support::serve_app(&support::config(&env, &dir), role).await;
        let report = ready(&http, &base).await;
        let names: Vec<&str> = report.checks.keys().map(String::as_str).collect();
        assert_eq!(names, checks, "{role:?}: {report:?}");
        // Nodes running the projectors and the scheduler list their leases.
        let leases: Vec<&str> = report.leases.keys().map(String::as_str).collect();
        let leased: &[&str] = match role {
            Role::All | Role::Projector => &["history", "redis", "relay", "scheduler"],
            _ => &[],
        };
        assert_eq!(leases, leased, "{role:?}: {report:?}");
        let routes = [
            serves(&http, &base, Method::POST, "/v1/sessions").await,
            serves(&http, &base, Method::GET, "/v1/search/messages?q=x").await,
            serves(&http, &base, Method::GET, "/v1/stream").await,
            serves(&http, &base, Method::GET, "/ops/status").await,
        ];
        assert_eq!(routes, [commands, queries, streams, web], "{role:?}");
        for ops in ["/healthz", "/metrics", "/openapi.json", "/docs"] {
            assert!(
                serves(&http, &base, Method::GET, ops).await,
                "{role:?} {ops}"
            );
        }
        cancel.cancel();
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn a_process_on_port_zero_says_where_and_stops_when_told() {
    let env = TestEnv::new().await;
    let dir = std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace));
    let config = support::config(&env, &dir);
    let mut args = support::serve_args(Role::All);
    args.metrics_listen = Some("127.0.0.1:0".into());
    let cancel = CancellationToken::new();
    let running = cotalk::serve::start(config, args, support::unrecorded_metrics(), cancel.clone())
        .await
        .expect("start");
    let (addr, metrics) = (
        running.addr(),
        running.metrics_addr().expect("metrics address"),
    );
    assert_ne!(addr.port(), 0);
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    ready(&http, &base).await;
    let scraped = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);

    cancel.cancel();
    timeout(Duration::from_secs(60), running.stopped())
        .await
        .expect("the process stops once its token fires");
    for stopped in [addr, metrics] {
        assert!(
            tokio::net::TcpStream::connect(stopped).await.is_err(),
            "{stopped} still accepts connections"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The event log's pool runs its statements with generic plans (issue 20:
/// a custom plan of the relay's read across 16 partitions cost more than
/// the read); the read database's pool keeps Postgres' choice.
#[tokio::test]
async fn the_log_pool_plans_each_statement_once_per_connection() {
    let env = TestEnv::new().await;
    let mode = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>("SHOW plan_cache_mode")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let log = cotalk::serve::log_pool(&env.database_url, 1).unwrap();
    assert_eq!(mode(log).await, "force_generic_plan");
    let read = cotalk::serve::lazy_pool(&env.read_database_url, 1).unwrap();
    assert_eq!(mode(read).await, "auto");
}
