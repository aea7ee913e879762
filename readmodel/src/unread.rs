//! Read markers and unread counts.
//!
//! - `read:{room}`: user id → the last `seq` the member read;
//! - `seqs:{room}`: every non-deleted message's `seq` (member and score);
//! - `own:{room}:{author}`: the non-deleted `seq`s one author wrote.
//!
//! A member's unread count is the live seqs above their marker minus their
//! own (your own messages are never unread) and minus those they hid
//! (`hidden:{room}:{user}`, see [`crate::hidden`]), counted by one script so the
//! marker needs no round trip of its own; all three keys share the room's
//! hash tag.

use crate::ops;
use crate::reply::{ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{RoomId, UserId};
use redis::{Pipeline, Script};
use std::sync::LazyLock;

static UNREAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local m = redis.call('HGET', KEYS[1], ARGV[1]) or '0'
          local lo = '(' .. m
          local n = redis.call('ZCOUNT', KEYS[2], lo, '+inf') - redis.call('ZCOUNT', KEYS[3], lo, '+inf')
          for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], lo, '+inf')) do
            if redis.call('ZSCORE', KEYS[2], s) and not redis.call('ZSCORE', KEYS[3], s) then
              n = n - 1
            end
          end
          return n",
    )
});

/// Write the final read markers of some members of `room` (`None` removes one).
pub fn write_markers(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    markers: impl IntoIterator<Item = (UserId, Option<u64>)>,
) {
    let items = markers
        .into_iter()
        .map(|(user, seq)| (user.to_string(), seq.map(|s| s.to_string())));
    ops::hash(pipe, &keys.read_markers(room), items);
}

/// Queue the read of one member's marker; take it with [`take_marker`].
pub fn queue_marker(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, user: UserId) {
    pipe.hget(keys.read_markers(room), user.to_string());
}

/// The marker queued by [`queue_marker`], if the member has one.
pub fn take_marker(replies: &mut Replies) -> Result<Option<u64>, ReadError> {
    replies.take()
}

fn seqs(pipe: &mut Pipeline, key: &str, present: impl IntoIterator<Item = (u64, bool)>) {
    let items = present
        .into_iter()
        .map(|(seq, on)| (seq.to_string(), on.then_some(seq)));
    ops::zset(pipe, key, items);
}

/// Write whether each `seq` of `room` is a live (non-deleted) message.
pub fn write_live(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    present: impl IntoIterator<Item = (u64, bool)>,
) {
    seqs(pipe, &keys.live_seqs(room), present);
}

/// Write whether each `seq` of `room` is a live message of `author`.
pub fn write_own(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    author: UserId,
    present: impl IntoIterator<Item = (u64, bool)>,
) {
    seqs(pipe, &keys.own_seqs(room, author), present);
}

/// Queue the loading of the counting script. Put it first in a `MULTI`
/// with [`queue_count`]s, so the script exists for them even right after a
/// Redis restart; its reply is ignored.
pub fn queue_script(pipe: &mut Pipeline) {
    pipe.load_script(&UNREAD).ignore();
}

/// Queue the unread count of `user` in `room`; take it with [`take_count`].
pub fn queue_count(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, user: UserId) {
    pipe.invoke_script(
        UNREAD
            .key(keys.read_markers(room))
            .key(keys.live_seqs(room))
            .key(keys.own_seqs(room, user))
            .key(keys.hidden(room, user))
            .arg(user.to_string()),
    );
}

/// The count queued by [`queue_count`].
pub fn take_count(replies: &mut Replies) -> Result<u64, ReadError> {
    let n: i64 = replies.take()?;
    Ok(n.max(0) as u64)
}
