//! Black-box test support: a real `cotalk serve` app on port 0 against fresh
//! databases and a fresh namespace, the typed client of its API
//! ([`Server::api`], `testkit::client`) and, for error paths and malformed
//! requests, raw calls ([`Server::call`]).

#![allow(dead_code)]

use contract::commands::{CreateRoomRequest, MessagePostedResponse, PositionResponse};
use contract::commands::{PostMessageRequest, RoomCreatedResponse};
use contract::Problem;
use cotalk::config::{Config, RateArgs, Role, ServeArgs};
use cotalk::serve;
use domain::RoomId;
use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use testkit::client::Client;
use testkit::TestEnv;
use tokio_util::sync::CancellationToken;

/// A logged-in test user: id, token, and the position of the registration.
pub use testkit::client::Session as User;

/// A running app and its environment.
pub struct Server {
    pub base: String,
    pub env: TestEnv,
    pub config: Config,
    pub cancel: CancellationToken,
    pub http: reqwest::Client,
    /// The typed client of the server's API.
    pub api: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The admin token of every test server (`/ops/status`, `/metrics`).
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The personal-data master key of every test server (issue 18).
pub const MASTER_KEY: &str = "test-master-key-test-master-key-0123";

/// The configuration of a test process on `env`.
pub fn config(env: &TestEnv, data_dir: &std::path::Path) -> Config {
    Config {
        database_url: env.database_url.clone(),
        read_database_url: env.read_database_url.clone(),
        read_replica_url: None,
        redis_url: env.redis_url.clone(),
        nats_url: env.nats_url.clone(),
        namespace: env.namespace.clone(),
        data_dir: data_dir.to_owned(),
        token_secret: Some("test-secret-test-secret-test-secret".into()),
        admin_token: Some(ADMIN_TOKEN.into()),
        master_key: Some(MASTER_KEY.into()),
    }
}

/// `config` as the `COTALK_*` environment of a `cotalk` child process.
pub fn child_env(config: &Config) -> Vec<(String, String)> {
    let mut vars = vec![
        ("COTALK_DATABASE_URL", config.database_url.clone()),
        ("COTALK_READ_DATABASE_URL", config.read_database_url.clone()),
        ("COTALK_REDIS_URL", config.redis_url.clone()),
        ("COTALK_NATS_URL", config.nats_url.clone()),
        ("COTALK_NAMESPACE", config.namespace.clone()),
        ("COTALK_DATA_DIR", config.data_dir.display().to_string()),
    ];
    let secrets = [
        ("COTALK_TOKEN_SECRET", &config.token_secret),
        ("COTALK_ADMIN_TOKEN", &config.admin_token),
        ("COTALK_MASTER_KEY", &config.master_key),
    ];
    for (name, value) in secrets {
        if let Some(value) = value {
            vars.push((name, value.clone()));
        }
    }
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Serve `role` on an ephemeral port.
pub async fn start_with(env: TestEnv, role: Role, replica: Option<String>) -> Server {
    start_args(env, serve_args(role), replica).await
}

/// Serve with `args` (rate limits, say) on an ephemeral port.
pub async fn start_args(env: TestEnv, args: ServeArgs, replica: Option<String>) -> Server {
    let data_dir = std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace));
    let mut config = config(&env, &data_dir);
    config.read_replica_url = replica;
    let (base, cancel) = serve_app_with(&config, &args, unrecorded_metrics()).await;
    Server::new(base, env, config, cancel)
}

/// Serve everything in one process with `args` (listening on `args.listen`)
/// and `metrics` as the process's metrics registry.
pub async fn start_with_args(args: &ServeArgs, metrics: PrometheusHandle) -> Server {
    let env = TestEnv::new().await;
    let data_dir = std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace));
    let config = config(&env, &data_dir);
    let (base, cancel) = serve_app_with(&config, args, metrics).await;
    Server::new(base, env, config, cancel)
}

impl Server {
    fn new(base: String, env: TestEnv, config: Config, cancel: CancellationToken) -> Self {
        let http = reqwest::Client::new();
        Self {
            api: Client::with_http(http.clone(), base.clone()),
            base,
            env,
            config,
            cancel,
            http,
        }
    }
}

