//! Everything a command route needs, built once per process, and how the
//! command side authenticates: a valid token whose user's stream exists in
//! the event store (cached once seen; see `api::authenticate`).

use crate::password::Passwords;
use crate::repository::Repository;
use crate::sessions::{Revoker, Sessions, DEFAULT_REFRESH_TTL};
use api::authenticate::KnownUsers;
use api::ratelimit::RateLimits;
use api::revoked::RevokedSessions;
use api::{ApiError, Authenticate, Session, TokenKeys};
use axum::extract::FromRef;
use domain::{StreamId, StreamType};
use std::sync::Arc;

/// Shared state of the command routes: one pointer, so that the clone
/// every request's extractors make is one reference count, not one per
/// cache, pool and lock inside (issue 20: no per-request clones of large
/// state).
#[derive(Clone)]
pub struct CommandState(Arc<CommandParts>);

/// What [`CommandState`] shares; its fields are reached through the state.
#[derive(Clone)]
pub struct CommandParts {
    /// Aggregates, cached, over the group-committing event store.
    pub repo: Repository,
    /// Token signing and checking.
    pub keys: Arc<TokenKeys>,
    /// argon2id hashing off the runtime.
    pub passwords: Passwords,
    /// Serialises requests that share an idempotency key.
    pub inflight: crate::inflight::KeyLocks,
    /// Login, sign-up and post limits.
    pub limits: Arc<RateLimits>,
    /// Users whose stream is known to exist (registrations and logins on
    /// this node put them here).
    pub known_users: Arc<KnownUsers>,
    /// Refresh tokens and revocations.
    pub sessions: Sessions,
    /// How long an author may delete a message for everyone (`COTALK_DELETE_WINDOW_SECS`).
    pub delete_window: domain::values::DeleteWindow,
    /// Personal data: data keys, sealing, name keys (issue 18).
    pub pii: eventlog::pii::Pii,
    /// How long a deleted account's username stays unclaimable
    /// (`COTALK_USERNAME_QUARANTINE_DAYS`).
    pub quarantine: chrono::Duration,
}

/// The default username quarantine after an account is deleted (API.md).
pub const DEFAULT_QUARANTINE_DAYS: u32 = 30;

impl CommandState {
    /// The state over `repo`, with fresh hashing threads and caches; its
    /// revocations reach this node only until [`CommandState::with_sessions`]
    /// says how to tell the others.
    pub fn new(
        repo: Repository,
        keys: Arc<TokenKeys>,
        limits: Arc<RateLimits>,
        pii: eventlog::pii::Pii,
    ) -> Self {
        let revoker = Revoker::new("", None, None, Arc::default(), keys.ttl());
        Self(Arc::new(CommandParts {
            repo,
            keys,
            passwords: Passwords::new(),
            inflight: Default::default(),
            limits,
            known_users: Default::default(),
            sessions: Sessions {
                revoker,
                refresh_ttl: DEFAULT_REFRESH_TTL,
            },
            delete_window: Default::default(),
            pii,
            quarantine: chrono::Duration::days(DEFAULT_QUARANTINE_DAYS.into()),
        }))
    }

    /// The parts to change, copied first if the state is already shared
    /// (the `with_` builders run before it is).
    fn parts_mut(&mut self) -> &mut CommandParts {
        Arc::make_mut(&mut self.0)
    }

    /// The same state with another username quarantine.
    pub fn with_quarantine(mut self, quarantine: chrono::Duration) -> Self {
        self.parts_mut().quarantine = quarantine;
        self
    }

    /// The same state with another delete window.
    pub fn with_delete_window(mut self, delete_window: domain::values::DeleteWindow) -> Self {
        self.parts_mut().delete_window = delete_window;
        self
    }

    /// Use `sessions` (the process's revocation publisher and deny list).
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.parts_mut().sessions = sessions;
        self
    }
}

impl std::ops::Deref for CommandState {
    type Target = CommandParts;

    fn deref(&self) -> &CommandParts {
        &self.0
    }
}

impl FromRef<CommandState> for Arc<TokenKeys> {
    fn from_ref(state: &CommandState) -> Self {
        state.keys.clone()
    }
}

impl FromRef<CommandState> for Arc<RateLimits> {
    fn from_ref(state: &CommandState) -> Self {
        state.limits.clone()
    }
}

impl Authenticate for CommandState {
    fn token_keys(&self) -> &TokenKeys {
        &self.keys
    }

    fn known_users(&self) -> &KnownUsers {
        &self.known_users
    }

    fn revoked(&self) -> &RevokedSessions {
        self.sessions.revoker.local()
    }

    /// The user's stream exists in the log (the registration's position does
    /// not matter here: the log is the truth, and a token is only issued
    /// after the registration committed).
    async fn user_exists(&self, session: &Session) -> Result<bool, ApiError> {
        let id = StreamId::from(session.user);
        let found = self
            .repo
            .store()
            .stream_versions(&[id])
            .await
            .map_err(crate::runner::unavailable)?;
        Ok(matches!(found.get(&id), Some((StreamType::User, v)) if *v > 0))
    }
}
