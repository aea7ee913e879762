//! The command routes of API.md and their OpenAPI document.

pub mod accounts;
pub mod friends;
pub mod messages;
pub mod rooms;

use crate::runner;
use crate::state::CommandState;
use api::ApiError;
use axum::Router;
use domain::{DomainError, StreamId, StreamType, UserId};
use utoipa::OpenApi;

/// Declares [`ROUTES`] and the function that mounts them from one list, so
/// the route table tests iterate over is the one the router is built from.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every command route as (lower-case method, path template), in
        /// mounting order; tests iterate over it (e.g. the authorization matrix).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn mount(router: Router<CommandState>) -> Router<CommandState> {
            // Routing the same path again merges the method routers.
            $(let router = router.route($path, axum::routing::$method($handler));)*
            router
        }
    };
}

route_table! {
    post "/v1/users" => accounts::register,
    post "/v1/sessions" => accounts::login,
    patch "/v1/me" => accounts::update_me,
    post "/v1/friends" => friends::request,
    post "/v1/friends/{user_id}/accept" => friends::accept,
    delete "/v1/friends/{user_id}" => friends::end,
    post "/v1/rooms" => rooms::create,
    post "/v1/rooms/direct" => rooms::direct,
    patch "/v1/rooms/{room_id}" => rooms::rename,
    post "/v1/rooms/{room_id}/members" => rooms::add_member,
    delete "/v1/rooms/{room_id}/members/{user_id}" => rooms::remove_member,
    post "/v1/rooms/{room_id}/messages" => messages::post,
    patch "/v1/rooms/{room_id}/messages/{message_id}" => messages::edit,
    delete "/v1/rooms/{room_id}/messages/{message_id}" => messages::delete,
    post "/v1/rooms/{room_id}/read" => messages::mark_read,
}

/// Every command route (POST, PATCH, DELETE) of API.md: [`ROUTES`].
pub fn router(state: CommandState) -> Router {
    mount(Router::new()).with_state(state)
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

/// The command routes' OpenAPI document, with the answers every command
/// can give through the shared plumbing ([`api::openapi::complete`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = CommandApi::openapi();
    api::openapi::complete(&mut doc);
    doc
}
