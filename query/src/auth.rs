//! How the query side authenticates: a valid token whose user has a profile
//! in the `redis` projection (the query side may not read the event log).
//!
//! The projection can be behind the log: a user who has just registered and
//! logged in may ask before their registration is applied. Their token
//! carries the registration's log position (`reg`), so the check reads the
//! profile with that position as its read-your-writes bound, like
//! `X-Min-Position`: it waits up to 2 s for the projection to get there (503
//! `projection_lagging` if it does not), and only a projection that has
//! applied the registration and has no profile proves the user does not
//! exist. Known users are cached (`api::authenticate::KnownUsers`), so this
//! costs one Redis round trip per user and node, not per request.

use crate::failure::Fail;
use crate::routes::users::profile;
use crate::snapshot::{consistent, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use api::authenticate::KnownUsers;
use api::position::DEFAULT_WAIT;
use api::revoked::RevokedSessions;
use api::{ApiError, Authenticate, Session, TokenKeys};
use tokio::time::Instant;

/// Whether the session's user has a profile once the projection has applied
/// their registration.
async fn profile_exists(state: &QueryState, session: &Session) -> Result<bool, Fail> {
    let bound = Bound {
        position: session.registered_at,
        deadline: Instant::now() + DEFAULT_WAIT,
    };
    let mut snap = Snapshot::begin(state, bound);
    Ok(consistent!(snap, profile(&mut snap, session.user)).is_some())
}

impl Authenticate for QueryState {
    fn token_keys(&self) -> &TokenKeys {
        QueryState::token_keys(self)
    }

    fn known_users(&self) -> &KnownUsers {
        QueryState::known_users(self)
    }

    fn revoked(&self) -> &RevokedSessions {
        QueryState::revoked(self)
    }

    async fn user_exists(&self, session: &Session) -> Result<bool, ApiError> {
        profile_exists(self, session).await.map_err(|f| f.error)
    }
}
