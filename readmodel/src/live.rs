//! Ephemeral state of live delivery (issue 16): presence and the typing
//! throttle in Redis, and the NATS core subjects their notices travel on.
//!
//! None of it is an event or part of a projection generation: it is never
//! rebuilt, never digested, and lives under `{ns}:live:` beside the
//! generations (a rebuild's switch does not touch it).
//!
//! | key | type | what |
//! |-----|------|------|
//! | `{ns}:live:presence:{user}` | ZSET | one member per open stream (anywhere), score = expiry in ms |
//! | `{ns}:live:presence_due` | ZSET | member = a user with entries, score = when the newest of them expires (ms) |
//! | `{ns}:live:seen:{user}` | STRING | ms of the user's last stream activity (open, heartbeat, close) |
//! | `{ns}:live:typing:{room}:{user}` | STRING | set for 3 s after a `typing` frame went out (`SET NX PX`) |
//!
//! A stream's entry is refreshed by its heartbeat; a node that dies leaves
//! entries that expire on their own, so a user is online exactly while some
//! node holds a live stream of theirs. Every node sweeps the users whose
//! entries are due ([`queue_due`], [`queue_expire`]): the one whose script
//! removes a user's last, expired entries tells their friends they went
//! offline, which the dead node could not.

use crate::reply::{ReadError, Replies};
use domain::ids::{RoomId, UserId};
use redis::{Pipeline, Script};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// How long `last_seen` is kept after the last activity.
const SEEN_TTL_MS: u64 = 90 * 24 * 3600 * 1000;

/// How long, at least, a user's presence set outlives its newest entry: the
/// sweep must still find expired entries to know the user went offline
/// (a set that expired whole is indistinguishable from one emptied by
/// closes, which announced already), and a sweep may run late by a period
/// or more on a busy node or while Redis restarts.
pub const SWEEP_GRACE_MS: u64 = 60_000;

/// ZSET of `user`'s open streams (member: a stream id; score: expiry ms).
pub fn presence_key(namespace: &str, user: UserId) -> String {
    format!("{namespace}:live:presence:{user}")
}

/// ZSET of users with presence entries, scored by when their newest entry
/// expires: what the sweep looks at.
pub fn presence_due_key(namespace: &str) -> String {
    format!("{namespace}:live:presence_due")
}

/// STRING: ms of `user`'s last stream activity.
pub fn seen_key(namespace: &str, user: UserId) -> String {
    format!("{namespace}:live:seen:{user}")
}

/// STRING set while `user`'s typing in `room` is throttled.
pub fn typing_key(namespace: &str, room: RoomId, user: UserId) -> String {
    format!("{namespace}:live:typing:{room}:{user}")
}

/// Subject of typing notices: `{ns}.live.typing`.
pub fn typing_subject(namespace: &str) -> String {
    format!("{namespace}.live.typing")
}

/// Subject of presence notices: `{ns}.live.presence`.
pub fn presence_subject(namespace: &str) -> String {
    format!("{namespace}.live.presence")
}

/// Subject of presence visibility changes: `{ns}.live.visibility`.
pub fn visibility_subject(namespace: &str) -> String {
    format!("{namespace}.live.visibility")
}

/// Subject of block changes: `{ns}.live.blocks`.
pub fn blocks_subject(namespace: &str) -> String {
    format!("{namespace}.live.blocks")
}

/// Every live subject of a namespace: `{ns}.live.>`.
pub fn all_live(namespace: &str) -> String {
    format!("{namespace}.live.>")
}

/// `user_id` is typing in `room_id` (already throttled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingNotice {
    pub room_id: RoomId,
    pub user_id: UserId,
}

/// `user_id` came online or went offline; `to`: the friends to tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceNotice {
    pub user_id: UserId,
    pub online: bool,
    pub to: Vec<UserId>,
}

/// `user_id` showed or hid their presence at `position` (already applied by
/// the `redis` projection): nodes tell the friends they hold connections of
/// what they may see now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibilityNotice {
    pub user_id: UserId,
    pub position: i64,
}

