//! Black-box test support: a real `cotalk serve` app on port 0 against fresh
//! databases and a fresh namespace, and a small HTTP client for it.

#![allow(dead_code)]

use cotalk::config::{Config, RateArgs, Role, ServeArgs};
use cotalk::serve;
use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::TestEnv;
use tokio_util::sync::CancellationToken;

/// A running app and its environment.
pub struct Server {
    pub base: String,
    pub env: TestEnv,
    pub config: Config,
    pub cancel: CancellationToken,
    pub http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The admin token of every test server (`/ops/status`, `/metrics`).
pub const ADMIN_TOKEN: &str = "test-admin-token";

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
    Server {
        base,
        env,
        config,
        cancel,
        http: reqwest::Client::new(),
    }
}

/// Serve everything in one process with `args` (listening on `args.listen`)
/// and `metrics` as the process's metrics registry.
pub async fn start_with_args(args: &ServeArgs, metrics: PrometheusHandle) -> Server {
    let env = TestEnv::new().await;
    let data_dir = std::env::temp_dir().join(format!("cotalk-test-{}", env.namespace));
    let config = config(&env, &data_dir);
    let (base, cancel) = serve_app_with(&config, args, metrics).await;
    Server {
        base,
        env,
        config,
        cancel,
        http: reqwest::Client::new(),
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
        token_ttl_hours: 1,
        batch_max_events: 512,
        batch_max_wait_us: 1000,
        header_read_timeout_secs: 10,
        body_read_timeout_secs: 30,
        idle_timeout_secs: 60,
        max_connections_per_address: 256,
        metrics_listen: None,
        max_streams_per_user: 20,
        stream_allowed_origins: Default::default(),
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

/// An answer: status, headers and JSON body (Null when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The problem+json `code`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
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
    /// `X-Position`.
    pub fn position(&self) -> i64 {
        self.headers
            .get("x-position")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| self.body["position"].as_i64().unwrap_or(-1))
    }
}

/// A request builder bound to a server.
pub struct Call<'a> {
    server: &'a Server,
    req: reqwest::RequestBuilder,
}

impl Server {
    /// Start a request.
    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            server: self,
            req: self.http.request(method, format!("{}{}", self.base, path)),
        }
    }

    /// Register `username` and log in.
    pub async fn user(&self, username: &str) -> User {
        let reg = self
            .call(Method::POST, "/v1/users")
            .json(json!({"username": username, "display_name": username.to_uppercase(), "password": "password-1"}))
            .send()
            .await;
        reg.expect(201, None);
        let login = self
            .call(Method::POST, "/v1/sessions")
            .json(json!({"username": username, "password": "password-1"}))
            .send()
            .await;
        login.expect(201, None);
        User {
            id: reg.body["user_id"].as_str().unwrap().to_owned(),
            token: login.body["token"].as_str().unwrap().to_owned(),
            position: reg.body["position"].as_i64().unwrap(),
        }
    }

    /// Post `body` into `room` as `user`; (message id, position).
    pub async fn post(&self, user: &User, room: &str, body: &str) -> (String, i64) {
        let a = self
            .call(Method::POST, &format!("/v1/rooms/{room}/messages"))
            .auth(user)
            .json(json!({ "body": body }))
            .send()
            .await;
        a.expect(201, None);
        (
            a.body["message_id"].as_str().unwrap().to_owned(),
            a.position(),
        )
    }
}

impl Call<'_> {
    pub fn json(mut self, body: Value) -> Self {
        self.req = self.req.json(&body);
        self
    }
    pub fn auth(mut self, user: &User) -> Self {
        self.req = self.req.bearer_auth(&user.token);
        self
    }
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.req = self.req.header(name, value.to_string());
        self
    }
    /// Read-your-writes: wait for `position`.
    pub fn at(self, position: i64) -> Self {
        self.header("x-min-position", position)
    }
    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.req = self
            .req
            .header("content-type", "application/json")
            .body(body);
        self
    }
    pub async fn send(self) -> Answer {
        let _ = self.server;
        let res = self.req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// A logged-in test user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
    pub position: i64,
}
