//! People (issue 16): a room's invite links, invite previews, the caller's
//! blocks and user search, all from the `redis` projection.

use crate::dto::Problem;
use crate::failure::Fail;
use crate::routes::{room_id, ConsistencyHeaders};
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::optional;
use api::ratelimit::Limits;
use api::{ApiError, ApiPath, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use contract::people::{
    BlockResponse, BlocksResponse, FoundUserResponse, InvitePreviewResponse, InviteResponse,
    InvitesResponse, UserSearchResponse,
};
use domain::hangul::{initials, rank};
use domain::invite::InviteToken;
use domain::views::Role;
use domain::{DomainError, RoomId, UserId};
use readmodel::{people, profiles, rooms};
use serde::Deserialize;
use utoipa::IntoParams;

/// Most users a search answers.
pub(crate) const SEARCH_LIMIT: usize = 20;
/// Most index entries one search ranks: the prefix range of the query's
/// initials, read in term order (shorter, i.e. closer, terms first).
const SEARCH_CANDIDATES: usize = 400;
/// Longest query, in characters (the longest name a user can have).
const MAX_QUERY_CHARS: usize = 64;

/// What `GET /v1/rooms/{room_id}/invites` found.
enum InviteList {
    NotMember,
    NotStaff,
    Listed(InvitesResponse),
}

async fn invite_list(
    snap: &mut Snapshot<'_>,
    room: RoomId,
    me: UserId,
) -> Result<InviteList, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            rooms::queue_members(pipe, keys, room);
            people::queue_invites(pipe, keys, room);
        })
        .await?;
    let members = rooms::take_members(&mut values)?;
    let invites = people::take_invites(&mut values)?;
    let Some(caller) = members.get(&me) else {
        return Ok(InviteList::NotMember);
    };
    if caller.role == Role::Member {
        return Ok(InviteList::NotStaff);
    }
    let now = Utc::now();
    let mut list: Vec<InviteResponse> = invites
        .into_values()
        .filter(|i| i.usable(now))
        .map(Into::into)
        .collect();
    list.sort_by(|a, b| {
        b.expires_at
            .cmp(&a.expires_at)
            .then(a.invite_id.cmp(&b.invite_id))
    });
    Ok(InviteList::Listed(InvitesResponse { invites: list }))
}

/// A room's usable invite links (owner or admin).
#[utoipa::path(get, path = "/v1/rooms/{room_id}/invites", tag = "rooms",
    params(("room_id" = uuid::Uuid, Path, description = "the room"), ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "usable links (not revoked, expired or used up)", body = InvitesResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 403, description = "not_room_admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "room_not_found", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invites(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiPath(raw): ApiPath<String>,
    min: MinPosition,
) -> Result<(Position, Json<InvitesResponse>), Fail> {
    let room = room_id(&raw)?;
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    match consistent!(snap, invite_list(&mut snap, room, me)) {
        InviteList::Listed(list) => Ok((Position(snap.position()), Json(list))),
        InviteList::NotStaff => Err(Fail::at(DomainError::NotRoomAdmin, snap.position())),
        InviteList::NotMember => Err(Fail::at(ApiError::room_not_found(), snap.position())),
    }
}

async fn preview(
    snap: &mut Snapshot<'_>,
    token: &InviteToken,
) -> Result<Option<InvitePreviewResponse>, Interrupt> {
    let hash = token.hash();
    let mut values = snap
        .exec(|keys, pipe| people::queue_invite_token(pipe, keys, hash.as_str()))
        .await?;
    let Some((room, invite)) = people::take_invite_token(&mut values)? else {
        return Ok(None);
    };
    let mut values = snap
        .exec(|keys, pipe| {
            people::queue_invite(pipe, keys, room, invite);
            rooms::queue_get(pipe, keys, room);
            rooms::queue_member_count(pipe, keys, room);
        })
        .await?;
    let invite = people::take_invite(&mut values)?;
    let view = rooms::take(&mut values)?;
    let member_count = rooms::take_count(&mut values)?;
    let now = Utc::now();
    Ok(match (invite.filter(|i| i.usable(now)), view) {
        (Some(i), Some(v)) if !v.direct => Some(InvitePreviewResponse {
            room_id: v.room_id.0,
            name: v.name,
            member_count,
            expires_at: i.expires_at,
            has_code: i.has_code,
        }),
        _ => None,
    })
}