/// Blocks between these users changed at `position` (already applied by
/// the `redis` projection): nodes re-read their block sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlocksNotice {
    pub users: Vec<UserId>,
    pub position: i64,
}

/// KEYS[1] presence, KEYS[2] seen; ARGV[1] the stream id, ARGV[2] now (ms),
/// ARGV[3] the entry's lifetime (ms), ARGV[4] `last_seen`'s, ARGV[5] how
/// long the set outlives its newest entry. Adds or refreshes the stream's
/// entry and answers 0 exactly when the user had no live stream before it.
/// The set outlives its newest entry so that the sweep finds entries left by
/// a node that died (and only then announces).
static ARRIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
          local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
          local before = redis.call('ZCARD', KEYS[1])
          redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
          redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[5]))
          redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
          if had then return 1 end
          return before",
    )
});

/// KEYS as [`ARRIVE`]; ARGV[1] the stream id, ARGV[2] now (ms). Removes the
/// stream's entry and answers 0 exactly when that was the user's last live
/// stream (-1 when the entry was gone already).
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local removed = redis.call('ZREM', KEYS[1], ARGV[1])
          redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
          redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
          if removed == 0 then return -1 end
          return redis.call('ZCARD', KEYS[1])",
    )
});

/// KEYS[1] presence; ARGV[1] now (ms). Removes the expired entries and
/// answers 0 exactly when they were the user's last: their streams' node
/// stopped refreshing them without closing them.
static EXPIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
          if removed > 0 and redis.call('ZCARD', KEYS[1]) == 0 then return 0 end
          return 1",
    )
});

/// KEYS[1] the due set; ARGV[1] now (ms), ARGV[2..] users. Drops those
/// still due (a user who arrived meanwhile is due later and stays).
static SWEPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local now = tonumber(ARGV[1])
          for i = 2, #ARGV do
            local due = redis.call('ZSCORE', KEYS[1], ARGV[i])
            if due and tonumber(due) <= now then redis.call('ZREM', KEYS[1], ARGV[i]) end
          end
          return 0",
    )
});

/// Queue adding (or refreshing) stream `stream` of `user`, alive for
/// `ttl_ms` from `now_ms`; take with [`take_transition`] (true: came online).
/// The user is due for the sweep when the entry expires (a command of its
/// own, not in the script: the due set is one key for every user).
pub fn queue_arrive(
    pipe: &mut Pipeline,
    namespace: &str,
    user: UserId,
    stream: &str,
    now_ms: i64,
    ttl_ms: u64,
) {
    // Loaded first (as `people::queue_unread_script` does): a pipeline
    // sends `EVALSHA`, which fails on a server that has not seen the script.
    pipe.load_script(&ARRIVE).ignore();
    pipe.invoke_script(
        ARRIVE
            .key(presence_key(namespace, user))
            .key(seen_key(namespace, user))
            .arg(stream)
            .arg(now_ms)
            .arg(ttl_ms)
            .arg(SEEN_TTL_MS)
            .arg(ttl_ms.max(SWEEP_GRACE_MS)),
    );
    let expiry = now_ms.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
    pipe.cmd("ZADD")
        .arg(presence_due_key(namespace))
        .arg("GT")
        .arg(expiry)
        .arg(user.to_string())
        .ignore();
}

/// Queue removing stream `stream` of `user`; take with [`take_transition`]
/// (true: went offline).
pub fn queue_leave(pipe: &mut Pipeline, namespace: &str, user: UserId, stream: &str, now_ms: i64) {
    pipe.load_script(&LEAVE).ignore();
    pipe.invoke_script(
        LEAVE
            .key(presence_key(namespace, user))
            .key(seen_key(namespace, user))
            .arg(stream)
            .arg(now_ms)
            .arg(SEEN_TTL_MS),
    );
}

