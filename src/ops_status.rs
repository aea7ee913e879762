//! `GET /ops/status`: what the operator page (`/ops`) shows, as JSON, for
//! holders of the admin token: every projection's generation, checkpoint and
//! lag (the same report as `cotalk projections status`), the log head, the
//! append rate and the group-commit batch sizes.
//!
//! The append rate is measured from the log head itself (events per second
//! over the last [`WINDOW`]), so it is right whichever process appends. Batch
//! sizes come from this process's metrics registry (`cotalk_append_batch_*`),
//! so they are only known where the command side runs (`null` elsewhere).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use projector::ProjectorConfig;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far back rates and mean batch sizes reach.
pub const WINDOW: Duration = Duration::from_secs(10);

/// One reading of the counters rates are computed from.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    head: i64,
    batches: f64,
    batch_events: f64,
}

/// State of the route.
#[derive(Clone)]
pub struct OpsStatusState {
    /// The admin token's check.
    admin: crate::admin::AdminToken,
    /// Where the projections and the log are.
    projector: Arc<ProjectorConfig>,
    /// This process's metrics.
    metrics: PrometheusHandle,
    /// Recent samples, oldest first.
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

impl OpsStatusState {
    /// The route's state for `admin_token`.
    pub fn new(admin_token: &str, projector: ProjectorConfig, metrics: PrometheusHandle) -> Self {
        Self {
            admin: crate::admin::AdminToken::new(admin_token),
            projector: Arc::new(projector),
            metrics,
            samples: Arc::default(),
        }
    }
}

/// The admin token: the configured one, else one generated on first use and
/// kept in [`admin_token_file`] (across restarts, shared by the processes on
/// this data directory), the same way as the token signing key.
pub fn load_or_create_admin_token(
    configured: Option<&str>,
    data_dir: &Path,
) -> std::io::Result<String> {
    let configured = configured.map(str::trim).filter(|t| !t.is_empty());
    let token = api::auth::load_or_create_secret(configured, &data_dir.join("ops"))?;
    String::from_utf8(token).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Where a generated admin token is kept.
pub fn admin_token_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("ops").join("token_secret")
}

/// `GET /ops/status`.
pub fn router(state: OpsStatusState) -> Router {
    Router::new()
        .route("/ops/status", get(status))
        .with_state(state)
}

/// The group commit as seen from this process.
#[derive(Debug, Serialize)]
struct Appends {
    /// Events appended per second over the window (from the log head).
    rate_per_sec: Option<f64>,
    /// Group commits per second over the window.
    batches_per_sec: Option<f64>,
    /// Mean events per group commit over the window.
    mean_batch_events: Option<f64>,
    /// Quantiles of events per group commit since start (`"0.5"` → size).
    batch_events_quantiles: Vec<(String, f64)>,
    /// Events per group commit, largest since start.
    max_batch_events: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    status: projector::status::Status,
    appends: Appends,
    window_seconds: f64,
    at: chrono::DateTime<chrono::Utc>,
}

async fn status(State(state): State<OpsStatusState>, headers: HeaderMap) -> Response {
    if !state.admin.permits(&headers) {
        return crate::admin::refusal();
    }
    let status = projector::status::collect(&state.projector).await;
    let metrics = parse_batch_metrics(&state.metrics.render());
    let now = Instant::now();
    let appends;
    let window_seconds;
    {
        let mut samples = match state.samples.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(head) = &status.head {
            samples.push_back(Sample {
                at: now,
                head: head.position,
                batches: metrics.count,
                batch_events: metrics.sum,
            });
        }
        // Keep one sample older than the window to measure across it.
        while samples.len() > 2 && now.duration_since(samples[1].at) > WINDOW {
            samples.pop_front();
        }
        let (first, last) = (samples.front().copied(), samples.back().copied());
        let span = match (first, last) {
            (Some(f), Some(l)) => l.at.duration_since(f.at).as_secs_f64(),
            _ => 0.0,
        };
        window_seconds = span;
        let per_sec = |f: fn(&Sample) -> f64| match (first, last) {
            (Some(a), Some(b)) if span > 0.0 => Some(((f(&b) - f(&a)) / span).max(0.0)),
            _ => None,
        };
        let batches = per_sec(|s| s.batches);
        let batch_events = per_sec(|s| s.batch_events);
        appends = Appends {
            rate_per_sec: per_sec(|s| s.head as f64),
            batches_per_sec: metrics.present.then_some(batches).flatten(),
            mean_batch_events: match (batches, batch_events) {
                (Some(b), Some(e)) if metrics.present && b > 0.0 => Some(e / b),
                _ => None,
            },
            batch_events_quantiles: metrics.quantiles,
            max_batch_events: metrics.max,
        };
    }
    let mut res = Json(Report {
        status,
        appends,
        window_seconds,
        at: chrono::Utc::now(),
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What the metrics registry says about group commits.
#[derive(Debug, Default, PartialEq)]
struct BatchMetrics {
    present: bool,
    count: f64,
    sum: f64,
    max: Option<f64>,
    quantiles: Vec<(String, f64)>,
}

/// Read `cotalk_append_batch_events` (a summary) from Prometheus text.
fn parse_batch_metrics(text: &str) -> BatchMetrics {
    const NAME: &str = "cotalk_append_batch_events";
    let mut m = BatchMetrics::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(NAME) else {
            continue;
        };
        let Some((key, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if key == "_count" {
            m.present = true;
            m.count = value;
        } else if key == "_sum" {
            m.sum = value;
        } else if let Some(q) = key
            .strip_prefix("{quantile=\"")
            .and_then(|q| q.strip_suffix("\"}"))
        {
            if q == "1" {
                m.max = Some(value);
            } else {
                m.quantiles.push((q.to_owned(), value));
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_batch_summary() {
        let text = "# TYPE cotalk_append_batch_events summary\n\
            cotalk_append_batch_events{quantile=\"0.5\"} 3\n\
            cotalk_append_batch_events{quantile=\"0.99\"} 40\n\
            cotalk_append_batch_events{quantile=\"1\"} 64\n\
            cotalk_append_batch_events_sum 500\n\
            cotalk_append_batch_events_count 100\n\
            cotalk_append_batch_seconds_count 100\n";
        let m = parse_batch_metrics(text);
        assert!(m.present);
        assert_eq!((m.count, m.sum, m.max), (100.0, 500.0, Some(64.0)));
        assert_eq!(
            m.quantiles,
            vec![("0.5".to_owned(), 3.0), ("0.99".to_owned(), 40.0)]
        );
        assert!(!parse_batch_metrics("other 1\n").present);
    }

    #[test]
    fn reads_what_the_exporter_renders() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            for size in [1.0, 2.0, 3.0, 10.0] {
                metrics::histogram!("cotalk_append_batch_events").record(size);
            }
        });
        let m = parse_batch_metrics(&handle.render());
        assert!(m.present);
        assert_eq!((m.count, m.sum), (4.0, 16.0));
        assert!(m.max.is_some_and(|max| (max - 10.0).abs() < 0.5), "{m:?}");
        assert!(m.quantiles.iter().any(|(q, _)| q == "0.5"), "{m:?}");
    }

    #[test]
    fn a_generated_admin_token_is_kept() {
        let dir = std::env::temp_dir().join(format!("cotalk-admin-{}", uuid::Uuid::new_v4()));
        let a = load_or_create_admin_token(None, &dir).unwrap();
        let b = load_or_create_admin_token(Some(" "), &dir).unwrap();
        assert_eq!(a, b);
        assert_eq!(load_or_create_admin_token(Some("x"), &dir).unwrap(), "x");
        let _ = std::fs::remove_dir_all(dir);
    }
}
