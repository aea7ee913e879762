//! HTTP plumbing shared by the command routes (`command`) and the query
//! routes (`query`), so both answer errors, tokens and positions the same way
//! and neither depends on the other.
//!
//! - [`error`]: [`ApiError`], the one problem+json error type and its code table.
//! - [`auth`]: signed bearer tokens ([`TokenKeys`]) and the [`AuthUser`] extractor.
//! - [`authenticate`]: the token's user must exist ([`Authenticate`], with a
//!   positive cache, [`authenticate::KnownUsers`]).
//! - [`revoked`]: the node's deny list of revoked sessions ([`revoked::RevokedSessions`]).
//! - [`extract`]: JSON, path and query extractors whose rejections are problem+json.
//! - [`position`]: `X-Min-Position` / `X-Max-Wait-Ms` parsing and the `X-Position` header.
//! - [`limits`]: request body limits (413 before the body is read, 408 for a body
//!   that does not arrive in time) as a layer a route group configures.
//! - [`metrics`]: per-route request counters and latency histograms (bounded labels).
//! - [`ratelimit`]: keyed token buckets for sign-ups, posts, searches and username
//!   lookups (429 with `Retry-After`), and the [`ratelimit::Limits`] extractor.
//! - [`login_limit`]: failed-login budgets per account and per address that an
//!   attacker cannot turn into a lockout of the account's owner.
//! - [`openapi`]: the answers this plumbing gives (400, 401, 413, 503 …) added to every
//!   operation of an OpenAPI document.

pub mod auth;
pub mod authenticate;
pub mod error;
pub mod extract;
pub mod limits;
pub mod login_limit;
pub mod metrics;
pub mod openapi;
pub mod position;
pub mod ratelimit;
pub mod revoked;

pub use auth::{AuthSession, AuthUser, Claims, Session, TokenKeys};
pub use authenticate::Authenticate;
pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery};
pub use position::{MinPosition, Position, X_POSITION};
