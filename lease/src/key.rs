//! Which advisory lock a lease is, and how the session holding it is named.

use sha2::{Digest, Sha256};
use std::fmt;

/// First key of every lease lock (ASCII "cLSE"); the second is derived from
/// namespace and name. Two-key advisory locks live in another space than the
/// event store's one-key append lock, and this class differs from the replay
/// lock's, so none of them collide.
pub(crate) const LEASE_CLASS: i32 = 0x634c_5345;

/// A lease's identity: the deployment's namespace and the task's name
/// (`scheduler`, `relay`, `redis`, `history`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseKey {
    namespace: String,
    name: String,
}

impl LeaseKey {
    /// The lease `name` of deployment `namespace`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The two keys of `pg_try_advisory_lock(int, int)`.
    pub(crate) fn lock_ids(&self) -> (i32, i32) {
        let digest = Sha256::digest(format!("{}\0{}", self.namespace, self.name).as_bytes());
        (
            LEASE_CLASS,
            i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]),
        )
    }

    /// The `application_name` of this process's connection for the lease,
    /// `cotalk-<name>-<pid>`: in `pg_stat_activity` it tells an operator
    /// (and the fault tests) which process holds which lease.
    pub fn application_name(&self) -> String {
        let name = format!("cotalk-{}-{}", self.name, std::process::id());
        // Postgres keeps 63 bytes of it.
        name.chars().take(63).collect()
    }
}

impl fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_namespace_and_name() {
        let a = LeaseKey::new("cotalk", "redis").lock_ids();
        assert_eq!(a, LeaseKey::new("cotalk", "redis").lock_ids());
        assert_ne!(a, LeaseKey::new("cotalk", "history").lock_ids());
        assert_ne!(a, LeaseKey::new("other", "redis").lock_ids());
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            LeaseKey::new("ab", "c").lock_ids(),
            LeaseKey::new("a", "bc").lock_ids()
        );
    }

    #[test]
    fn the_application_name_ends_with_the_pid() {
        let name = LeaseKey::new("cotalk", "scheduler").application_name();
        assert_eq!(name, format!("cotalk-scheduler-{}", std::process::id()));
    }
}
