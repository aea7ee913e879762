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
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
        .with_state(state)
}

/// The operational routes' part of the OpenAPI document (API.md: the
/// document covers them too).
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    <OpsDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics, openapi, docs))]
struct OpsDoc;

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up: `{\"status\":\"ok\"}`.", body = Object)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "A page browsing this document; works offline.", content_type = "text/html", body = String)))]
async fn docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers: `{ready: true, checks: {name: \"ok\"}}`.", body = Object),
        (status = 503, description = "A dependency does not answer; `checks` says which.", body = Object,
            headers(("Retry-After" = u64, description = "Seconds to wait before asking again"))),
    ))]
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

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition.", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI document.", body = Object)))]
async fn openapi(State(state): State<OpsState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}

/// A self-contained page (no external scripts) listing every operation of
/// `/openapi.json` with its parameters, body and answers.
const DOCS_PAGE: &str = include_str!("docs.html");
