//! Revoked sessions, as every node learns of them: pushed over NATS core on
//! [`revoked_subject`], and kept in Redis under [`revoked_key`] for a node
//! that just started or reconnected to catch up from.
//!
//! The Redis set is not a projection (sessions are not in the event log, see
//! ARCHITECTURE.md "Sessions"): the command side writes it when it revokes,
//! and an entry is needed only as long as an access token of the session
//! may still be valid, so each member's score is that instant (milliseconds
//! since the epoch) and writers trim what is past.

use redis::Pipeline;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// ZSET: session id → the instant (ms since the epoch) until which its
/// access tokens must be refused: `{ns}:sessions:revoked`.
pub fn revoked_key(namespace: &str) -> String {
    format!("{namespace}:sessions:revoked")
}

/// The NATS core subject revocations are pushed on: `{ns}.sessions.revoked`.
pub fn revoked_subject(namespace: &str) -> String {
    format!("{namespace}.sessions.revoked")
}

/// One message on [`revoked_subject`]: sessions revoked together (a logout,
/// a password change's other sessions, a reused refresh token's session).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The sessions.
    pub session_ids: Vec<Uuid>,
    /// Until when (ms since the epoch) their tokens must be refused.
    pub until_ms: i64,
}

/// Add `revocation` to the set, and drop the entries past `now_ms`.
pub fn queue_revoke(pipe: &mut Pipeline, namespace: &str, revocation: &Revocation, now_ms: i64) {
    let key = revoked_key(namespace);
    for session in &revocation.session_ids {
        // GT: a later revocation of the same session only extends it.
        pipe.cmd("ZADD")
            .arg(&key)
            .arg("GT")
            .arg(revocation.until_ms)
            .arg(session.to_string())
            .ignore();
    }
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(now_ms)
        .ignore();
    // The whole set is past once its newest entry is: let Redis drop it.
    pipe.cmd("PEXPIREAT")
        .arg(&key)
        .arg(revocation.until_ms)
        .arg("GT")
        .ignore();
}

/// Read the entries still in force at `now_ms`, as `(session, until_ms)`
/// (one reply: decode it with [`take_live`]).
pub fn queue_live(pipe: &mut Pipeline, namespace: &str, now_ms: i64) {
    pipe.cmd("ZRANGEBYSCORE")
        .arg(revoked_key(namespace))
        .arg(format!("({now_ms}"))
        .arg("+inf")
        .arg("WITHSCORES");
}

/// Decode [`queue_live`]'s reply; members that are not session ids are
/// skipped.
pub fn take_live(reply: Vec<(String, i64)>) -> Vec<(Uuid, i64)> {
    reply
        .into_iter()
        .filter_map(|(member, until)| Uuid::parse_str(&member).ok().map(|id| (id, until)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_namespaced() {
        assert_eq!(revoked_key("ns1"), "ns1:sessions:revoked");
        assert_eq!(revoked_subject("ns1"), "ns1.sessions.revoked");
        let r = Revocation {
            session_ids: vec![Uuid::from_u128(1)],
            until_ms: 5,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Revocation>(&json).unwrap(), r);
    }
}
