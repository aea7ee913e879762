//! Reactions (`reactions:{room}`): per message `seq`, who reacted with
//! which emoji (JSON list of [`ReactionSet`]). Read a page at a time with
//! one `HMGET`; each viewer's `{emoji, count, me}` is made at read time
//! ([`domain::views::ReactionView::for_viewer`]).

use crate::ops;
use crate::reply::{decode, encode, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::RoomId;
use domain::views::ReactionSet;
use redis::Pipeline;

const WHAT: &str = "reactions";

/// Write the final reactions of some messages of `room` (empty removes).
pub fn write<'a>(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    messages: impl IntoIterator<Item = (u64, &'a [ReactionSet])>,
) {
    let items = messages
        .into_iter()
        .map(|(seq, sets)| (seq.to_string(), (!sets.is_empty()).then(|| encode(&sets))));
    ops::hash(pipe, &keys.reactions(room), items);
}

/// Queue the read of the reactions of `seqs`; take them with [`take_many`].
/// Queues nothing for no seqs (and [`take_many`] then takes nothing).
pub fn queue_many(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, seqs: &[u64]) {
    if !seqs.is_empty() {
        pipe.cmd("HMGET").arg(keys.reactions(room)).arg(seqs);
    }
}

/// The reactions queued by [`queue_many`], one list per seq, in order.
pub fn take_many(replies: &mut Replies, n: usize) -> Result<Vec<Vec<ReactionSet>>, ReadError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let raw: Vec<Option<String>> = replies.take()?;
    raw.iter()
        .map(|r| r.as_deref().map_or(Ok(Vec::new()), |r| decode(WHAT, r)))
        .collect()
}
