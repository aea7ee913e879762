//! A room's details and the caller's room list, from the `redis` projection.

use crate::dto::{MemberResponse, MyRoomsResponse, Problem, RoomResponse, RoomSummaryResponse};
use crate::failure::Fail;
use crate::routes::{room_id, ConsistencyHeaders};
use crate::snapshot::{consistent, decode, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::{limit, optional};
use api::{ApiError, ApiPath, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::views::{MemberView, RoomView};
use domain::{RoomId, UserId};
use redis::Script;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;
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
            pipe.get(keys.room(room)).hgetall(keys.members(room));
        })
        .await?;
    let view: Option<RoomView> = values.json()?;
    let members: HashMap<String, String> = values.next()?;
    let Some(view) = view.filter(|_| members.contains_key(&me.to_string())) else {
        return Ok(None);
    };
    let mut members = members
        .values()
        .map(|m| decode::<MemberView>(m).map(MemberResponse::from))
        .collect::<Result<Vec<_>, _>>()?;
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
        Some(r) => Ok((Position(snap.position()), Json(r))),
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
struct Cursor {
    score: f64,
    room: String,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.score, self.room))
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
        Ok(Self {
            score,
            room: room.to_string(),
        })
    }
}

/// Unread messages of one member of one room: live seqs above the read
/// marker minus the member's own. A script, so the marker need not make a
/// round trip of its own; all three keys share the room's hash tag.
static UNREAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local m = redis.call('HGET', KEYS[1], ARGV[1]) or '0'
          local lo = '(' .. m
          return redis.call('ZCOUNT', KEYS[2], lo, '+inf') - redis.call('ZCOUNT', KEYS[3], lo, '+inf')",
    )
});

/// Read one page of the caller's rooms: the ids in one transaction, the
/// details of all of them in a second.
async fn room_list(
    snap: &mut Snapshot<'_>,
    me: UserId,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<MyRoomsResponse, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            let list = keys.rooms_of(me);
            match cursor {
                Some(c) => {
                    // Rooms tied with the cursor's score (filtered below),
                    // then the ones strictly after it.
                    pipe.zrevrangebyscore_withscores(&list, c.score, c.score)
                        .zrevrangebyscore_limit_withscores(
                            &list,
                            format!("({}", c.score),
                            "-inf",
                            0,
                            limit as isize + 1,
                        );
                }
                None => {
                    pipe.zrevrangebyscore_limit_withscores(
                        &list,
                        "+inf",
                        "-inf",
                        0,
                        limit as isize + 1,
                    );
                }
            }
        })
        .await?;
    let mut page: Vec<(String, f64)> = Vec::with_capacity(limit + 1);
    if let Some(c) = cursor {
        let ties: Vec<(String, f64)> = values.next()?;
        page.extend(
            ties.into_iter()
                .filter(|(room, _)| room.as_str() < c.room.as_str()),
        );
    }
    page.extend(values.next::<Vec<(String, f64)>>()?);
    page.truncate(limit + 1);
    let next_cursor = (page.len() > limit).then(|| {
        let (room, score) = &page[limit - 1];
        Cursor {
            score: *score,
            room: room.clone(),
        }
        .encode()
    });
    page.truncate(limit);
    let rooms = page
        .iter()
        .map(|(r, _)| r.parse::<RoomId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal("decode room list", e))?;
    if rooms.is_empty() {
        return Ok(MyRoomsResponse {
            rooms: Vec::new(),
            next_cursor,
        });
    }
    let me_arg = me.to_string();
    let mut values = snap
        .exec(|keys, pipe| {
            // Inside the transaction, so the script exists for the calls
            // after it even right after a Redis restart.
            pipe.load_script(&UNREAD).ignore();
            for room in &rooms {
                pipe.get(keys.room(*room))
                    .hlen(keys.members(*room))
                    .invoke_script(
                        UNREAD
                            .key(keys.read_markers(*room))
                            .key(keys.live_seqs(*room))
                            .key(keys.own_seqs(*room, me))
                            .arg(&me_arg),
                    );
            }
        })
        .await?;
    let mut out = Vec::with_capacity(rooms.len());
    for _ in &rooms {
        let view: Option<RoomView> = values.json()?;
        let members: u64 = values.next()?;
        let unread: i64 = values.next()?;
        // A listed room without its view would be a projection bug; skip it.
        if let Some(view) = view {
            out.push(RoomSummaryResponse::new(
                view,
                members,
                unread.max(0) as u64,
            ));
        }
    }
    Ok(MyRoomsResponse {
        rooms: out,
        next_cursor,
    })
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
        let c = Cursor {
            score: 1_714_000_000_123.0,
            room: uuid::Uuid::from_u128(9).to_string(),
        };
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
