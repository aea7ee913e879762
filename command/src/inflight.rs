//! Requests that share an `Idempotency-Key` run one at a time in a process:
//! the first decides and commits, the others wait and then replay its stored
//! answer. Without this, concurrent retries would each decide, all but one
//! would be refused at commit, and, pipelined on a hot stream, each refusal
//! would send the others back to retry. Across processes the commit-time
//! check of the key still guarantees that only one commit succeeds.

use domain::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

type Key = (UserId, String);

/// Per-key async locks, removed when nobody holds or waits for them.
#[derive(Clone, Default)]
pub struct KeyLocks {
    locks: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Holds a key until dropped.
pub struct KeyGuard {
    key: Key,
    locks: KeyLocks,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Wait for exclusive use of `(user, key)`.
    pub async fn lock(&self, user: UserId, key: &str) -> KeyGuard {
        let k = (user, key.to_owned());
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(k.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            key: k,
            locks: self.clone(),
            guard: Some(guard),
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Two references left: the map's and ours (the guard's was just dropped);
        // nobody else waits, so the entry can go.
        if let Some(lock) = map.get(&self.key) {
            if Arc::strong_count(lock) == 1 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_key_is_exclusive_and_entries_are_removed() {
        let locks = KeyLocks::default();
        let user = UserId(uuid::Uuid::from_u128(1));
        let g = locks.lock(user, "k").await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move { l2.lock(user, "k").await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(g);
        drop(waiter.await.unwrap());
        assert!(locks.locks.lock().unwrap().is_empty());
    }
}
