//! The node's deny list of revoked sessions.
//!
//! Access tokens are checked without a round trip (signature and claims, see
//! [`crate::auth`]); a revoked session's tokens stay cryptographically valid
//! until they expire. So every node keeps the ids of sessions revoked within
//! the last access-token lifetime in memory, and [`crate::Authenticate`]
//! refuses their tokens. An entry is needed only until the newest token of
//! its session has expired: it is kept until `revoked_at + access TTL` and
//! then forgotten, which bounds the list by the revocations of one token
//! lifetime (tens of thousands at most, a few MB).
//!
//! How entries arrive is the process's business (`src/serve/revocations.rs`:
//! NATS core pushes, Redis for catch-up); this type only stores them and
//! tells whoever watches that the list changed (open streams close their
//! revoked sessions' connections).
//!
//! The hot path, a token of a session that is not revoked, costs one atomic
//! load while the list is empty and one shared read lock and a hash lookup
//! otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;
use tokio::sync::watch;
use uuid::Uuid;

/// Session ids revoked recently, each with the instant (milliseconds since
/// the epoch) after which no token of it can still be valid.
#[derive(Debug)]
pub struct RevokedSessions {
    until: RwLock<HashMap<Uuid, i64>>,
    len: AtomicUsize,
    changed: watch::Sender<u64>,
}

impl Default for RevokedSessions {
    fn default() -> Self {
        Self {
            until: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
            changed: watch::channel(0).0,
        }
    }
}

impl RevokedSessions {
    /// Whether `session` is revoked.
    pub fn contains(&self, session: Uuid) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.until
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&session)
    }

    /// Add revocations (`(session, until_ms)`), dropping entries that are
    /// past `now_ms`; watchers are told when something new arrived.
    pub fn extend(&self, entries: impl IntoIterator<Item = (Uuid, i64)>, now_ms: i64) {
        let mut added = false;
        {
            let mut until = self.until.write().unwrap_or_else(|e| e.into_inner());
            for (session, at) in entries {
                if at <= now_ms {
                    continue;
                }
                let slot = until.entry(session).or_insert_with(|| {
                    added = true;
                    at
                });
                *slot = (*slot).max(at);
            }
            until.retain(|_, at| *at > now_ms);
            self.len.store(until.len(), Ordering::Release);
        }
        if added {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Forget entries that are past `now_ms`.
    pub fn expire(&self, now_ms: i64) {
        self.extend(std::iter::empty(), now_ms);
    }

    /// Revoked sessions held now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A receiver that wakes whenever a session is added (check
    /// [`RevokedSessions::contains`] for yours then).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_hold_until_their_expiry_and_watchers_hear_of_new_ones() {
        let list = RevokedSessions::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut rx = list.watch();
        assert!(!list.contains(a));
        list.extend([(a, 2_000), (b, 500)], 1_000);
        assert!(list.contains(a) && !list.contains(b), "b was already over");
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        list.extend([(a, 1_500)], 1_000);
        assert!(!rx.has_changed().unwrap(), "nothing new");
        list.expire(1_999);
        assert!(list.contains(a), "kept until its latest expiry");
        list.expire(2_000);
        assert!(!list.contains(a) && list.is_empty());
    }
}
