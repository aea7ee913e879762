//! People (issue 16): room roles, blocks and mutes.

use super::ensure_users_exist;
use super::rooms::on_room_ok;
use crate::request::{CommandBody, NoBody};
use crate::runner::{self, append_error, previous_answer, Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use contract::commands::{Empty, PositionResponse};
use contract::people::{ChangeRoleRequest, MuteRequest, RoleName};
use contract::Positioned;
use domain::event::{FriendshipEvent, UserEvent};
use domain::friendship::Friendship;
use domain::room::{Room, RoomCommand, RoomRole};
use domain::user::{User, UserCommand};
use domain::{Aggregate, DomainError, RoomId, StreamId, StreamType, UserId};
use eventlog::{AppendError, Commit, StreamAppend};

/// Give a member a role (owner only); `owner` transfers ownership.
#[utoipa::path(put, path = "/v1/rooms/{room_id}/members/{user_id}/role", tag = "rooms",
    request_body = ChangeRoleRequest, security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), ("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse),
        (status = 403, description = "not_room_owner"),
        (status = 404, description = "room_not_found, member_not_found"),
        (status = 422, description = "owner_role_fixed (the owner's own role), direct_room_fixed")))]
pub async fn change_role(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath((room, user_id)): ApiPath<(RoomId, UserId)>,
    req: CommandBody<ChangeRoleRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let role = match req.body.role {
        RoleName::Owner => RoomRole::Owner,
        RoleName::Admin => RoomRole::Admin,
        RoleName::Member => RoomRole::Member,
    };
    let ctx = Ctx::new(me, &req);
    let command = RoomCommand::ChangeRole {
        actor: me,
        user_id,
        role,
        at: Utc::now(),
    };
    on_room_ok(&state, &ctx, room, command).await
}

/// Run a command on the caller's own user stream.
async fn on_me(
    state: &CommandState,
    ctx: &Ctx,
    command: UserCommand,
) -> Result<Answer<PositionResponse>, ApiError> {
    runner::run::<User, _, _, _>(
        state,
        ctx,
        ctx.user.into(),
        |u| u.decide(&command),
        |_| (StatusCode::OK, Empty {}),
    )
    .await
}

/// 404 `room_not_found` unless the caller is a member of `room`.
async fn ensure_member(state: &CommandState, room: RoomId, me: UserId) -> Result<(), ApiError> {
    let (current, _) = state
        .repo
        .load::<Room>(room.into())
        .await
        .map_err(runner::repo_error)?;
    if current.exists && current.is_member(me) {
        Ok(())
    } else {
        Err(DomainError::RoomNotFound.into())
    }
}

/// Mute a room until a time, or for ever.
#[utoipa::path(put, path = "/v1/rooms/{room_id}/mute", tag = "rooms", request_body = MuteRequest,
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "room_not_found"),
        (status = 422, description = "invalid_mute_until (not in the future)")))]
pub async fn mute(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<MuteRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    ensure_member(&state, room, me).await?;
    let until: Option<DateTime<Utc>> = req.body.until;
    let ctx = Ctx::new(me, &req);
    let command = UserCommand::Mute {
        room_id: room,
        until,
        at: Utc::now(),
    };
    on_me(&state, &ctx, command).await
}

/// Unmute a room.
#[utoipa::path(delete, path = "/v1/rooms/{room_id}/mute", tag = "rooms",
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "room_not_found")))]
pub async fn unmute(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    ensure_member(&state, room, me).await?;
    let ctx = Ctx::new(me, &req);
    let command = UserCommand::Unmute {
        room_id: room,
        at: Utc::now(),
    };
    on_me(&state, &ctx, command).await
}

/// Unblock a user.
#[utoipa::path(delete, path = "/v1/me/blocks/{user_id}", tag = "friends",
    security(("bearer" = [])), params(("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "block_not_found")))]
pub async fn unblock(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(other): ApiPath<UserId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = UserCommand::Unblock {
        other,
        at: Utc::now(),
    };
    on_me(&state, &ctx, command).await
}

/// Block a user: ends a friendship or pending request between the two in
/// the same commit. Blocking again changes nothing.
#[utoipa::path(put, path = "/v1/me/blocks/{user_id}", tag = "friends",
    security(("bearer" = [])), params(("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "user_not_found"),
        (status = 422, description = "cannot_block_self")))]
pub async fn block(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(other): ApiPath<UserId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    if other == me {
        return Err(DomainError::CannotBlockSelf.into());
    }
    ensure_users_exist(&state, &[other]).await?;
    let ctx = Ctx::new(me, &req);
    let _key = runner::hold_key(&state, &ctx).await;
    if let Some(previous) = previous_answer(&state, &ctx).await? {
        return Ok(previous);
    }
    let command = UserCommand::Block {
        other,
        at: Utc::now(),
    };
    let pair = StreamId::for_friendship(me, other);
    for _ in 0..5 {
        let (user, user_version) = state
            .repo
            .load::<User>(me.into())
            .await
            .map_err(runner::repo_error)?;
        let blocked = user.decide(&command)?;
        if blocked.is_empty() {
            // Already blocked: the answer of a no-op command.
            drop(_key);
            return on_me(&state, &ctx, command).await;
        }
        let (friendship, pair_version) = state
            .repo
            .load::<Friendship>(pair)
            .await
            .map_err(runner::repo_error)?;
        let ended = friendship.end_by_block(me, other, Utc::now());
        let mut streams = vec![StreamAppend {
            stream_id: me.into(),
            stream_type: StreamType::User,
            expected_version: user_version,
            events: blocked.into_iter().map(UserEvent::into).collect(),
            epoch: None,
        }];
        if !ended.is_empty() {
            streams.push(StreamAppend {
                stream_id: pair,
                stream_type: StreamType::Friendship,
                expected_version: pair_version,
                events: ended.into_iter().map(FriendshipEvent::into).collect(),
                epoch: None,
            });
        }
        let commit = Commit {
            streams,
            metadata: ctx.metadata(),
            side_writes: ctx.answer(StatusCode::OK, &Empty {}),
        };
        match state.repo.append(commit).await {
            Ok(committed) => {
                return Ok(Answer::Fresh(
                    StatusCode::OK,
                    Positioned::new(Empty {}, committed.position),
                ))
            }
            Err(AppendError::Conflict { .. }) => continue,
            Err(AppendError::IdempotencyKeyExists) => {
                return previous_answer(&state, &ctx).await?.ok_or_else(|| {
                    ApiError::internal("idempotency answer", "key exists but no answer")
                })
            }
            Err(e) => return Err(append_error(e)),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "concurrency_conflict",
        "the resource changed concurrently too many times; retry",
    ))
}
