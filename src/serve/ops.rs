//! The ops part, in every role: `/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json` and `/docs`, built from the other parts' readiness checks,
//! leases and documents.

use super::component::Component;
use super::shared::Shared;
use crate::ops::{self, Check, OpsState};
use anyhow::{Context, Result};
use std::sync::Arc;

/// Build the ops part over the role's other `parts`.
pub fn component(shared: &Shared, parts: &[Component]) -> Result<Component> {
    let mut checks: Vec<(&'static str, Check)> = Vec::new();
    for (name, check) in parts.iter().flat_map(|p| &p.checks) {
        // Parts that use one dependency name one check: ask it once.
        if !checks.iter().any(|(seen, _)| seen == name) {
            checks.push((name, check.clone()));
        }
    }
    // Every role's document starts from the command side's (its `info`
    // names the API; a split deployment is one API behind one address),
    // then takes each part's and the ops routes'.
    let mut openapi = command::openapi();
    for doc in parts.iter().filter_map(|p| p.openapi.clone()) {
        openapi.merge(doc);
    }
    openapi.merge(ops::openapi_doc());
    let openapi = serde_json::to_value(&openapi).context("serialise the OpenAPI document")?;
    let leases = parts.iter().flat_map(|p| p.leases.clone()).collect();
    Ok(Component::new(ops::router(OpsState {
        metrics: shared.metrics.clone(),
        openapi: Arc::new(openapi),
        checks: Arc::new(checks),
        leases: Arc::new(leases),
        admin: crate::admin::AdminToken::new(&shared.admin_token),
    })))
}
