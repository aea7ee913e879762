//! Everything a command route needs, built once per process.

use crate::password::Passwords;
use crate::repository::Repository;
use api::TokenKeys;
use axum::extract::FromRef;
use std::sync::Arc;

/// Shared state of the command routes.
#[derive(Clone)]
pub struct CommandState {
    /// Aggregates, cached, over the group-committing event store.
    pub repo: Repository,
    /// Token signing and checking.
    pub keys: Arc<TokenKeys>,
    /// argon2id hashing off the runtime.
    pub passwords: Passwords,
    /// Serialises requests that share an idempotency key.
    pub inflight: crate::inflight::KeyLocks,
}

impl FromRef<CommandState> for Arc<TokenKeys> {
    fn from_ref(state: &CommandState) -> Self {
        state.keys.clone()
    }
}
