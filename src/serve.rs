//! Process wiring: which routes and background tasks a `serve` process runs
//! for its role, and a clean shutdown on SIGTERM / Ctrl-C (stop accepting,
//! finish in-flight requests, drain the group commit, stop projectors).

use crate::config::{Config, Role, ServeArgs};
use crate::ops::{self, Check, OpsState};
pub use crate::server::{serve_listener, HttpOptions};
use anyhow::{Context, Result};
use axum::Router;
use command::repository::Repository;
use command::store::{BatchConfig, EventStore};
use command::CommandState;
use domain::views::{HISTORY_PROJECTION, REDIS_PROJECTION, SEARCH_PROJECTION};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `cotalk migrate`: create and migrate both databases.
pub async fn migrate(config: &Config) -> Result<()> {
    migrations::prepare_write(&config.database_url)
        .await
        .context("migrate the event-log database")?;
    migrations::prepare_read(&config.read_database_url)
        .await
        .context("migrate the read database")?;
    tracing::info!("databases migrated");
    Ok(())
}

/// A pool that does not fail when the database is down at start: connections
/// are made on demand, so the process starts and `/readyz` says what is missing.
pub fn lazy_pool(url: &str, max: u32) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(url)?)
}

fn pg_check(pool: PgPool) -> Check {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
}

fn redis_check(url: String) -> Check {
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
}

fn nats_check(client: async_nats::Client) -> Check {
    Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            match client.connection_state() {
                async_nats::connection::State::Connected => {
                    client.flush().await.map_err(|e| e.to_string())
                }
                other => Err(format!("{other:?}")),
            }
        })
    })
}

/// Cancel `token` on SIGTERM or Ctrl-C.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutting down");
        token.cancel();
    });
}

/// `cotalk serve`: run the role until a shutdown signal.
pub async fn run(config: Config, args: ServeArgs) -> Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("install the metrics recorder")?;
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let app = App::build(&config, &args, metrics.clone(), cancel.clone()).await?;
    let options = HttpOptions::from_args(&args);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let metrics_server = match &args.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listen for metrics on {address}"))?;
            tracing::info!(listen = %listener.local_addr()?, "metrics served without the admin token");
            let router = ops::metrics_router(metrics).layer(crate::server::trace::layer());
            Some(tokio::spawn(serve_listener(
                listener,
                router,
                options,
                cancel.clone(),
            )))
        }
        None => None,
    };
    tracing::info!(listen = %listener.local_addr()?, role = ?args.role, "cotalk serving");
    serve_listener(listener, app.router.clone(), options, cancel.clone()).await;
    if let Some(task) = metrics_server {
        let _ = task.await;
    }
    app.shutdown().await;
    Ok(())
}

