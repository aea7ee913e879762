//! The query routes, one module per resource. Each handler reads only the
//! projections (through [`crate::snapshot`] and [`crate::history`]) and
//! answers with `X-Position`.
//!
//! - [`users`] answers `/v1/me`, `/v1/users/{user_id}`, `/v1/users?username=`, `/v1/me/friends`.
//! - [`rooms`] answers `/v1/rooms/{room_id}`, `/v1/me/rooms`.
//! - [`messages`] answers `/v1/rooms/{room_id}/messages`.
//! - [`attachments`] answers `/v1/attachments/{attachment_id}` (its own state: the object store).
//! - [`people`] answers `/v1/rooms/{room_id}/invites`, `/v1/invites/{token}`, `/v1/me/blocks`, `/v1/users/search`.
//! - [`meetups`] answers `/v1/meetups/{meetup_id}`, `/v1/me/meetups`.
//! - [`notifications`] answers `/v1/me/notifications`.
//! - [`calendar`] answers `/v1/me/calendar.ics` (with the feed's own token).
//! - [`search`] answers `/v1/search/messages` (when this process keeps a search index).

pub mod attachments;
pub(crate) mod calendar;
pub(crate) mod meetups;
pub(crate) mod messages;
pub(crate) mod notifications;
pub(crate) mod people;
mod presence;
pub(crate) mod rooms;
pub(crate) mod search;
pub(crate) mod users;

use api::ApiError;
use domain::DomainError;
use serde::Deserialize;
use utoipa::IntoParams;

/// The read-your-writes request headers every query accepts (documentation
/// only: [`api::MinPosition`] parses them).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct ConsistencyHeaders {
    /// Wait until the projections this route reads have applied this
    /// position (the `position` a command answered).
    #[serde(rename = "X-Min-Position")]
    #[param(minimum = 0)]
    x_min_position: Option<i64>,
    /// How long to wait for it, in milliseconds (default 2000, at most 10000).
    #[serde(rename = "X-Max-Wait-Ms")]
    #[param(minimum = 0)]
    x_max_wait_ms: Option<i64>,
}

/// A room id from the path: anything that is not one is the same 404 as a
/// room that does not exist.
pub(crate) fn room_id(raw: &str) -> Result<domain::RoomId, ApiError> {
    raw.parse().map_err(|_| ApiError::room_not_found())
}

/// A user id from the path; anything that is not one is `user_not_found`.
pub(crate) fn user_id(raw: &str) -> Result<domain::UserId, ApiError> {
    raw.parse().map_err(|_| DomainError::UserNotFound.into())
}
