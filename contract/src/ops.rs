//! The answers of the operational routes (`/healthz`, `/readyz`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What a check reports when its dependency answers.
pub const CHECK_OK: &str = "ok";

/// `GET /healthz`: the process is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `"ok"`.
    #[schema(example = "ok")]
    pub status: String,
}

impl Health {
    /// The only answer.
    pub fn ok() -> Self {
        Self {
            status: CHECK_OK.to_owned(),
        }
    }
}

/// `GET /readyz`: whether every dependency answers, and each one's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// Every check is `"ok"` (the status is then 200, else 503).
    pub ready: bool,
    /// Each dependency's outcome by name (`postgres`, `redis`, `nats` …):
    /// `"ok"`, or what went wrong.
    pub checks: BTreeMap<String, String>,
    /// The leases this node competes for (`scheduler`, `relay`, `redis`,
    /// `history`), each `active` (this node runs that task now) or
    /// `standby`. Absent on nodes that compete for none (command and query
    /// nodes). Not part of readiness: a standby is ready.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub leases: BTreeMap<String, LeaseState>,
}

/// Whether this node runs a leased task now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    /// This node holds the lease and runs the task.
    Active,
    /// Another node holds it (or none does yet): this one polls for it.
    Standby,
}
