//! Sessions: one per login, with short access tokens (HS256, checked
//! without a round trip, carrying the session id `sid`) and a rotating
//! refresh token (OAuth 2.1: rotated on every use, a reused one revokes the
//! whole session).
//!
//! - [`store`]: the `sessions` and `refresh_tokens` tables.
//! - [`revoke`]: telling every node (deny list, Redis, NATS).
//!
//! Why sessions are a command-side table and not events in the log is in
//! ARCHITECTURE.md ("Sessions").

pub mod revoke;
pub mod store;

pub use revoke::Revoker;

/// What the session routes need besides the event store.
#[derive(Clone, Debug)]
pub struct Sessions {
    /// Publishes revocations.
    pub revoker: Revoker,
    /// How long a refresh token lives.
    pub refresh_ttl: chrono::Duration,
}

/// The refresh-token lifetime when none is configured.
pub const DEFAULT_REFRESH_TTL: chrono::Duration = chrono::Duration::days(30);
