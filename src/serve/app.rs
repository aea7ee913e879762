//! A built process: the role's parts and the ops routes in one router with
//! the layers every answer goes through, and the shutdown that drains them.

use super::component::{Component, Part};
use super::shared::Shared;
use anyhow::Result;
use axum::Router;
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long shutdown waits for each background task.
const TASK_WAIT: Duration = Duration::from_secs(10);

/// The routes of a process and what its shutdown waits for.
pub struct App {
    /// Every route, with the layers.
    pub router: Router,
    large_bodies: Router,
    tasks: Vec<JoinHandle<()>>,
    after_http: Vec<BoxFuture<'static, ()>>,
}

impl App {
    /// Build `parts` in order, then the ops part over them.
    pub async fn build(shared: &Shared, parts: &[Part]) -> Result<Self> {
        let mut built = Vec::with_capacity(parts.len() + 1);
        for part in parts {
            built.push(part.build(shared).await?);
        }
        let ops = super::ops::component(shared, &built)?;
        built.push(ops);
        let mut app = Self {
            router: Router::new(),
            large_bodies: Router::new(),
            tasks: Vec::new(),
            after_http: Vec::new(),
        };
        for Component {
            router,
            large_bodies,
            tasks,
            after_http,
            ..
        } in built
        {
            app.router = app.router.merge(router);
            app.large_bodies = app.large_bodies.merge(large_bodies);
            app.tasks.extend(tasks);
            app.after_http.extend(after_http);
        }
        let large = std::mem::take(&mut app.large_bodies);
        app.router = layered(app.router, large, shared);
        Ok(app)
    }

    /// Run what waited for the HTTP server (the group commit's drain), then
    /// wait for the background tasks, which the cancellation token stopped.
    pub async fn shutdown(self) {
        for work in self.after_http {
            work.await;
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(TASK_WAIT, task).await;
        }
    }
}

/// The layers every answer goes through: body limits, the problem+json
/// fallback, metrics, panics as 500, default headers, the request span.
fn layered(router: Router, large_bodies: Router, shared: &Shared) -> Router {
    let body_limits =
        api::limits::BodyLimits::api(Duration::from_secs(shared.args.body_read_timeout_secs));
    // A route group with other body limits (uploads) is merged after this
    // line with its own `BodyLimits::apply`.
    body_limits
        .apply(router)
        .merge(large_bodies)
        .fallback(api::error::fallback)
        .layer(axum::middleware::from_fn(api::metrics::track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_answer,
        ))
        .layer(axum::middleware::from_fn(crate::server::headers::defaults))
        .layer(crate::server::trace::layer())
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