/// A built process: its HTTP routes and what must be drained at shutdown.
pub struct App {
    /// Every route of the role.
    pub router: Router,
    store: Option<EventStore>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl App {
    /// Build the routes and start the background tasks of `args.role`.
    pub async fn build(
        config: &Config,
        args: &ServeArgs,
        metrics: metrics_exporter_prometheus::PrometheusHandle,
        cancel: CancellationToken,
    ) -> Result<Self> {
        migrate(config).await?;
        let admin_token = load_admin_token(config)?;
        let secret =
            api::auth::load_or_create_secret(config.token_secret.as_deref(), &config.data_dir)
                .context("load or create the token secret")?;
        let keys = Arc::new(api::TokenKeys::new(
            &secret,
            chrono::Duration::hours(args.token_ttl_hours),
        ));
        // One set of limiters for the command and query routes of this process.
        let limits = Arc::new(api::ratelimit::RateLimits::new(args.rate.limits()));
        let role = args.role;
        let mut router = Router::new();
        let mut checks: Vec<(&'static str, Check)> = Vec::new();
        let mut openapi = command::openapi();
        let mut store = None;
        let mut tasks = Vec::new();
        // This process's search index replica, for the search route.
        let mut searcher = None;

        if matches!(role, Role::All | Role::Command) {
            let pool = lazy_pool(&config.database_url, 16)?;
            checks.push(("postgres", pg_check(pool.clone())));
            let event_store = EventStore::connect(
                pool,
                BatchConfig {
                    max_events: args.batch_max_events,
                    max_wait: Duration::from_micros(args.batch_max_wait_us),
                    ..BatchConfig::default()
                },
            )
            .await;
            let state = CommandState::new(
                Repository::new(event_store.clone(), 100_000),
                keys.clone(),
                limits.clone(),
            );
            router = router.merge(command::router(state));
            store = Some(event_store);
        }
        if matches!(role, Role::All | Role::Query | Role::Projector) {
            checks.push(("redis", redis_check(config.redis_url.clone())));
            let nats = async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .connect(config.nats_url.as_str())
                .await
                .context("nats client")?;
            checks.push(("nats", nats_check(nats)));
        }
        if matches!(role, Role::All | Role::Projector | Role::Query) {
            let mut projector = projector::ProjectorConfig::new(
                &config.namespace,
                lazy_pool(&config.database_url, 4)?,
                lazy_pool(&config.read_database_url, 4)?,
                &config.redis_url,
                &config.nats_url,
                &config.data_dir,
            );
            if matches!(role, Role::All | Role::Projector) {
                // The redis projection publishes live frames for /v1/stream.
                projector.frames = Some(
                    projector::FramePublisher::connect(&config.nats_url, &config.namespace)
                        .await
                        .context("nats client for live frames")?,
                );
            }
            if role == Role::Query {
                checks.push(("postgres", pg_check(projector.write_pool.clone())));
            }
            // The relay and the shared read models run on projector nodes; every
            // node that serves queries keeps its own search index replica.
            let names: &[&str] = match role {
                Role::Projector => &["relay", REDIS_PROJECTION, HISTORY_PROJECTION],
                Role::Query => &[SEARCH_PROJECTION],
                _ => &[
                    "relay",
                    REDIS_PROJECTION,
                    HISTORY_PROJECTION,
                    SEARCH_PROJECTION,
                ],
            };
            for name in names {
                let handle = if *name == "relay" {
                    projector::spawn_relay(&projector, cancel.clone()).await
                } else {
                    projector::spawn_projection(&projector, name, cancel.clone()).await
                };
                match handle {
                    Ok(h) => {
                        if h.name == SEARCH_PROJECTION {
                            searcher = Some(h.searcher);
                        }
                        tasks.push(h.task)
                    }
                    Err(projector::ProjectorError::UnknownProjection(n)) => {
                        tracing::warn!(projection = %n, "projection not available in this build");
                    }
                    Err(e) => return Err(anyhow::anyhow!(e).context(format!("start {name}"))),
                }
            }
        }
        if matches!(role, Role::All | Role::Query) {
            let query = query::QueryState::connect(query::QueryConfig {
                rate_limits: limits.clone(),
                ..query::QueryConfig::new(
                    config.redis_url.clone(),
                    config.replica_url().to_owned(),
                    config.namespace.clone(),
                    keys.clone(),
                )
            })
            .await
            .context("connect the query side")?;
            let query = match searcher.take() {
                Some(s) => query.with_searcher(s),
                None => query,
            };
            let ready = query.clone();
            checks.push((
                "read_models",
                Arc::new(move || {
                    let q = ready.clone();
                    Box::pin(async move { query::check_ready(&q).await })
                }),
            ));
            let hub = query::stream::StreamHub::start(
                query.clone(),
                &config.nats_url,
                query::stream::StreamOptions {
                    max_per_user: args.max_streams_per_user as usize,
                    allowed_origins: args.stream_allowed_origins.clone(),
                    ..query::stream::StreamOptions::default()
                },
                cancel.clone(),
            )
            .await
            .context("start the live stream hub")?;
            let (drain, stop) = (hub.clone(), cancel.clone());
            // At shutdown, give the WebSockets time to send their close frames.
            tasks.push(tokio::spawn(async move {
                stop.cancelled().await;
                drain.drained(Duration::from_secs(5)).await;
            }));
            router = router.merge(query::stream::router(hub));
            router = router.merge(query::router(query));
            openapi.merge(query::openapi());
            router = router.merge(crate::web::router());
            router = router.merge(ops_status_router(config, &admin_token, metrics.clone())?);
        }

        openapi.merge(ops::openapi_doc());
        let openapi = serde_json::to_value(&openapi).context("serialise the OpenAPI document")?;
        let ops = ops::router(OpsState {
            metrics,
            openapi: Arc::new(openapi),
            checks: Arc::new(checks),
            admin: crate::admin::AdminToken::new(&admin_token),
        });
        let body_limits =
            api::limits::BodyLimits::api(Duration::from_secs(args.body_read_timeout_secs));
        // A route group with other body limits (uploads) is merged after
        // this line with its own `BodyLimits::apply`.
        let router = body_limits.apply(router.merge(ops));
        let router = router
            .fallback(api::error::fallback)
            .layer(axum::middleware::from_fn(api::metrics::track))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_answer,
            ))
            .layer(axum::middleware::from_fn(crate::server::headers::defaults))
            .layer(crate::server::trace::layer());
        Ok(Self {
            router,
            store,
            tasks,
        })
    }

    /// Drain the group commit and wait for the background tasks.
    pub async fn shutdown(self) {
        if let Some(store) = self.store {
            store.shutdown().await;
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// The admin token of `/ops/status` and `/metrics`: configured, or
/// generated into the data directory (and its file logged, never the token).
fn load_admin_token(config: &Config) -> Result<String> {
    let token = crate::ops_status::load_or_create_admin_token(
        config.admin_token.as_deref(),
        &config.data_dir,
    )
    .context("load or create the admin token")?;
    if config.admin_token.is_none() {
        tracing::info!(
            file = %crate::ops_status::admin_token_file(&config.data_dir).display(),
            "operator page /ops and /metrics: admin token kept in the data directory"
        );
    }
    Ok(token)
}

/// `GET /ops/status` with the admin token.
fn ops_status_router(
    config: &Config,
    token: &str,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> Result<Router> {
    let projector = projector::ProjectorConfig::new(
        &config.namespace,
        lazy_pool(&config.database_url, 2)?,
        lazy_pool(&config.read_database_url, 2)?,
        &config.redis_url,
        &config.nats_url,
        &config.data_dir,
    );
    Ok(crate::ops_status::router(
        crate::ops_status::OpsStatusState::new(token, projector, metrics),
    ))
}

/// A panic in a handler is a bug: logged, answered as a bare 500.
fn panic_answer(err: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    axum::response::IntoResponse::into_response(api::ApiError::internal("handler panicked", detail))
}
