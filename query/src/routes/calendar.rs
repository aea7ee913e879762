//! `GET /v1/me/calendar.ics?token=`: the caller's meet-ups as an RFC 5545
//! calendar, for calendar apps. It is read with the feed's own token (made
//! by `POST /v1/me/calendar-token`), never a session token, since the URL
//! ends up in calendar apps and their sync logs.

use crate::dto::Problem;
use crate::failure::Fail;
use crate::meetups::{self, Filter, MeetupRow};
use crate::routes::ConsistencyHeaders;
use crate::state::QueryState;
use crate::wait::Bound;
use api::{ApiError, ApiQuery, MinPosition, Position};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::UserId;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

/// `?token=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedParams {
    /// The calendar feed token.
    #[serde(default)]
    token: Option<String>,
}

/// The `UID` of a meet-up's calendar entry: stable for its whole life.
pub(crate) fn uid(row: &MeetupRow) -> String {
    format!("{}@meetups.cotalk", row.meetup.meetup_id)
}

/// One meet-up as a `VEVENT`.
fn event(row: &MeetupRow) -> Event {
    let m = &row.meetup;
    let mut e = Event::new();
    e.uid(&uid(row))
        .timestamp(row.updated_at)
        .created(row.planned_at)
        .last_modified(row.updated_at)
        .sequence(row.sequence.max(0) as u32)
        .summary(&m.title)
        .starts(m.starts_at)
        .status(if m.cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        });
    if let Some(end) = m.ends_at {
        e.ends(end);
    }
    if let Some(place) = &m.place {
        e.location(place);
    }
    if let Some(description) = &m.description {
        e.description(description);
    }
    e.done()
}

fn bad_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_calendar_token",
        "the calendar feed token is missing, unknown or was replaced",
    )
}

/// The caller's meet-ups (cancelled ones with `STATUS:CANCELLED`) as an
/// RFC 5545 calendar.
#[utoipa::path(get, path = "/v1/me/calendar.ics", tag = "meetups",
    params(FeedParams, ConsistencyHeaders),
    responses(
        (status = 200, description = "every meet-up of the feed's owner (at most 500, by start) as VEVENTs: \
            UID `{meetup_id}@meetups.cotalk`, SEQUENCE bumped by each change and the cancellation, \
            STATUS CONFIRMED or CANCELLED", content_type = "text/calendar",
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 401, description = "invalid_calendar_token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn feed(
    State(state): State<QueryState>,
    ApiQuery(params): ApiQuery<FeedParams>,
    min: MinPosition,
) -> Result<Response, Fail> {
    let token = params
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(bad_token)?;
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let bound = Bound::of(min);
    let mut owner = meetups::feed_owner(&state, &hash).await?;
    if owner.is_none() && bound.position > 0 {
        // A token made at or before the asked position must be known: wait
        // for the projection to reach it (the read of nobody's meet-ups
        // waits like any other), then look again.
        meetups::read(&state, UserId(uuid::Uuid::nil()), Filter::default(), bound).await?;
        owner = meetups::feed_owner(&state, &hash).await?;
    }
    let Some(owner) = owner else {
        return Err(bad_token().into());
    };
    let (rows, position) = meetups::read(&state, owner, Filter::default(), bound).await?;
    let mut calendar = Calendar::new();
    calendar.name("cotalk meet-ups");
    for row in &rows {
        calendar.push(event(row));
    }
    let body = calendar.done().to_string();
    Ok((
        Position(position),
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response())
}
