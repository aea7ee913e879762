//! Invite links (issue 16): create, revoke, join.
//!
//! The token is 256 bits from the operating system's CSPRNG, answered once
//! and stored nowhere but as its SHA-256 in `room.invite_created`. Joining
//! finds the room by that hash in the log's own partial index (see
//! `migrations/write/0016_invite_token_lookup.sql` and ARCHITECTURE.md), then
//! decides on the room aggregate like any other join.

use super::rooms::{on_room, on_room_ok};
use crate::request::{CommandBody, NoBody};
use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::ratelimit::Limits;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::PositionResponse;
use contract::people::{
    CreateInviteRequest, InviteCreated, InviteCreatedResponse, JoinInviteRequest, Joined,
    JoinedResponse,
};
use domain::event::RoomEvent;
use domain::invite::{InviteCode, InviteExpiry, InviteToken, TOKEN_BYTES};
use domain::room::RoomCommand;
use domain::{DomainError, InviteId, RoomId};
use rand::RngCore;

/// Create an invite link (owner or admin, group rooms only).
#[utoipa::path(post, path = "/v1/rooms/{room_id}/invites", tag = "rooms",
    request_body = CreateInviteRequest, security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)),
    responses((status = 201, body = InviteCreatedResponse),
        (status = 403, description = "not_room_admin"), (status = 404, description = "room_not_found"),
        (status = 422, description = "direct_room, invalid_invite (expiry not 1-720 hours, max_uses 0, code not 1-32 characters)")))]
pub async fn create(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<CreateInviteRequest>,
) -> Result<Answer<InviteCreatedResponse>, ApiError> {
    let expires_in = InviteExpiry::from_hours(req.body.expires_in_hours)?;
    let code = req
        .body
        .code
        .as_deref()
        .map(InviteCode::parse)
        .transpose()?;
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = InviteToken::from_random(bytes);
    let invite_id = InviteId(uuid::Uuid::now_v7());
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::CreateInvite {
        actor: me,
        invite_id,
        token_hash: token.hash(),
        expires_in,
        max_uses: req.body.max_uses,
        code,
        at: Utc::now(),
    };
    on_room(&state, &ctx, room, command, |events| {
        let expires_at = events
            .iter()
            .find_map(|e| match e {
                RoomEvent::InviteCreated(c) => Some(c.expires_at),
                _ => None,
            })
            .unwrap_or_default();
        let body = InviteCreated {
            invite_id,
            token: token.expose().to_owned(),
            expires_at,
        };
        (StatusCode::CREATED, body)
    })
    .await
}

/// Revoke an invite link (owner or admin).
#[utoipa::path(delete, path = "/v1/rooms/{room_id}/invites/{invite_id}", tag = "rooms",
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path), ("invite_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_room_admin"),
        (status = 404, description = "room_not_found, invite_not_found (unknown, revoked, expired or used up)"),
        (status = 422, description = "direct_room")))]
pub async fn revoke(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, invite_id)): ApiPath<(RoomId, InviteId)>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::RevokeInvite {
        actor: me,
        invite_id,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Join a room through an invite link. Every attempt counts against the
/// caller's invite rate, found or not, so tokens and codes cannot be guessed
/// at speed.
#[utoipa::path(post, path = "/v1/invites/{token}/join", tag = "rooms",
    request_body = JoinInviteRequest, security(("bearer" = [])),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 201, body = JoinedResponse),
        (status = 403, description = "invalid_invite_code"),
        (status = 404, description = "invite_not_found (unknown, revoked, expired or used up: one answer)"),
        (status = 409, description = "already_member"), (status = 422, description = "too_many_members"),
        (status = 429, description = "rate_limited: too many invite attempts by this user")))]
pub async fn join(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    limits: Limits,
    ApiPath(raw): ApiPath<String>,
    req: CommandBody<JoinInviteRequest>,
) -> Result<Answer<JoinedResponse>, ApiError> {
    limits.invite(me.0)?;
    let token = InviteToken::parse(&raw)?;
    let room = state
        .repo
        .store()
        .invite_room(token.hash().as_str())
        .await
        .map_err(runner::unavailable)?
        .ok_or(DomainError::InviteNotFound)?;
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::JoinByInvite {
        actor: me,
        token,
        code: req.body.code.clone(),
        at: Utc::now(),
    };
    on_room(&state, &ctx, room, command, |_| {
        (StatusCode::CREATED, Joined { room_id: room })
    })
    .await
}
