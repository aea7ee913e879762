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
//! - [`openapi`](mod@openapi): the OpenAPI document of these routes.
//! - [`stream`]: `GET /v1/stream`, live frames over a WebSocket, fanned out
//!   across query nodes through NATS core (its own [`stream::router`]).

mod auth;
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

use axum::Router;

/// The search route, mounted only with a search index.
const SEARCH_PATH: &str = "/v1/search/messages";

/// Declares [`ROUTES`] and the function that mounts them from one list, so
/// the route table tests iterate over is the one the router is built from.
macro_rules! route_table {
    ($($method:ident $path:expr => $handler:path,)*) => {
        /// Every query route as (lower-case method, path template), including
        /// the search route (mounted only with an index); tests iterate over it.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn mount(mut router: Router<QueryState>, search: bool) -> Router<QueryState> {
            $(if search || $path != SEARCH_PATH {
                router = router.route($path, axum::routing::$method($handler));
            })*
            router
        }
    };
}

route_table! {
    get SEARCH_PATH => routes::search::search,
    get "/v1/me" => routes::users::me,
    get "/v1/me/friends" => routes::users::friends,
    get "/v1/me/rooms" => routes::rooms::my_rooms,
    get "/v1/users" => routes::users::find_user,
    get "/v1/users/{user_id}" => routes::users::user,
    get "/v1/rooms/{room_id}" => routes::rooms::room,
    get "/v1/rooms/{room_id}/messages" => routes::messages::messages,
}

/// The query routes ([`ROUTES`]), with their state. `GET /v1/search/messages`
/// is mounted only when the state has a search index ([`QueryState::with_searcher`]).
pub fn router(state: QueryState) -> Router {
    let search = state.searcher().is_some();
    mount(Router::new(), search).with_state(state)
}
