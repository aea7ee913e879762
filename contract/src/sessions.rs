//! Request bodies and answers of the session routes (`POST
//! /v1/sessions/refresh`, `GET`/`DELETE /v1/me/sessions`, `POST
//! /v1/me/password`); the login answer is [`crate::commands::LoginResponse`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/sessions/refresh` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// `POST /v1/me/password` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// 8-256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}

/// One live session of the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Its id (`DELETE /v1/me/sessions/{session_id}` ends it).
    pub session_id: uuid::Uuid,
    /// When it was logged in.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last used (the login, at first).
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` it logged in with (at most 256 characters).
    pub user_agent: String,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

/// `GET /v1/me/sessions` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionsResponse {
    /// Live sessions (not revoked, refresh token not expired), newest first.
    pub sessions: Vec<SessionView>,
}

/// The answer of routes that end sessions: nothing but success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ended {}

/// `DELETE /v1/me` body (issue 18).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The password now: deleting cannot be undone.
    pub password: String,
}
