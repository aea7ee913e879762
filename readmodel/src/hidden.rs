//! Messages a member hid for themselves (`hidden:{room}:{user}`: a sorted
//! set of `seq`s, member and score, like `seqs:{room}`). Hiding is final,
//! so the set only grows while the member stays; leaving does not clear it
//! (a member who comes back still does not see what they hid).

use crate::reply::{ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{RoomId, UserId};
use redis::Pipeline;

/// Add `seqs` to what `user` hid in `room`.
pub fn write(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, user: UserId, seqs: &[u64]) {
    if seqs.is_empty() {
        return;
    }
    let items: Vec<(u64, String)> = seqs.iter().map(|s| (*s, s.to_string())).collect();
    pipe.zadd_multiple(keys.hidden(room, user), &items).ignore();
}

/// Queue the read of the seqs `user` hid in `room` between the Redis score
/// bounds `min` and `max` (such as `(10` or `+inf`); take them with [`take`].
pub fn queue_range(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    user: UserId,
    min: &str,
    max: &str,
) {
    pipe.zrangebyscore(keys.hidden(room, user), min, max);
}

/// The seqs queued by [`queue_range`], ascending.
pub fn take(replies: &mut Replies) -> Result<Vec<u64>, ReadError> {
    let raw: Vec<u64> = replies.take()?;
    Ok(raw)
}

/// Queue the read of the newest `n` seqs `user` hid in `room`; take them
/// with [`take`] (then newest first).
pub fn queue_newest(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, user: UserId, n: usize) {
    pipe.zrevrangebyscore_limit(keys.hidden(room, user), "+inf", "-inf", 0, n as isize);
}

/// Queue whether `user` hid message `seq` of `room`; take it with [`take_is_hidden`].
pub fn queue_is_hidden(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    user: UserId,
    seq: u64,
) {
    pipe.zscore(keys.hidden(room, user), seq.to_string());
}

/// The answer queued by [`queue_is_hidden`].
pub fn take_is_hidden(replies: &mut Replies) -> Result<bool, ReadError> {
    let score: Option<f64> = replies.take()?;
    Ok(score.is_some())
}
