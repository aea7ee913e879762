//! Rooms: create (group or direct), rename, add and remove members.

use super::ensure_users_exist;
use crate::request::{CommandBody, NoBody};
use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::{
    AddMemberRequest, CreateRoomRequest, DirectRoomRequest, Empty, PositionResponse,
    RenameRoomRequest, RoomCreated, RoomCreatedResponse,
};
use contract::{Positioned, PositionedBody};
use domain::event::RoomEvent;
use domain::room::{Room, RoomCommand};
use domain::values::{RoomName, MAX_ROOM_MEMBERS};
use domain::{Aggregate, DomainError, RoomId, UserId};
use serde::Serialize;

/// Run a room command against `room`.
pub(super) async fn on_room<T: PositionedBody + Serialize>(
    state: &CommandState,
    ctx: &Ctx,
    room: RoomId,
    command: RoomCommand,
    respond: impl Fn(&[RoomEvent]) -> (StatusCode, T) + Send + Sync,
) -> Result<Answer<Positioned<T>>, ApiError> {
    runner::run::<Room, _, _, _>(state, ctx, room.into(), |r| r.decide(&command), respond).await
}

/// [`on_room`] for the routes that answer 200 with only the position.
pub(super) async fn on_room_ok(
    state: &CommandState,
    ctx: &Ctx,
    room: RoomId,
    command: RoomCommand,
) -> Result<Answer<PositionResponse>, ApiError> {
    on_room(state, ctx, room, command, |_| (StatusCode::OK, Empty {})).await
}

/// Create a group room; the caller becomes its owner.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", request_body = CreateRoomRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RoomCreatedResponse), (status = 404, description = "user_not_found"),
        (status = 422, description = "invalid_room_name, too_many_members")))]
pub async fn create(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<CreateRoomRequest>,
) -> Result<Answer<RoomCreatedResponse>, ApiError> {
    let name = RoomName::parse(&req.body.name)?;
    if req.body.members.len() > MAX_ROOM_MEMBERS {
        return Err(DomainError::TooManyMembers.into());
    }
    let others: Vec<UserId> = req
        .body
        .members
        .iter()
        .copied()
        .filter(|m| *m != me)
        .collect();
    ensure_users_exist(&state, &others).await?;
    let ctx = Ctx::new(me, &req);
    let room_id = RoomId(uuid::Uuid::now_v7());
    let command = RoomCommand::Create {
        room_id,
        actor: me,
        name,
        members: others,
        at: Utc::now(),
    };
    on_room(&state, &ctx, room_id, command, |_| {
        (StatusCode::CREATED, RoomCreated { room_id })
    })
    .await
}

/// Open the one direct room of the caller and `user_id`: 201 when created,
/// 200 when it already existed.
#[utoipa::path(post, path = "/v1/rooms/direct", tag = "rooms", request_body = DirectRoomRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RoomCreatedResponse), (status = 200, body = RoomCreatedResponse),
        (status = 404, description = "user_not_found")))]
pub async fn direct(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<DirectRoomRequest>,
) -> Result<Answer<RoomCreatedResponse>, ApiError> {
    let other = req.body.user_id;
    if other == me {
        return Err(DomainError::UserNotFound.into());
    }
    ensure_users_exist(&state, &[other]).await?;
    let ctx = Ctx::new(me, &req);
    let room_id = RoomId::direct(me, other);
    let command = RoomCommand::OpenDirect {
        room_id,
        actor: me,
        other,
        at: Utc::now(),
    };
    on_room(&state, &ctx, room_id, command, |events| {
        let created = events.iter().any(|e| matches!(e, RoomEvent::Created(_)));
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, RoomCreated { room_id })
    })
    .await
}

/// Rename a group room (owner only).
#[utoipa::path(patch, path = "/v1/rooms/{room_id}", tag = "rooms", request_body = RenameRoomRequest,
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_room_owner"),
        (status = 404, description = "room_not_found"), (status = 422, description = "invalid_room_name")))]
pub async fn rename(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<RenameRoomRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let name = RoomName::parse(&req.body.name)?;
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::Rename {
        actor: me,
        name,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Add a member (any member may).
#[utoipa::path(post, path = "/v1/rooms/{room_id}/members", tag = "rooms", request_body = AddMemberRequest,
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 201, body = PositionResponse), (status = 404, description = "room_not_found, user_not_found"),
        (status = 409, description = "already_member")))]
pub async fn add_member(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<AddMemberRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let user_id = req.body.user_id;
    // Room membership first: a non-member learns nothing about users or rooms.
    let (current, _) = state
        .repo
        .load::<Room>(room.into())
        .await
        .map_err(runner::repo_error)?;
    if !current.is_member(me) {
        return Err(DomainError::RoomNotFound.into());
    }
    ensure_users_exist(&state, &[user_id]).await?;
    let command = RoomCommand::AddMember {
        actor: me,
        user_id,
        at: Utc::now(),
    };
    on_room(&state, &ctx, room, command, |_| {
        (StatusCode::CREATED, Empty {})
    })
    .await
}

/// Leave (yourself) or kick (another member; owner only).
#[utoipa::path(delete, path = "/v1/rooms/{room_id}/members/{user_id}", tag = "rooms",
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path), ("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_room_owner"),
        (status = 404, description = "room_not_found, member_not_found")))]
pub async fn remove_member(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, user_id)): ApiPath<(RoomId, UserId)>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::RemoveMember {
        actor: me,
        user_id,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}
