//! The command routes of API.md and their OpenAPI document.

pub mod accounts;
pub mod friends;
pub mod messages;
pub mod rooms;

use crate::runner;
use crate::state::CommandState;
use api::ApiError;
use axum::routing::{delete, patch, post};
use axum::Router;
use domain::{DomainError, StreamId, StreamType, UserId};
use utoipa::OpenApi;

/// Every command route (POST, PATCH, DELETE) of API.md.
pub fn router(state: CommandState) -> Router {
    Router::new()
        .route("/v1/users", post(accounts::register))
        .route("/v1/sessions", post(accounts::login))
        .route("/v1/me", patch(accounts::update_me))
        .route("/v1/friends", post(friends::request))
        .route("/v1/friends/{user_id}/accept", post(friends::accept))
        .route("/v1/friends/{user_id}", delete(friends::end))
        .route("/v1/rooms", post(rooms::create))
        .route("/v1/rooms/direct", post(rooms::direct))
        .route("/v1/rooms/{room_id}", patch(rooms::rename))
        .route("/v1/rooms/{room_id}/members", post(rooms::add_member))
        .route(
            "/v1/rooms/{room_id}/members/{user_id}",
            delete(rooms::remove_member),
        )
        .route("/v1/rooms/{room_id}/messages", post(messages::post))
        .route(
            "/v1/rooms/{room_id}/messages/{message_id}",
            patch(messages::edit).delete(messages::delete),
        )
        .route("/v1/rooms/{room_id}/read", post(messages::mark_read))
        .with_state(state)
}

/// 404 `user_not_found` unless every user exists.
pub(crate) async fn ensure_users_exist(
    state: &CommandState,
    users: &[UserId],
) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<StreamId> = users.iter().map(|u| StreamId::from(*u)).collect();
    let found = state
        .repo
        .store()
        .stream_versions(&ids)
        .await
        .map_err(runner::unavailable)?;
    let all = ids
        .iter()
        .all(|id| matches!(found.get(id), Some((StreamType::User, v)) if *v > 0));
    if all {
        Ok(())
    } else {
        Err(DomainError::UserNotFound.into())
    }
}

/// The OpenAPI document of the command routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        accounts::register, accounts::login, accounts::update_me,
        friends::request, friends::accept, friends::end,
        rooms::create, rooms::direct, rooms::rename, rooms::add_member, rooms::remove_member,
        messages::post, messages::edit, messages::delete, messages::mark_read,
    ),
    tags((name = "accounts"), (name = "friends"), (name = "rooms"), (name = "messages"))
)]
pub struct CommandApi;

/// The command routes' OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    CommandApi::openapi()
}
