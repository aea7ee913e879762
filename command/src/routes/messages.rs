//! Messages: post, edit, delete, and the read marker.

use super::rooms::{on_room, on_room_ok};
use crate::request::{CommandBody, NoBody};
use crate::runner::{Answer, Ctx};
use crate::state::CommandState;
use api::ratelimit::Limits;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::{
    EditMessageRequest, MessagePosted, MessagePostedResponse, PositionResponse, PostMessageRequest,
    ReadMarkerRequest,
};
use domain::event::RoomEvent;
use domain::room::RoomCommand;
use domain::values::MessageBody;
use domain::{DomainError, MessageId, RoomId};

/// Post a message; it gets the room's next `seq`.
#[utoipa::path(post, path = "/v1/rooms/{room_id}/messages", tag = "messages", request_body = PostMessageRequest,
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 201, body = MessagePostedResponse), (status = 404, description = "room_not_found"),
        (status = 422, description = "invalid_message_body, invalid_attachment (unknown, another room's, already sent, more than 10), invalid_mention (not a member, more than 50)"),
        (status = 429, description = "rate_limited: too many posts by this user")))]
pub async fn post(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    limits: Limits,
    req: CommandBody<PostMessageRequest>,
) -> Result<Answer<MessagePostedResponse>, ApiError> {
    limits.post(me.0)?;
    // The body may be empty only beside attachments.
    let body = if req.body.body.trim().is_empty() && !req.body.attachments.is_empty() {
        None
    } else {
        Some(MessageBody::parse(&req.body.body)?)
    };
    // A deleted account stays a member (its messages stay) but is no one to
    // mention: decided on the log, like every other user a request names.
    let mentions = &req.body.mentions;
    if !mentions.is_empty() && mentions.len() <= domain::attachment::MAX_MENTIONS {
        let live = state
            .repo
            .store()
            .live_users(mentions)
            .await
            .map_err(crate::runner::unavailable)?;
        if !mentions.iter().all(|u| live.contains(u)) {
            return Err(DomainError::InvalidMention.into());
        }
    }
    let ctx = Ctx::new(me, &req);
    let message_id = MessageId(uuid::Uuid::now_v7());
    let command = RoomCommand::Post {
        actor: me,
        message_id,
        body,
        reply_to: req.body.reply_to,
        attachments: req.body.attachments.clone(),
        mentions: req.body.mentions.clone(),
        at: Utc::now(),
    };
    on_room(&state, &ctx, room, command, |events| {
        // A successful post decides exactly one `MessagePosted`.
        let seq = events
            .iter()
            .find_map(|e| match e {
                RoomEvent::MessagePosted(p) => Some(p.seq),
                _ => None,
            })
            .unwrap_or_default();
        (StatusCode::CREATED, MessagePosted { message_id, seq })
    })
    .await
}

/// Edit an own message.
#[utoipa::path(patch, path = "/v1/rooms/{room_id}/messages/{message_id}", tag = "messages",
    request_body = EditMessageRequest, security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_message_author"),
        (status = 404, description = "room_not_found, message_not_found"), (status = 409, description = "message_deleted"),
        (status = 422, description = "invalid_message_body")))]
pub async fn edit(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, message_id)): ApiPath<(RoomId, MessageId)>,
    req: CommandBody<EditMessageRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let body = MessageBody::parse(&req.body.body)?;
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::Edit {
        actor: me,
        message_id,
        body,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Delete a message for everyone: an own one within the delete window
/// (`COTALK_DELETE_WINDOW_SECS`), any as the room's owner or an admin.
#[utoipa::path(delete, path = "/v1/rooms/{room_id}/messages/{message_id}", tag = "messages",
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path), ("message_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_message_author, delete_window_passed"),
        (status = 404, description = "room_not_found, message_not_found")))]
pub async fn delete(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, message_id)): ApiPath<(RoomId, MessageId)>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::Delete {
        actor: me,
        message_id,
        window: state.delete_window,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Move the caller's read marker forward (never back).
#[utoipa::path(post, path = "/v1/rooms/{room_id}/read", tag = "messages", request_body = ReadMarkerRequest,
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "room_not_found")))]
pub async fn mark_read(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<ReadMarkerRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::MarkRead {
        actor: me,
        seq: req.body.seq,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}
