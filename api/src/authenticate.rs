//! Authentication beyond the signature.
//!
//! **The user must exist.** A valid signature proves the server issued the
//! token, not that its `sub` is a registered user (a leaked or shared key, a
//! restored database, a token minted by a tool). [`Authenticate`] checks the
//! user against each side's own source of truth: the event store on the
//! command side (the user's stream exists), the `redis` profile read model on
//! the query side (which may not read the log). Positive answers are cached
//! in [`KnownUsers`], so in the steady state authenticating costs no round
//! trip at all; only a user's first request on a node pays one lookup
//! (logins warm the command side's cache). Users are never deleted today; the
//! planned account deletion must evict them from every node's cache.
//!
//! **The session must not be revoked.** A token naming a session in the
//! node's deny list ([`RevokedSessions`]) is refused before anything else is
//! asked; the list is in memory, so this costs no round trip either.
//!
//! **Read-your-writes.** A user who has just registered and logged in may
//! reach a query node before the projection has applied their registration.
//! The token carries the registration's log position (`reg`), and the query
//! side waits for its projection to reach it, exactly as for
//! `X-Min-Position` (up to 2 s, then 503 `projection_lagging`), before
//! concluding that the user does not exist. So a fresh user never gets a 401
//! for being fast, and a token whose user is not in an up-to-date projection
//! gets one. Tokens without `reg` (issued before it existed) are checked
//! against the projection as it is.

use crate::auth::{Session, TokenKeys};
use crate::error::ApiError;
use crate::revoked::RevokedSessions;
use domain::UserId;
use std::collections::HashSet;
use std::future::Future;
use std::sync::RwLock;

/// Users known to exist, as a bounded positive cache shared by a node's
/// requests. Sharded read-write locks: the hot path (a known user) takes one
/// shared read lock. A shard that fills up is cleared, which only costs its
/// users one lookup each again; no user is ever cached as absent.
#[derive(Debug)]
pub struct KnownUsers {
    shards: Box<[RwLock<HashSet<uuid::Uuid>>]>,
    per_shard: usize,
}

/// Shards of [`KnownUsers`].
const KNOWN_USER_SHARDS: usize = 64;

impl KnownUsers {
    /// A cache of about `capacity` users.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..KNOWN_USER_SHARDS)
                .map(|_| RwLock::new(HashSet::new()))
                .collect(),
            per_shard: capacity.div_ceil(KNOWN_USER_SHARDS).max(1),
        }
    }

    fn shard(&self, user: UserId) -> &RwLock<HashSet<uuid::Uuid>> {
        // The low bits of a UUIDv7 are random.
        &self.shards[(user.0.as_u128() % KNOWN_USER_SHARDS as u128) as usize]
    }

    /// Whether `user` is known to exist.
    pub fn contains(&self, user: UserId) -> bool {
        self.shard(user)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&user.0)
    }

    /// Remember that `user` exists.
    pub fn insert(&self, user: UserId) {
        let mut shard = self.shard(user).write().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard && !shard.contains(&user.0) {
            shard.clear();
        }
        shard.insert(user.0);
    }
}

impl Default for KnownUsers {
    /// Room for a million users (about 20 MB when full).
    fn default() -> Self {
        Self::new(1 << 20)
    }
}

/// Authentication of a side's routes: a valid token whose user exists
/// (see the module documentation). The router state implements it; the
/// [`AuthUser`] extractor and the stream's handshake call
/// [`Authenticate::authenticate`].
pub trait Authenticate: Send + Sync {
    /// Keys that check tokens.
    fn token_keys(&self) -> &TokenKeys;

    /// This node's cache of users known to exist.
    fn known_users(&self) -> &KnownUsers;

    /// This node's deny list of revoked sessions.
    fn revoked(&self) -> &RevokedSessions;

    /// Whether the session's user exists, asked of the side's source of
    /// truth (uncached; an unavailable store is a 503, not a 401).
    fn user_exists(&self, session: &Session)
        -> impl Future<Output = Result<bool, ApiError>> + Send;

    /// The session of `token` if it is valid and its user exists, else
    /// 401 `unauthenticated`.
    fn authenticate(&self, token: &str) -> impl Future<Output = Result<Session, ApiError>> + Send {
        async move {
            let session = self.token_keys().session(token)?;
            if session
                .session_id
                .is_some_and(|sid| self.revoked().contains(sid))
            {
                return Err(ApiError::unauthenticated());
            }
            if self.known_users().contains(session.user) {
                return Ok(session);
            }
            if self.user_exists(&session).await? {
                self.known_users().insert(session.user);
                Ok(session)
            } else {
                Err(ApiError::unauthenticated())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A side whose source of truth is a fixed set, counting its lookups.
    struct Side {
        keys: TokenKeys,
        known: KnownUsers,
        revoked: RevokedSessions,
        registered: HashSet<UserId>,
        lookups: AtomicUsize,
    }

    impl Authenticate for Side {
        fn token_keys(&self) -> &TokenKeys {
            &self.keys
        }
        fn known_users(&self) -> &KnownUsers {
            &self.known
        }
        fn revoked(&self) -> &RevokedSessions {
            &self.revoked
        }
        async fn user_exists(&self, session: &Session) -> Result<bool, ApiError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            Ok(self.registered.contains(&session.user))
        }
    }

    fn user(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    #[tokio::test]
    async fn existing_users_are_looked_up_once_and_others_always_refused() {
        let side = Side {
            keys: TokenKeys::new(
                b"0123456789abcdef0123456789abcdef",
                chrono::Duration::hours(1),
            ),
            known: KnownUsers::default(),
            revoked: RevokedSessions::default(),
            registered: [user(1)].into(),
            lookups: AtomicUsize::new(0),
        };
        let now = chrono::Utc::now();
        let sid = uuid::Uuid::from_u128(11);
        let (real, _) = side.keys.issue_session(user(1), 5, sid, now).unwrap();
        let (forged, _) = side.keys.issue_session(user(2), 5, sid, now).unwrap();
        for _ in 0..3 {
            let session = side.authenticate(&real).await.unwrap();
            assert_eq!((session.user, session.registered_at), (user(1), 5));
        }
        assert_eq!(
            side.lookups.load(Ordering::Relaxed),
            1,
            "cached after the first"
        );
        for _ in 0..2 {
            let refused = side.authenticate(&forged).await.unwrap_err();
            assert_eq!(refused.code, "unauthenticated");
        }
        assert_eq!(
            side.lookups.load(Ordering::Relaxed),
            3,
            "absence is never cached"
        );
        let now_ms = now.timestamp_millis();
        side.revoked.extend([(sid, now_ms + 60_000)], now_ms);
        let refused = side.authenticate(&real).await.unwrap_err();
        assert_eq!(refused.code, "unauthenticated", "a revoked session's token");
    }

    #[test]
    fn a_full_shard_is_cleared_not_grown() {
        let known = KnownUsers::new(KNOWN_USER_SHARDS); // one user per shard
        let same_shard = |i: u128| user(i * KNOWN_USER_SHARDS as u128);
        known.insert(same_shard(1));
        known.insert(same_shard(1));
        assert!(known.contains(same_shard(1)));
        known.insert(same_shard(2));
        assert!(known.contains(same_shard(2)) && !known.contains(same_shard(1)));
        known.insert(user(1));
        assert!(known.contains(user(1)) && known.contains(same_shard(2)));
    }
}
