//! Friends: request (or accept a crossing request), accept, end.

use super::ensure_users_exist;
use crate::request::{CommandBody, NoBody};
use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::{Empty, FriendRequest, PositionResponse};
use domain::friendship::{Friendship, FriendshipCommand};
use domain::user::User;
use domain::{Aggregate, StreamId, UserId};

async fn friendship(
    state: &CommandState,
    ctx: &Ctx,
    other: UserId,
    command: FriendshipCommand,
    status: StatusCode,
) -> Result<Answer<PositionResponse>, ApiError> {
    runner::run::<Friendship, _, _, _>(
        state,
        ctx,
        StreamId::for_friendship(ctx.user, other),
        |f| f.decide(&command),
        |_| (status, Empty {}),
    )
    .await
}

/// Ask someone to be friends; if they had already asked, become friends.
#[utoipa::path(post, path = "/v1/friends", tag = "friends", request_body = FriendRequest,
    security(("bearer" = [])),
    responses((status = 201, body = PositionResponse),
        (status = 404, description = "user_not_found"), (status = 409, description = "already_friends"),
        (status = 422, description = "cannot_befriend_self")))]
pub async fn request(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<FriendRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let other = req.body.user_id;
    if other != me {
        ensure_users_exist(&state, &[other]).await?;
    }
    let ctx = Ctx::new(me, &req);
    let at = Utc::now();
    // Across a block the request is shadowed: the same 201, reaching nobody.
    let command = if other != me && blocked_between(&state, me, other).await? {
        FriendshipCommand::RequestWhileBlocked {
            actor: me,
            other,
            at,
        }
    } else {
        FriendshipCommand::Request {
            actor: me,
            other,
            at,
        }
    };
    friendship(&state, &ctx, other, command, StatusCode::CREATED).await
}

/// Whether either of `a` and `b` blocks the other (issue 16).
async fn blocked_between(state: &CommandState, a: UserId, b: UserId) -> Result<bool, ApiError> {
    let blocks = |user: &User, other| user.profile.as_ref().is_some_and(|p| p.blocks(other));
    let (ua, _) = state
        .repo
        .load::<User>(a.into())
        .await
        .map_err(runner::repo_error)?;
    let (ub, _) = state
        .repo
        .load::<User>(b.into())
        .await
        .map_err(runner::repo_error)?;
    Ok(blocks(&ua, b) || blocks(&ub, a))
}

/// Accept the request `user_id` sent.
#[utoipa::path(post, path = "/v1/friends/{user_id}/accept", tag = "friends",
    security(("bearer" = [])), params(("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "friend_request_not_found")))]
pub async fn accept(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(other): ApiPath<UserId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = FriendshipCommand::Accept {
        actor: me,
        other,
        at: Utc::now(),
    };
    friendship(&state, &ctx, other, command, StatusCode::OK).await
}

/// Unfriend, decline or cancel.
#[utoipa::path(delete, path = "/v1/friends/{user_id}", tag = "friends",
    security(("bearer" = [])), params(("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "friend_not_found")))]
pub async fn end(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(other): ApiPath<UserId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = FriendshipCommand::End {
        actor: me,
        other,
        at: Utc::now(),
    };
    friendship(&state, &ctx, other, command, StatusCode::OK).await
}