/// Serve everything in one process with these rate limits.
pub async fn start_rated(rate: RateArgs) -> Server {
    let args = ServeArgs {
        rate,
        ..serve_args(Role::All)
    };
    start_args(TestEnv::new().await, args, None).await
}

/// The options of a test process of `role`. Tests sign up and log in many
/// users from 127.0.0.1, so loopback is exempted from the per-address limits
/// here, explicitly (the default limits it).
pub fn serve_args(role: Role) -> ServeArgs {
    ServeArgs {
        listen: "127.0.0.1:0".into(),
        role,
        access_ttl_secs: 900,
        refresh_ttl_days: 30,
        batch_max_events: 512,
        batch_max_wait_us: 1000,
        batcher_nice: None,
        // Tests search right after posting: keep the index's lag short.
        search_commit_ms: 200,
        relay_round_gap_ms: 5,
        nats_replicas: 1,
        header_read_timeout_secs: 10,
        body_read_timeout_secs: 30,
        idle_timeout_secs: 60,
        max_connections_per_address: 256,
        metrics_listen: None,
        max_streams_per_user: 20,
        object_store_url: None,
        max_attachment_bytes: 25 * 1024 * 1024,
        upload_read_timeout_secs: 600,
        orphan_upload_secs: 86400,
        orphan_sweep_interval_secs: 60,
        stream_allowed_origins: Default::default(),
        delete_window_secs: domain::values::DeleteWindow::DEFAULT_SECS,
        username_quarantine_days: command::state::DEFAULT_QUARANTINE_DAYS,
        rate: RateArgs {
            rate_exempt_loopback: true,
            ..RateArgs::default()
        },
    }
}

/// A metrics registry of its own (not the process's recorder: what the app
/// records goes nowhere, and `/metrics` renders an empty registry).
pub fn unrecorded_metrics() -> PrometheusHandle {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle()
}

/// Build the app of `role` on `config` and serve it on an ephemeral
/// loopback port; returns its base URL and the token that stops it (the
/// app's background tasks are drained after the listener closes).
pub async fn serve_app(config: &Config, role: Role) -> (String, CancellationToken) {
    serve_app_with(config, &serve_args(role), unrecorded_metrics()).await
}

/// [`serve_app`] with `args` and `metrics`, started by the same function as
/// `cotalk serve` (`cotalk::serve::start`) on `args.listen` (port 0 in
/// [`serve_args`]: an ephemeral loopback port).
pub async fn serve_app_with(
    config: &Config,
    args: &ServeArgs,
    metrics: PrometheusHandle,
) -> (String, CancellationToken) {
    let cancel = CancellationToken::new();
    let running = serve::start(config.clone(), args.clone(), metrics, cancel.clone())
        .await
        .expect("start the app");
    (format!("http://{}", running.addr()), cancel)
}

/// Serve everything in one process.
pub async fn start() -> Server {
    start_with(TestEnv::new().await, Role::All, None).await
}

/// An answer as it came: status, headers, the problem (for errors) and the
/// JSON body (Null when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    /// The problem+json body of an error.
    pub problem: Option<Problem>,
    /// The body as any JSON, for checks about no answer type in particular
    /// (that nothing leaks); answers with a type are read with [`Answer::json`].
    pub body: Value,
}

impl Answer {
    /// The problem+json `code` ("" when the body is no problem).
    pub fn code(&self) -> &str {
        self.problem.as_ref().map_or("", |p| p.code.as_str())
    }
    /// Assert status and (for errors) code.
    #[track_caller]
    pub fn expect(&self, status: u16, code: Option<&str>) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        if let Some(code) = code {
            assert_eq!(self.code(), code, "body: {}", self.body);
        }
        self
    }
    /// The body as the answer type `T`.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        match serde_json::from_value(self.body.clone()) {
            Ok(answer) => answer,
            Err(e) => panic!("answer does not decode ({e}): {}", self.body),
        }
    }
    /// `X-Position`, else the `position` of a command's answer, else -1.
    pub fn position(&self) -> i64 {
        self.headers
            .get("x-position")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .or_else(|| {
                serde_json::from_value::<PositionResponse>(self.body.clone())
                    .ok()
                    .map(|p| p.position)
            })
            .unwrap_or(-1)
    }
}

