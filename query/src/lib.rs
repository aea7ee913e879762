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
//! - `auth`: a token's user must have a profile (waiting for the projection
//!   to reach the registration the token names).
//! - [`failure`]: dependency errors as 503 / 500, and [`Fail`] (an error with its position).
//! - [`wait`]: the read-your-writes bound and the polling backoff.
//! - [`snapshot`]: consistent, generation-checked transactions on the `redis` projection.
//! - [`history`]: pages of the `history` projection (`messages_g{N}`).
//! - [`window`]: strict parsing of `before` / `after` / `limit`.
//! - [`dto`]: the JSON answers and their OpenAPI schemas.
//! - [`routes`]: the handlers.
//! - [`openapi`](mod@openapi): the route table and the OpenAPI document, from
//!   one declaration per route.
//! - [`stream`]: `GET /v1/stream`, live frames over a WebSocket, fanned out
//!   across query nodes through NATS core (its own [`stream::router`]).

mod auth;
pub mod dto;
pub mod failure;
mod history;
mod meetups;
mod messenger;
mod notifications;
pub mod openapi;
mod routes;
mod snapshot;
pub mod state;
pub mod stream;
mod wait;
mod window;

pub use failure::Fail;
pub use openapi::openapi;
pub use routes::attachments::DownloadState;
pub use state::{check_ready, QueryConfig, QueryState, QueryStateError};

use axum::Router;

/// The query routes ([`routes`]), with their state. `GET /v1/search/messages`
/// is mounted only when the state has a search index ([`QueryState::with_searcher`]).
pub fn router(state: QueryState) -> Router {
    let search = state.searcher().is_some();
    let (router, _) = openapi::table(search).split_for_parts();
    router.with_state(state)
}

/// Every query route as (method, path template), including the search route
/// (mounted only with an index), from the document the router is built
/// with; tests iterate over it.
pub fn routes() -> Vec<(axum::http::Method, String)> {
    let mut doc = openapi::table(true).into_openapi();
    doc.merge(openapi::download_table().into_openapi());
    doc.merge(stream::table().into_openapi());
    api::openapi::operations(&doc)
}

/// `GET /v1/attachments/{attachment_id}`: its own state, the object store beside the projections.
pub fn download_router(state: DownloadState) -> Router {
    let (router, _) = openapi::download_table().split_for_parts();
    router.with_state(state)
}
