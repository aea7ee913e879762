//! Operational routes: liveness, readiness, Prometheus metrics, the OpenAPI
//! document and an offline page that browses it.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// One dependency check of `/readyz`: a name and a probe.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// State of the operational routes.
#[derive(Clone)]
pub struct OpsState {
    /// Renders the metrics registry.
    pub metrics: PrometheusHandle,
    /// The merged OpenAPI document.
    pub openapi: Arc<serde_json::Value>,
    /// What `/readyz` checks.
    pub checks: Arc<Vec<(&'static str, Check)>>,
}

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let mut report = serde_json::Map::new();
    let mut ready = true;
    for (name, check) in state.checks.iter() {
        let outcome = tokio::time::timeout(Duration::from_secs(1), check()).await;
        let status = match outcome {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                ready = false;
                e
            }
            Err(_) => {
                ready = false;
                "timed out".to_owned()
            }
        };
        report.insert((*name).to_owned(), status.into());
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut res = (
        code,
        Json(serde_json::json!({ "ready": ready, "checks": report })),
    )
        .into_response();
    if !ready {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    res
}

async fn metrics(State(state): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi(State(state): State<OpsState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}

/// A self-contained page (no external scripts) listing every operation of
/// `/openapi.json` with its parameters, body and answers.
const DOCS_PAGE: &str = include_str!("docs.html");
