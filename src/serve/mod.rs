//! Process wiring of `cotalk serve`: which parts a role runs, what they
//! share, and serving them until a clean shutdown on SIGTERM / Ctrl-C (stop
//! accepting, finish in-flight requests, drain the group commit, stop the
//! projectors, close WebSockets with 1001).
//!
//! Production ([`run`]) and the black-box tests both start a process with
//! [`start`]; tests listen on `127.0.0.1:0` and read the bound address from
//! [`Running::addr`].
//!
//! - [`component`]: the parts ([`Part`]), the role table ([`Part::of`]) and
//!   what a built part hands back ([`Component`]).
//! - [`shared`]: what the parts of a process share (one pool per database,
//!   one NATS client, token keys, limiters, the query state).
//! - `commands`, `projectors`, `queries`, `streams`, `web`, `ops`, `scheduler`: one part
//!   each; `revocations`: the deny-list follower every part that
//!   authenticates shares; `checks`: the readiness probes; `app`: the parts in one router
//!   and the shutdown that drains them.

mod app;
mod checks;
mod commands;
pub mod component;
mod ops;
mod projectors;
mod queries;
mod revocations;
mod scheduler;
mod session_sweeper;
pub mod shared;
mod streams;
mod sweeper;
mod web;

use crate::config::{Config, ServeArgs};
use crate::server::{serve_listener, HttpOptions};
use anyhow::{Context, Result};
use app::App;
use component::Connections;
pub use component::{Component, Part};
use metrics_exporter_prometheus::PrometheusHandle;
pub use shared::{lazy_pool, log_pool, Shared};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
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

/// `cotalk serve`: record metrics into the process's registry and serve the
/// role until SIGTERM or Ctrl-C, then shut down cleanly.
pub async fn run(config: Config, args: ServeArgs) -> Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("install the metrics recorder")?;
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    start(config, args, metrics, cancel).await?.stopped().await;
    Ok(())
}

/// A process being served; see [`start`].
pub struct Running {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    task: JoinHandle<()>,
}

impl Running {
    /// The address the HTTP server listens on (the port chosen when
    /// `--listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `--metrics-listen` address, when one was asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Wait until the process has shut down (after its cancellation token
    /// fired): connections closed, group commit drained, tasks stopped.
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the server task ended abnormally");
        }
    }
}

/// Migrate, build the parts of `args.role` with `metrics` as the process's
/// metrics registry, listen on `args.listen` (and `args.metrics_listen`)
/// and serve in the background until `cancel` fires; then stop accepting,
/// let in-flight requests finish, and drain every part.
pub async fn start(
    config: Config,
    args: ServeArgs,
    metrics: PrometheusHandle,
    cancel: CancellationToken,
) -> Result<Running> {
    migrate(&config).await?;
    let parts = Part::of(args.role);
    let shared = Shared::new(
        config,
        args,
        metrics.clone(),
        cancel.clone(),
        Connections::sum(parts),
    )?;
    let app = App::build(&shared, parts).await?;
    let args = &shared.args;
    let options = HttpOptions::from_args(args);
    let listener = bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    let metrics_server = match &args.metrics_listen {
        Some(address) => {
            let listener = bind(address).await?;
            let at = listener.local_addr()?;
            tracing::info!(listen = %at, "metrics served without the admin token");
            let router = crate::ops::metrics_router(metrics).layer(crate::server::trace::layer());
            let serving = serve_listener(listener, router, options, cancel.clone());
            Some((at, tokio::spawn(serving)))
        }
        None => None,
    };
    tracing::info!(listen = %addr, role = ?args.role, "cotalk serving");
    let metrics_addr = metrics_server.as_ref().map(|(at, _)| *at);
    let task = tokio::spawn(async move {
        serve_listener(listener, app.router.clone(), options, cancel).await;
        if let Some((_, serving)) = metrics_server {
            let _ = serving.await;
        }
        app.shutdown().await;
    });
    Ok(Running {
        addr,
        metrics_addr,
        task,
    })
}

async fn bind(address: &str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("listen on {address}"))
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
