//! A room's details and the caller's room list, from the `redis` projection.

use crate::dto::{MemberResponse, MyRoomsResponse, Problem, RoomResponse, RoomSummaryResponse};
use crate::failure::Fail;
use crate::history;
use crate::routes::{room_id, ConsistencyHeaders};
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::{limit, optional};
use api::{ApiError, ApiPath, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::views::preview;
use domain::views::{LastMessageView, RoomView};
use domain::{RoomId, UserId};
use readmodel::{hidden, notice, people, rooms, timeline, unread};
use serde::Deserialize;
use utoipa::IntoParams;

/// Read a room and its members; `None` when it does not exist or the caller
/// is not a member (the same answer, on purpose).
async fn room_detail(
    snap: &mut Snapshot<'_>,
    room: RoomId,
    me: UserId,
) -> Result<Option<RoomResponse>, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            rooms::queue_get(pipe, keys, room);
            rooms::queue_members(pipe, keys, room);
            notice::queue_get(pipe, keys, room);
        })
        .await?;
    let view = rooms::take(&mut values)?;
    let members = rooms::take_members(&mut values)?;
    let notice = notice::take(&mut values)?;
    let Some(view) = view.filter(|_| members.contains_key(&me)) else {
        return Ok(None);
    };
    let mut members: Vec<MemberResponse> =
        members.into_values().map(MemberResponse::from).collect();
    members.sort_by(|a, b| {
        a.joined_at
            .cmp(&b.joined_at)
            .then(a.user_id.cmp(&b.user_id))
    });
    Ok(Some(RoomResponse {
        room_id: view.room_id.0,
        name: view.name,
        owner_id: view.owner_id.0,
        direct: view.direct,
        members,
        created_at: view.created_at,
        notice: notice.map(Into::into),
    }))
}

/// A room the caller is a member of.
#[utoipa::path(get, path = "/v1/rooms/{room_id}", tag = "rooms",
    params(("room_id" = uuid::Uuid, Path, description = "the room"), ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the room with its members", body = RoomResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 404, description = "room_not_found: no such room, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn room(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiPath(raw): ApiPath<String>,
    min: MinPosition,
) -> Result<(Position, Json<RoomResponse>), Fail> {
    let room = room_id(&raw)?;
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    match consistent!(snap, room_detail(&mut snap, room, me)) {
        Some(mut r) => {
            let mut position = snap.position();
            // The projection knows a notice's text only while its message is
            // in the timeline; an older one's is read from the history.
            if let Some(n) = r.notice.as_mut().filter(|n| n.body_preview.is_empty()) {
                let page = history::read_one(&state, room, n.seq, snap.bound()).await?;
                n.body_preview = page
                    .messages
                    .first()
                    .map(|m| preview(&m.body))
                    .unwrap_or_default();
                position = position.min(page.position);
            }
            Ok((Position(position), Json(r)))
        }
        None => Err(Fail::at(ApiError::room_not_found(), snap.position())),
    }
}

/// `?limit=&cursor=` of the room list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RoomsParams {
    /// Page size, 1–200 (default 50).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "optional")]
    cursor: Option<String>,
}

/// Where a page of the room list starts: after this (score, room) in the
/// list's order (score descending, then room id descending, as Redis orders
/// equal scores).
#[derive(Debug, Clone, PartialEq)]
struct Cursor(rooms::ListEntry);

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.0.score, self.0.room))
    }

    fn decode(s: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "cursor is not one this server issued",
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (score, room) = raw.split_once(':').ok_or_else(bad)?;
        let score: f64 = score.parse().map_err(|_| bad())?;
        let room: RoomId = room.parse().map_err(|_| bad())?;
        if !score.is_finite() {
            return Err(bad());
        }
        Ok(Self(rooms::ListEntry { room, score }))
    }
}

