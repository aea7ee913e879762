//! The caller's notification feed (see [`crate::notifications`]).

use crate::dto::Problem;
use crate::failure::Fail;
use crate::notifications;
use crate::routes::ConsistencyHeaders;
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::{limit, optional};
use api::{ApiError, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use contract::notifications::NotificationsResponse;
use serde::Deserialize;
use utoipa::IntoParams;

/// `?cursor=&limit=` of the feed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NotificationsParams {
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "optional")]
    cursor: Option<String>,
    /// 1–200, default 50.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A cursor: the position of the last notification of the previous page.
fn cursor(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(i64::MAX),
        Some(s) => s.parse::<i64>().ok().filter(|p| *p > 0).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "cursor is not one this server issued",
            )
        }),
    }
}

/// The caller's notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "users",
    params(NotificationsParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one page of the caller's notifications, newest first; \
            `unread_count` counts all of them", body = NotificationsResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 400, description = "invalid_request, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_limit", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn my_notifications(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiQuery(params): ApiQuery<NotificationsParams>,
    min: MinPosition,
) -> Result<(Position, Json<NotificationsResponse>), Fail> {
    let limit = limit(params.limit.as_deref())?;
    let before = cursor(params.cursor.as_deref())?;
    let (page, position) = notifications::read(&state, me, before, limit, Bound::of(min)).await?;
    Ok((Position(position), Json(page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_positive_positions() {
        assert_eq!(cursor(None).unwrap(), i64::MAX);
        assert_eq!(cursor(Some("42")).unwrap(), 42);
        for bad in ["0", "-1", "x", "1.5", "99999999999999999999"] {
            assert_eq!(
                cursor(Some(bad)).unwrap_err().code,
                "invalid_cursor",
                "{bad}"
            );
        }
    }
}