/// What an invite link opens: the room's name and member count only.
#[utoipa::path(get, path = "/v1/invites/{token}", tag = "rooms",
    params(("token" = String, Path, description = "the link's token"), ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "a preview: no members, no messages", body = InvitePreviewResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 404, description = "invite_not_found (unknown, revoked, expired or used up: one answer)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited: too many invite attempts by this user", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invite_preview(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    limits: Limits,
    ApiPath(raw): ApiPath<String>,
    min: MinPosition,
) -> Result<(Position, Json<InvitePreviewResponse>), Fail> {
    // Every look counts, found or not: tokens cannot be tried at speed.
    limits.invite(me.0)?;
    let token = InviteToken::parse(&raw).map_err(ApiError::from)?;
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    match consistent!(snap, preview(&mut snap, &token)) {
        Some(p) => Ok((Position(snap.position()), Json(p))),
        None => Err(Fail::at(DomainError::InviteNotFound, snap.position())),
    }
}

async fn block_list(snap: &mut Snapshot<'_>, me: UserId) -> Result<BlocksResponse, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| people::queue_blocks(pipe, keys, me))
        .await?;
    let blocks = people::take_blocks(&mut values)?;
    if blocks.is_empty() {
        return Ok(BlocksResponse::default());
    }
    let ids: Vec<UserId> = blocks.iter().map(|b| b.user_id).collect();
    let mut values = snap
        .exec(|keys, pipe| profiles::queue_many(pipe, keys, &ids))
        .await?;
    let found = profiles::take_many(&mut values)?;
    let mut out: Vec<BlockResponse> = blocks
        .iter()
        .zip(found)
        .filter_map(|(b, p)| p.map(|p| BlockResponse::new(b, p)))
        .collect();
    out.sort_by(|a, b| b.since.cmp(&a.since).then(a.user_id.cmp(&b.user_id)));
    Ok(BlocksResponse { blocks: out })
}

/// The users the caller blocked, newest first.
#[utoipa::path(get, path = "/v1/me/blocks", tag = "friends", params(ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "blocked users, newest first", body = BlocksResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
    ))]
pub(crate) async fn blocks(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    min: MinPosition,
) -> Result<(Position, Json<BlocksResponse>), Fail> {
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    let out = consistent!(snap, block_list(&mut snap, me));
    Ok((Position(snap.position()), Json(out)))
}

/// `?q=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// A prefix of a username or display name, or its initial consonants
    /// (초성; jamo and syllables may be mixed). 1-64 characters.
    #[serde(default, deserialize_with = "optional")]
    #[param(required = true)]
    q: Option<String>,
}

fn invalid_query(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", detail)
}

async fn user_search(
    snap: &mut Snapshot<'_>,
    me: UserId,
    q: &str,
) -> Result<UserSearchResponse, Interrupt> {
    let prefix = initials(q);
    let mut values = snap
        .exec(|keys, pipe| {
            people::queue_search(pipe, keys, &prefix, SEARCH_CANDIDATES);
            people::queue_blocked_by(pipe, keys, me);
        })
        .await?;
    let candidates = people::take_search(&mut values)?;
    let blockers = people::take_blocked_by(&mut values)?;
    let ids: Vec<UserId> = candidates
        .into_iter()
        .filter(|u| !blockers.contains(u))
        .collect();
    if ids.is_empty() {
        return Ok(UserSearchResponse::default());
    }
    let mut values = snap
        .exec(|keys, pipe| profiles::queue_many(pipe, keys, &ids))
        .await?;
    let mut ranked: Vec<_> = profiles::take_many(&mut values)?
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let best = [rank(&p.username, q), rank(&p.display_name, q)]
                .into_iter()
                .flatten()
                .min()?;
            Some((best, p))
        })
        .collect();
    ranked.sort_by(|(ra, a), (rb, b)| {
        ra.cmp(rb)
            .then(a.username.cmp(&b.username))
            .then(a.user_id.cmp(&b.user_id))
    });
    ranked.truncate(SEARCH_LIMIT);
    Ok(UserSearchResponse {
        users: ranked
            .into_iter()
            .map(|(_, p)| FoundUserResponse::from(p))
            .collect(),
    })
}

/// Find users by prefix of username or display name, or by initial
/// consonants; users who blocked the caller are never listed.
#[utoipa::path(get, path = "/v1/users/search", tag = "users",
    params(SearchParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "at most 20 users, exact matches first, then prefixes, then initials", body = UserSearchResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 422, description = "invalid_query (absent, blank or over 64 characters)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited: too many searches by this user", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn search_users(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    limits: Limits,
    ApiQuery(params): ApiQuery<SearchParams>,
    min: MinPosition,
) -> Result<(Position, Json<UserSearchResponse>), Fail> {
    limits.search(me.0)?;
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return Err(invalid_query("q is required").into());
    }
    if q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control) {
        return Err(invalid_query("q must be 1-64 characters without control characters").into());
    }
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    let out = consistent!(snap, user_search(&mut snap, me, q));
    Ok((Position(snap.position()), Json(out)))
}