/// Read one page of the caller's rooms: the ids in one transaction, the
/// details of all of them in a second.
async fn room_list(
    snap: &mut Snapshot<'_>,
    me: UserId,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<MyRoomsResponse, Interrupt> {
    let after = cursor.map(|c| &c.0);
    let mut values = snap
        .exec(|keys, pipe| {
            rooms::queue_page(pipe, keys, me);
            people::queue_blocks(pipe, keys, me);
        })
        .await?;
    let mut page = rooms::take_page(&mut values, after, limit + 1)?;
    let blocked: Vec<UserId> = people::take_blocks(&mut values)?
        .into_iter()
        .map(|b| b.user_id)
        .collect();
    page.truncate(limit + 1);
    let next_cursor = (page.len() > limit).then(|| Cursor(page[limit - 1].clone()).encode());
    page.truncate(limit);
    let ids: Vec<RoomId> = page.iter().map(|e| e.room).collect();
    if ids.is_empty() {
        return Ok(MyRoomsResponse {
            rooms: Vec::new(),
            next_cursor,
        });
    }
    let mut values = snap
        .exec(|keys, pipe| {
            // Inside the transaction, so the script exists for the calls
            // after it even right after a Redis restart.
            unread::queue_script(pipe);
            people::queue_unread_script(pipe);
            people::queue_mutes(pipe, keys, me);
            for room in &ids {
                rooms::queue_get(pipe, keys, *room);
                rooms::queue_member_count(pipe, keys, *room);
                if blocked.is_empty() {
                    unread::queue_count(pipe, keys, *room, me);
                } else {
                    // Messages of users the caller blocked are never unread
                    // for them.
                    people::queue_unread_without(pipe, keys, *room, me, &blocked);
                }
                hidden::queue_newest(pipe, keys, *room, me, 1);
            }
        })
        .await?;
    let mutes = people::take_mutes(&mut values)?;
    let now = chrono::Utc::now();
    let mut out = Vec::with_capacity(ids.len());
    let mut views = Vec::with_capacity(ids.len());
    let mut muted = Vec::with_capacity(ids.len());
    for _ in &ids {
        let view = rooms::take(&mut values)?;
        let members = rooms::take_count(&mut values)?;
        let unread = unread::take_count(&mut values)?;
        let newest_hidden = hidden::take(&mut values)?.first().copied();
        // A listed room without its view would be a projection bug; skip it.
        if let Some(mut view) = view {
            // A blocked user's message is never the caller's preview.
            if view
                .last_message
                .as_ref()
                .is_some_and(|m| blocked.contains(&m.author_id))
            {
                view.last_message = None;
            }
            let hides_last = view
                .last_message
                .as_ref()
                .is_some_and(|l| Some(l.seq) == newest_hidden);
            muted.push(mutes.get(&view.room_id).is_some_and(|m| m.holds(now)));
            views.push((view, members, unread, hides_last));
        }
    }
    if views.iter().any(|v| v.3) {
        previews_without_hidden(snap, me, &blocked, &mut views).await?;
    }
    for ((view, members, unread, _), muted) in views.into_iter().zip(muted) {
        let mut summary = RoomSummaryResponse::new(view, members, unread);
        summary.muted = muted;
        out.push(summary);
    }
    Ok(MyRoomsResponse {
        rooms: out,
        next_cursor,
    })
}

/// How far back the room list looks for a message the caller did not hide
/// when they hid the last one (none found: no preview).
const PREVIEW_LOOKBACK: usize = 64;

/// Give the rooms whose last message the caller hid (`.3`) the newest
/// message they did not hide (and not of a user they blocked) as their
/// preview, in one transaction.
async fn previews_without_hidden(
    snap: &mut Snapshot<'_>,
    me: UserId,
    blocked: &[UserId],
    views: &mut [(RoomView, u64, u64, bool)],
) -> Result<(), Interrupt> {
    let range = timeline::Range {
        min: "-inf".to_owned(),
        max: "+inf".to_owned(),
        ascending: false,
        count: PREVIEW_LOOKBACK,
    };
    let rooms: Vec<RoomId> = views.iter().filter(|v| v.3).map(|v| v.0.room_id).collect();
    let mut values = snap
        .exec(|keys, pipe| {
            for room in &rooms {
                timeline::queue_slice(pipe, keys, *room, &range);
                hidden::queue_newest(pipe, keys, *room, me, PREVIEW_LOOKBACK);
            }
        })
        .await?;
    for v in views.iter_mut().filter(|v| v.3) {
        let slice = timeline::take_slice(&mut values, true)?;
        let hidden = hidden::take(&mut values)?;
        v.0.last_message = slice
            .page
            .iter()
            .find(|m| !hidden.contains(&m.seq) && !blocked.contains(&m.author_id))
            .map(LastMessageView::of);
    }
    Ok(())
}

/// The caller's rooms, most recent activity first.
#[utoipa::path(get, path = "/v1/me/rooms", tag = "rooms",
    params(RoomsParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one page of the caller's rooms", body = MyRoomsResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 400, description = "invalid_request, invalid_cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_limit", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn my_rooms(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiQuery(params): ApiQuery<RoomsParams>,
    min: MinPosition,
) -> Result<(Position, Json<MyRoomsResponse>), Fail> {
    let limit = limit(params.limit.as_deref())?;
    let cursor = params.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    let out = consistent!(snap, room_list(&mut snap, me, cursor.as_ref(), limit));
    Ok((Position(snap.position()), Json(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor(rooms::ListEntry {
            score: 1_714_000_000_123.0,
            room: RoomId(uuid::Uuid::from_u128(9)),
        });
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "!!", "bm9wZQ", &URL_SAFE_NO_PAD.encode("inf:x")] {
            assert_eq!(
                Cursor::decode(bad).unwrap_err().code,
                "invalid_cursor",
                "{bad}"
            );
        }
    }
}
