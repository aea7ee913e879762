//! The write side of cotalk: the aggregate cache over the event log and the
//! REST command routes with authentication. The log itself (group-committed
//! appends, reads) is the `eventlog` crate's.
//!
//! - [`repository`]: cached aggregate state over the store; decide, append,
//!   retry on version conflicts.
//! - [`inflight`]: one request at a time per `Idempotency-Key`.
//! - [`password`]: argon2id hashing on the blocking pool.
//! - [`request`]: the command body extractor (fingerprint, `Idempotency-Key`).
//! - [`runner`]: one command end to end, with idempotent replays.
//! - [`state`]: the shared state of the routes.
//! - [`routes`]: every POST/PATCH/DELETE route of API.md, and their OpenAPI document.

pub mod inflight;
pub mod password;
pub mod repository;
pub mod request;
pub mod routes;
pub mod runner;
pub mod sessions;
pub mod state;

pub use routes::{openapi, router, routes};
pub use state::{CommandParts, CommandState};