/// Assert that a typed call was refused with `status` and problem `code`;
/// the refusal, for checks of its headers.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: testkit::client::Result<T>,
    status: u16,
    code: &str,
) -> testkit::client::ClientError {
    match result {
        Err(e) => {
            assert_eq!(
                (e.status().map(|s| s.as_u16()), e.code()),
                (Some(status), Some(code)),
                "{e}"
            );
            e
        }
        Ok(answer) => panic!("expected {status} {code}, got {answer:?}"),
    }
}

/// A request builder bound to a server.
pub struct Call {
    req: testkit::client::RawRequest,
}

impl Server {
    /// Start a raw request (for error paths and malformed requests; the
    /// routes themselves are called through [`Server::api`]).
    pub fn call(&self, method: Method, path: &str) -> Call {
        Call {
            req: self.api.raw(method, path),
        }
    }

    /// A projector configuration on this server's databases, Redis, NATS
    /// and data directory, opening personal fields with its master key.
    pub fn projector_config(&self) -> projector::ProjectorConfig {
        projector::ProjectorConfig::new(
            &self.env.namespace,
            self.env.write_pool.clone(),
            self.env.read_pool.clone(),
            &self.env.redis_url,
            &self.env.nats_url,
            &self.config.data_dir,
        )
        .with_pii(eventlog::pii::Pii::new(MASTER_KEY.as_bytes()))
    }

    /// The typed client as `user`.
    pub fn as_user(&self, user: &User) -> Client {
        self.api.of(user)
    }

    /// Register `username` (display name: in capitals) and log in.
    pub async fn user(&self, username: &str) -> User {
        self.api
            .sign_up(username, &username.to_uppercase(), "password-1")
            .await
            .expect("sign up and log in")
    }

    /// Post `body` into `room` as `user`.
    pub async fn post(&self, user: &User, room: RoomId, body: &str) -> MessagePostedResponse {
        self.as_user(user)
            .post_message(room, &PostMessageRequest::text(body))
            .await
            .expect("post")
    }

    /// A group room named `name` owned by `owner` with `members`.
    pub async fn room(&self, owner: &User, name: &str, members: &[&User]) -> RoomCreatedResponse {
        let req = CreateRoomRequest {
            name: name.to_owned(),
            members: members.iter().map(|m| m.id).collect(),
        };
        self.as_user(owner)
            .create_room(&req)
            .await
            .expect("create a room")
    }
}

impl Call {
    pub fn json(mut self, body: Value) -> Self {
        self.req = self.req.json(&body);
        self
    }
    pub fn auth(self, user: &User) -> Self {
        self.header("authorization", format!("Bearer {}", user.token))
    }
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.req = self.req.header(name, value);
        self
    }
    /// Read-your-writes: wait for `position`.
    pub fn at(self, position: i64) -> Self {
        self.header("x-min-position", position)
    }
    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.req = self.req.body(body);
        self
    }
    pub async fn send(self) -> Answer {
        let answer = self.req.send().await.expect("request");
        Answer {
            status: answer.status,
            problem: answer.problem(),
            body: answer.value(),
            headers: answer.headers,
        }
    }
}

/// A shadow rebuild of `name` into a new generation (pages of 7 events, a
/// minute for the hand-over), within two minutes; the new generation.
pub async fn shadow_rebuild(
    cfg: &projector::ProjectorConfig,
    name: readmodel::ProjectionName,
) -> i64 {
    let opts = projector::rebuild::RebuildOptions {
        shadow: true,
        page: 7,
        handover_timeout: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let names = [name];
    let rebuild = projector::rebuild::rebuild(cfg, &names, &opts, |_| {}, CancellationToken::new());
    let outcomes = tokio::time::timeout(std::time::Duration::from_secs(120), rebuild)
        .await
        .expect("rebuild in time")
        .expect("rebuild");
    outcomes[0].generation
}

/// Wait until generation `g` of the `name` projection has applied
/// `position` (its checkpoint); fails after two minutes.
pub async fn caught_up(
    cfg: &projector::ProjectorConfig,
    name: readmodel::ProjectionName,
    g: i64,
    position: i64,
) {
    let started = std::time::Instant::now();
    loop {
        let cp = projector::generations::checkpoint_of(cfg, name, g)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        if cp >= position {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "{name:?} g{g} stuck at {cp} < {position}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