/// Whether the call queued by [`queue_arrive`], [`queue_leave`] or
/// [`queue_expire`] changed the user's presence.
pub fn take_transition(replies: &mut Replies) -> Result<bool, ReadError> {
    Ok(replies.take::<i64>()? == 0)
}

/// Queue the read of at most `limit` users due for the sweep at `now_ms`;
/// take with [`take_due`].
pub fn queue_due(pipe: &mut Pipeline, namespace: &str, now_ms: i64, limit: usize) {
    pipe.cmd("ZRANGEBYSCORE")
        .arg(presence_due_key(namespace))
        .arg("-inf")
        .arg(now_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(limit);
}

/// The users queued by [`queue_due`] (members that are not user ids, which
/// nothing writes, are skipped).
pub fn take_due(replies: &mut Replies) -> Result<Vec<UserId>, ReadError> {
    let members: Vec<String> = replies.take()?;
    Ok(members
        .iter()
        .filter_map(|m| m.parse().ok().map(UserId))
        .collect())
}

/// Queue removing `user`'s entries expired at `now_ms`; take with
/// [`take_transition`] (true: those were their last, they went offline).
pub fn queue_expire(pipe: &mut Pipeline, namespace: &str, user: UserId, now_ms: i64) {
    pipe.load_script(&EXPIRE).ignore();
    pipe.invoke_script(EXPIRE.key(presence_key(namespace, user)).arg(now_ms));
}

/// Queue dropping `users` from the due set unless they became due later
/// than `now_ms` meanwhile (nothing to take).
pub fn queue_swept(pipe: &mut Pipeline, namespace: &str, users: &[UserId], now_ms: i64) {
    let mut call = SWEPT.key(presence_due_key(namespace));
    call.arg(now_ms);
    for user in users {
        call.arg(user.to_string());
    }
    pipe.load_script(&SWEPT).ignore();
    pipe.invoke_script(&call).ignore();
}

/// A user's presence as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    /// Some stream of theirs is alive.
    pub online: bool,
    /// Ms of their last stream activity, if any is remembered.
    pub last_seen_ms: Option<i64>,
}

/// Queue the read of `user`'s presence at `now_ms`; take with [`take_presence`].
pub fn queue_presence(pipe: &mut Pipeline, namespace: &str, user: UserId, now_ms: i64) {
    pipe.zcount(presence_key(namespace, user), format!("({now_ms}"), "+inf")
        .get(seen_key(namespace, user));
}

/// The presence queued by [`queue_presence`].
pub fn take_presence(replies: &mut Replies) -> Result<Presence, ReadError> {
    let live: i64 = replies.take()?;
    let seen: Option<i64> = replies.take()?;
    Ok(Presence {
        online: live > 0,
        last_seen_ms: seen,
    })
}

/// Queue the typing throttle of `user` in `room`: set for `window_ms`
/// unless set; take with [`take_typing`] (true: not throttled, send).
pub fn queue_typing(
    pipe: &mut Pipeline,
    namespace: &str,
    room: RoomId,
    user: UserId,
    window_ms: u64,
) {
    pipe.cmd("SET")
        .arg(typing_key(namespace, room, user))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(window_ms);
}

/// Whether the throttle queued by [`queue_typing`] let the frame through.
pub fn take_typing(replies: &mut Replies) -> Result<bool, ReadError> {
    Ok(replies.take::<Option<String>>()?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn live_subjects_match_the_wildcard_and_not_the_frames_one() {
        let all = all_live("ns1");
        for s in [
            typing_subject("ns1"),
            presence_subject("ns1"),
            visibility_subject("ns1"),
            blocks_subject("ns1"),
        ] {
            assert!(s.starts_with(all.trim_end_matches('>')));
            assert!(!s.starts_with("ns1.frames."));
        }
        let user = UserId(Uuid::from_u128(1));
        assert!(presence_key("ns1", user).starts_with("ns1:live:"));
        assert!(!presence_key("ns1", user).starts_with("ns1:rm:"));
    }
}
