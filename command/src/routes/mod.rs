//! The command routes of API.md and their OpenAPI document, declared once
//! ([`utoipa_axum`]): each handler's `#[utoipa::path]` is both its route and
//! its documentation, and names the answer type the handler returns.

pub mod account_delete;
pub mod accounts;
pub mod attachments;
pub mod calendar;
pub mod friends;
pub mod invites;
pub mod meetups;
pub mod messages;
pub mod messenger;
pub mod notifications;
pub mod people;
pub mod rooms;
pub mod sessions;

use crate::runner;
use crate::state::CommandState;
use api::ApiError;
use axum::http::Method;
use axum::Router;
use domain::{DomainError, UserId};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every command route, each declared once: `routes!` mounts the handler
/// under the method and path of its `#[utoipa::path]` and adds that
/// operation to the document, so the router and `/openapi.json` cannot
/// disagree.
fn table() -> OpenApiRouter<CommandState> {
    OpenApiRouter::with_openapi(CommandApi::openapi())
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::update_me))
        .routes(routes!(sessions::refresh))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::end))
        .routes(routes!(sessions::change_password))
        .routes(routes!(account_delete::delete_me))
        .routes(routes!(friends::request))
        .routes(routes!(friends::accept))
        .routes(routes!(friends::end))
        .routes(routes!(rooms::create))
        .routes(routes!(rooms::direct))
        .routes(routes!(rooms::rename))
        .routes(routes!(rooms::add_member))
        .routes(routes!(rooms::remove_member))
        .routes(routes!(messages::post))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(messages::mark_read))
        // people (issue 16)
        .routes(routes!(people::change_role))
        .routes(routes!(people::mute, people::unmute))
        .routes(routes!(people::block, people::unblock))
        .routes(routes!(invites::create))
        .routes(routes!(invites::revoke))
        .routes(routes!(invites::join))
        // messages like a messenger (issue 15)
        .routes(routes!(messenger::react, messenger::unreact))
        .routes(routes!(messenger::hide))
        .routes(routes!(messenger::set_notice, messenger::clear_notice))
        // meet-ups (issue 17)
        .routes(routes!(meetups::create))
        .routes(routes!(meetups::change, meetups::cancel))
        .routes(routes!(meetups::invite))
        .routes(routes!(meetups::rsvp))
        .routes(routes!(calendar::rotate))
        // notifications (issue 16)
        .routes(routes!(notifications::mark_read))
}

/// The upload route, whose body limit is the attachment limit: mounted
/// with its own `BodyLimits` beside [`router`].
fn upload_table() -> OpenApiRouter<attachments::UploadState> {
    OpenApiRouter::new().routes(routes!(attachments::upload))
}

/// `POST /v1/rooms/{room_id}/attachments` (see [`attachments`]).
pub fn upload_router(state: attachments::UploadState) -> Router {
    let (router, _) = upload_table().split_for_parts();
    router.with_state(state)
}

/// Every command route (POST, PATCH, DELETE) of API.md: [`routes`].
pub fn router(state: CommandState) -> Router {
    let (router, _) = table().split_for_parts();
    router.with_state(state)
}

/// Every command route as (method, path template), from the document the
/// router is built with; tests iterate over it (e.g. the authorization matrix).
pub fn routes() -> Vec<(Method, String)> {
    let mut doc = table().into_openapi();
    doc.merge(upload_table().into_openapi());
    api::openapi::operations(&doc)
}

/// 404 `user_not_found` unless every user exists and has not deleted their
/// account (decided on the log: a deleted account is no one to befriend,
/// add, invite or block).
pub(crate) async fn ensure_users_exist(
    state: &CommandState,
    users: &[UserId],
) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let live = state
        .repo
        .store()
        .live_users(users)
        .await
        .map_err(runner::unavailable)?;
    if users.iter().all(|u| live.contains(u)) {
        Ok(())
    } else {
        Err(DomainError::UserNotFound.into())
    }
}

/// The command document's frame: its tags (the operations come from [`table`]).
#[derive(OpenApi)]
#[openapi(tags((name = "accounts"), (name = "friends"), (name = "rooms"), (name = "messages"), (name = "meetups")))]
struct CommandApi;

/// The command routes' OpenAPI document, with the answers every command
/// can give through the shared plumbing ([`api::openapi::complete`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = table().into_openapi();
    doc.merge(upload_table().into_openapi());
    api::openapi::complete(&mut doc);
    doc
}
