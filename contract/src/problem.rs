//! The error body every route answers with (RFC 9457 problem details).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answer (RFC 9457 problem details), `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `https://cotalk.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status, again.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Stable machine-readable code; clients branch on it.
    pub code: String,
    /// What went wrong, for people (never internal information).
    pub detail: String,
}
