//! Messenger commands on messages and rooms (issue 15): reactions, "hide
//! for me" and the room's notice. The rules are the room aggregate's
//! (`domain::room_messages`); each handler parses its input and runs one
//! room command.

use super::rooms::on_room_ok;
use crate::request::{CommandBody, NoBody};
use crate::runner::{Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use chrono::Utc;
use contract::commands::{PositionResponse, SetNoticeRequest};
use domain::reaction::ReactionEmoji;
use domain::room::RoomCommand;
use domain::{MessageId, RoomId};

/// React to a message with one emoji (again: no new event).
#[utoipa::path(put, path = "/v1/rooms/{room_id}/messages/{message_id}/reactions/{emoji}", tag = "messages",
    security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path),
        ("emoji" = String, Path, description = "one emoji, percent-encoded")),
    responses((status = 200, body = PositionResponse),
        (status = 404, description = "room_not_found, message_not_found"),
        (status = 409, description = "message_deleted"),
        (status = 422, description = "invalid_reaction: not exactly one emoji")))]
pub async fn react(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, message_id, emoji)): ApiPath<(RoomId, MessageId, String)>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let emoji = ReactionEmoji::parse(&emoji)?;
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::React {
        actor: me,
        message_id,
        emoji,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Take back the caller's reaction.
#[utoipa::path(delete, path = "/v1/rooms/{room_id}/messages/{message_id}/reactions/{emoji}", tag = "messages",
    security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path),
        ("emoji" = String, Path, description = "one emoji, percent-encoded")),
    responses((status = 200, body = PositionResponse),
        (status = 404, description = "room_not_found, message_not_found, reaction_not_found"),
        (status = 409, description = "message_deleted"),
        (status = 422, description = "invalid_reaction: not exactly one emoji")))]
pub async fn unreact(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, message_id, emoji)): ApiPath<(RoomId, MessageId, String)>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let emoji = ReactionEmoji::parse(&emoji)?;
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::Unreact {
        actor: me,
        message_id,
        emoji,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Hide a message from the caller's own view ("delete for me").
#[utoipa::path(post, path = "/v1/rooms/{room_id}/messages/{message_id}/hide", tag = "messages",
    security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse),
        (status = 404, description = "room_not_found, message_not_found")))]
pub async fn hide(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, message_id)): ApiPath<(RoomId, MessageId)>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::Hide {
        actor: me,
        message_id,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Make a message the room's notice (any member; the newest wins).
#[utoipa::path(put, path = "/v1/rooms/{room_id}/notice", tag = "rooms", request_body = SetNoticeRequest,
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse),
        (status = 404, description = "room_not_found, message_not_found"),
        (status = 409, description = "message_deleted")))]
pub async fn set_notice(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<SetNoticeRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::SetNotice {
        actor: me,
        message_id: req.body.message_id,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Take the room's notice down.
#[utoipa::path(delete, path = "/v1/rooms/{room_id}/notice", tag = "rooms",
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse),
        (status = 404, description = "room_not_found, notice_not_found")))]
pub async fn clear_notice(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::ClearNotice {
        actor: me,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}
