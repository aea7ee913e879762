//! `POST /v1/rooms/{room_id}/typing` (issue 16): tell the room's other
//! members that the caller is typing. Ephemeral: no event, no position.
//!
//! Served by the streams part (query nodes), not the command side: it
//! appends nothing, needs only the room's membership (the `redis`
//! projection) and the NATS connection the stream hub already holds, and
//! its frames go out through the same hubs. The throttle is in Redis
//! (`SET NX PX`, `readmodel::live::typing_key`), so it holds across nodes:
//! at most one frame per user and room every [`THROTTLE`]; a call within it
//! answers 204 like any other and sends nothing.

use super::hub::StreamHub;
use super::route::header_token;
use crate::dto::Problem;
use crate::failure::{dependency, Fail};
use crate::routes::room_id;
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::wait::Bound;
use api::{ApiError, ApiPath, Authenticate, MinPosition};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use domain::{RoomId, UserId};
use readmodel::live::{self, TypingNotice};
use readmodel::{rooms, Replies};
use std::time::Duration;

/// At most one typing frame per user and room this often.
pub const THROTTLE: Duration = Duration::from_secs(3);

async fn is_member(snap: &mut Snapshot<'_>, room: RoomId, me: UserId) -> Result<bool, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            rooms::queue_is_member(pipe, keys, room, me);
            rooms::queue_get(pipe, keys, room);
        })
        .await?;
    let member = rooms::take_is_member(&mut values)?;
    Ok(member && rooms::take(&mut values)?.is_some())
}

/// Whether the throttle lets a frame of `me` in `room` through now.
async fn unthrottled(hub: &StreamHub, room: RoomId, me: UserId) -> Result<bool, ApiError> {
    let window = u64::try_from(THROTTLE.as_millis()).unwrap_or(u64::MAX);
    let mut pipe = redis::pipe();
    live::queue_typing(&mut pipe, hub.state().namespace(), room, me, window);
    let mut conn = hub.state().redis().await?;
    let values: Vec<redis::Value> = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| dependency("redis typing", e))?;
    live::take_typing(&mut Replies::new(values)).map_err(|e| ApiError::internal("redis typing", e))
}

/// The caller is typing in a room.
#[utoipa::path(post, path = "/v1/rooms/{room_id}/typing", tag = "stream",
    params(("room_id" = uuid::Uuid, Path, description = "the room"), crate::routes::ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "told the other members (a `typing {room_id, user_id}` frame), \
            at most once per user and room every 3 s: within that, nothing is sent; never to or from \
            someone blocked. Ephemeral: no event, no position"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "room_not_found: no such room, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn typing(
    State(hub): State<StreamHub>,
    headers: HeaderMap,
    ApiPath(raw): ApiPath<String>,
    min: Result<MinPosition, ApiError>,
) -> Result<StatusCode, Fail> {
    let token = header_token(&headers).ok_or_else(ApiError::unauthenticated)?;
    let me = hub.state().authenticate(token).await?.user;
    // Who asks comes first: a stranger learns nothing, not even that a
    // header was malformed.
    let min = min?;
    let room = room_id(&raw)?;
    let mut snap = Snapshot::begin(hub.state(), Bound::of(min));
    if !consistent!(snap, is_member(&mut snap, room, me)) {
        return Err(Fail::at(ApiError::room_not_found(), snap.position()));
    }
    if unthrottled(&hub, room, me).await? {
        metrics::counter!("cotalk_typing_frames_total").increment(1);
        let notice = TypingNotice {
            room_id: room,
            user_id: me,
        };
        super::live::publish(&hub, live::typing_subject(hub.state().namespace()), &notice).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
