//! The read side of cotalk: the `GET` routes of the HTTP API, answered only
//! from the projections (Redis read models and the read database's history
//! tables, through a role that cannot see the event log) and, for search,
//! from this process's own replica of the search index.
//!
//! Every route honours `X-Min-Position` (waiting, bounded, until exactly the
//! projections it reads have applied it), answers `X-Position`, reads the
//! generation pointers with its data so a shadow rebuild's switch takes effect
//! at once, and never mixes generations within one answer.
//!
//! - [`state`]: [`QueryConfig`], [`QueryState`] and [`check_ready`].
//! - [`failure`]: dependency errors as 503 / 500, and [`Fail`] (an error with its position).
//! - [`wait`]: the read-your-writes bound and the polling backoff.
//! - [`snapshot`]: consistent, generation-checked transactions on the `redis` projection.
//! - [`history`]: pages of the `history` projection (`messages_g{N}`).
//! - [`window`]: strict parsing of `before` / `after` / `limit`.
//! - [`dto`]: the JSON answers and their OpenAPI schemas.
//! - [`routes`]: the handlers.
//! - [`openapi`](mod@openapi): the OpenAPI document of these routes.
//! - [`stream`]: `GET /v1/stream`, live frames over a WebSocket, fanned out
//!   across query nodes through NATS core (its own [`stream::router`]).

pub mod dto;
pub mod failure;
mod history;
pub mod openapi;
mod routes;
mod snapshot;
pub mod state;
pub mod stream;
mod wait;
mod window;

pub use failure::Fail;
pub use openapi::openapi;
pub use state::{check_ready, QueryConfig, QueryState, QueryStateError};

use axum::routing::get;
use axum::Router;

/// The query routes, with their state. `GET /v1/search/messages` is mounted
/// only when the state has a search index ([`QueryState::with_searcher`]).
pub fn router(state: QueryState) -> Router {
    let router = match state.searcher() {
        Some(_) => Router::new().route("/v1/search/messages", get(routes::search::search)),
        None => Router::new(),
    };
    router
        .route("/v1/me", get(routes::users::me))
        .route("/v1/me/friends", get(routes::users::friends))
        .route("/v1/me/rooms", get(routes::rooms::my_rooms))
        .route("/v1/users", get(routes::users::find_user))
        .route("/v1/users/{user_id}", get(routes::users::user))
        .route("/v1/rooms/{room_id}", get(routes::rooms::room))
        .route(
            "/v1/rooms/{room_id}/messages",
            get(routes::messages::messages),
        )
        .with_state(state)
}
