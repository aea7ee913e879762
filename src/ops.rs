//! Operational routes: liveness, readiness, Prometheus metrics, the OpenAPI
//! document and an offline page that browses it.
//!
//! `/metrics` takes the admin token: its series name every route and its
//! latencies, projection positions and the process's load, which is for
//! operators. A scraper without the token reads it on the separate address
//! of `--metrics-listen` ([`metrics_router`]), meant for a private network.

use crate::admin::AdminToken;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use contract::ops::{Health, LeaseState, Readiness};
use metrics_exporter_prometheus::PrometheusHandle;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// The leases this process competes for, and whether it holds each.
    pub leases: Arc<Vec<(&'static str, tokio::sync::watch::Receiver<bool>)>>,
    /// Who may read `/metrics`.
    pub admin: AdminToken,
}

/// The operational routes, each declared once: `routes!` mounts the handler
/// under the method and path of its `#[utoipa::path]` and adds that
/// operation to the document, so the router and `/openapi.json` cannot
/// disagree.
fn table() -> OpenApiRouter<OpsState> {
    OpenApiRouter::with_openapi(OpsDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(docs))
}

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
pub fn router(state: OpsState) -> Router {
    let (router, _) = table().split_for_parts();
    router.with_state(state)
}

/// `GET /metrics` without the admin token, for the `--metrics-listen` address.
pub fn metrics_router(metrics: PrometheusHandle) -> Router {
    Router::new().route("/metrics", get(move || render(metrics.clone())))
}

/// The operational routes' part of the OpenAPI document (API.md: the
/// document covers them too).
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    table().into_openapi()
}

/// The operational document's frame: the admin security scheme (the
/// operations come from [`table`]).
#[derive(utoipa::OpenApi)]
#[openapi(modifiers(&AdminAuth))]
struct OpsDoc;

/// Declares the `admin` security scheme: the admin token as a bearer token.
struct AdminAuth;

impl utoipa::Modify for AdminAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the admin token (`--admin-token` / `COTALK_ADMIN_TOKEN`)",
                    ))
                    .build(),
            ),
        );
    }
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up.", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health::ok())
}

#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "A page browsing this document; works offline.", content_type = "text/html", body = String)))]
async fn docs() -> Response {
    let mut res = Html(DOCS_PAGE).into_response();
    let policy = HeaderValue::from_str(&DOCS_POLICY)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    res
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers (`ready` true, each check \"ok\"); `leases` says which leased tasks this node runs.", body = Readiness),
        (status = 503, description = "A dependency does not answer; `checks` says which.", body = Readiness,
            headers(("Retry-After" = u64, description = "Seconds to wait before asking again"))),
    ))]
async fn readyz(State(state): State<OpsState>) -> Response {
    let mut checks = BTreeMap::new();
    let mut ready = true;
    for (name, check) in state.checks.iter() {
        let outcome = tokio::time::timeout(Duration::from_secs(1), check()).await;
        let status = match outcome {
            Ok(Ok(())) => contract::ops::CHECK_OK.to_owned(),
            Ok(Err(e)) => {
                ready = false;
                e
            }
            Err(_) => {
                ready = false;
                "timed out".to_owned()
            }
        };
        checks.insert((*name).to_owned(), status);
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let leases = state
        .leases
        .iter()
        .map(|(name, active)| {
            let held = match *active.borrow() {
                true => LeaseState::Active,
                false => LeaseState::Standby,
            };
            ((*name).to_owned(), held)
        })
        .collect();
    let report = Readiness {
        ready,
        checks,
        leases,
    };
    let mut res = (code, Json(report)).into_response();
    if !ready {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    res
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("admin" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition.", content_type = "text/plain", body = String),
        (status = 401, description = "unauthenticated: no admin token (`--metrics-listen` serves it without one)",
            content_type = "application/problem+json", body = query::dto::Problem),
    ))]
async fn metrics(State(state): State<OpsState>, headers: HeaderMap) -> Response {
    if !state.admin.permits(&headers) {
        return crate::admin::refusal();
    }
    render(state.metrics).await
}

async fn render(metrics: PrometheusHandle) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
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

/// The page's `Content-Security-Policy`: its one inline script and style
/// sheet by hash, fetches to this origin, no framing.
static DOCS_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        inline_hashes(DOCS_PAGE, "script"),
        inline_hashes(DOCS_PAGE, "style"),
    )
});

/// CSP source expressions (`'sha256-…'`) of every `<tag>…</tag>` of `page`.
fn inline_hashes(page: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut hashes = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        let digest = Sha256::digest(&body.as_bytes()[..end]);
        hashes.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &body[end + close.len()..];
    }
    if hashes.is_empty() {
        "'none'".to_owned()
    } else {
        hashes.join(" ")
    }
}
