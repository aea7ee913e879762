//! A meet-up and the caller's meet-ups, from the meet-ups read model (see
//! [`crate::meetups`]).

use crate::dto::Problem;
use crate::failure::Fail;
use crate::meetups::{self, Filter};
use crate::routes::ConsistencyHeaders;
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::optional;
use api::{ApiError, ApiPath, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use contract::meetups::{MeetupResponse, MyMeetupsResponse};
use domain::{DomainError, MeetupId};
use serde::Deserialize;
use utoipa::IntoParams;

/// One meet-up the caller attends.
#[utoipa::path(get, path = "/v1/meetups/{meetup_id}", tag = "meetups",
    params(("meetup_id" = uuid::Uuid, Path, description = "the meet-up"), ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the meet-up with every attendee's answer", body = MeetupResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 404, description = "meetup_not_found: no such meet-up, or the caller does not attend it", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn meetup(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiPath(raw): ApiPath<String>,
    min: MinPosition,
) -> Result<(Position, Json<MeetupResponse>), Fail> {
    let not_found = || ApiError::from(DomainError::MeetupNotFound);
    let id: MeetupId = raw.parse().map_err(|_| not_found())?;
    let filter = Filter {
        meetup: Some(id),
        ..Filter::default()
    };
    let (rows, position) = meetups::read(&state, me, filter, Bound::of(min)).await?;
    match rows.into_iter().next() {
        Some(row) => Ok((Position(position), Json(row.meetup))),
        None => Err(Fail::at(not_found(), position)),
    }
}

/// `?from=&to=` of the caller's meet-ups.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MeetupsParams {
    /// Only meet-ups starting at or after this (RFC 3339).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<DateTime<Utc>>)]
    from: Option<String>,
    /// Only meet-ups starting before this (RFC 3339).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<DateTime<Utc>>)]
    to: Option<String>,
}

/// An RFC 3339 query parameter (400 `invalid_request` otherwise).
fn instant(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid_request(format!("{name} must be an RFC 3339 time")))
        })
        .transpose()
}

/// The caller's meet-ups (cancelled ones included), ordered by start.
#[utoipa::path(get, path = "/v1/me/meetups", tag = "meetups",
    params(MeetupsParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the meet-ups the caller attends starting in [from, to), ordered by \
            starts_at then meetup_id, at most 500", body = MyMeetupsResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 400, description = "invalid_request: from or to is not an RFC 3339 time", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn my_meetups(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiQuery(params): ApiQuery<MeetupsParams>,
    min: MinPosition,
) -> Result<(Position, Json<MyMeetupsResponse>), Fail> {
    let filter = Filter {
        meetup: None,
        from: instant("from", params.from.as_deref())?,
        to: instant("to", params.to.as_deref())?,
    };
    let (rows, position) = meetups::read(&state, me, filter, Bound::of(min)).await?;
    let meetups = rows.into_iter().map(|r| r.meetup).collect();
    Ok((Position(position), Json(MyMeetupsResponse { meetups })))
}
