//! Recent timelines (`timeline:{room}`): the last [`TIMELINE_LEN`] messages
//! of a room as JSON [`MessageView`], score = `seq`. A deleted message keeps
//! its place with `deleted: true` and an empty body.

use crate::reply::{decode, encode, ReadError, Replies};
use crate::{RedisKeys, TIMELINE_LEN};
use domain::ids::RoomId;
use domain::views::MessageView;
use redis::Pipeline;

const WHAT: &str = "timeline message";

/// Write the current state of messages of `room` (in `seq` order) and trim
/// the timeline to its newest [`TIMELINE_LEN`]. Only the newest
/// `TIMELINE_LEN` of `entries` are written at all: anything older would be
/// trimmed anyway. A message already stored at a `seq` is replaced;
/// `posted` is the lowest and highest `seq` first posted among `entries`
/// (nothing can be stored at those yet, so they are cleared with one range).
pub fn write(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    entries: &[(u64, &MessageView)],
    posted: Option<(u64, u64)>,
) {
    let key = keys.timeline(room);
    let keep = &entries[entries.len().saturating_sub(TIMELINE_LEN)..];
    if let Some((lo, hi)) = posted {
        pipe.zrembyscore(&key, lo, hi).ignore();
    }
    for (seq, _) in keep {
        if posted.is_none_or(|(lo, hi)| *seq < lo || *seq > hi) {
            pipe.zrembyscore(&key, *seq, *seq).ignore();
        }
    }
    let items: Vec<(u64, String)> = keep
        .iter()
        .map(|(seq, view)| (*seq, encode(*view)))
        .collect();
    if !items.is_empty() {
        pipe.zadd_multiple(&key, &items).ignore();
    }
    // Keep the newest TIMELINE_LEN entries (ranks ascend with seq).
    pipe.zremrangebyrank(&key, 0, -(TIMELINE_LEN as isize) - 1)
        .ignore();
}

/// Queue the read of the message at `seq`; take it with [`take_at`].
pub fn queue_at(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, seq: u64) {
    pipe.zrangebyscore(keys.timeline(room), seq, seq);
}

/// The message queued by [`queue_at`], if the timeline still holds it.
pub fn take_at(replies: &mut Replies) -> Result<Option<MessageView>, ReadError> {
    let raw: Vec<String> = replies.take()?;
    raw.first().map(|r| decode(WHAT, r)).transpose()
}

/// Which part of a timeline to read: `seq`s between `min` and `max` (Redis
/// score bounds such as `(10` or `+inf`), at most `count`, oldest first when
/// `ascending`.
#[derive(Clone, Debug)]
pub struct Range {
    /// Lower score bound.
    pub min: String,
    /// Upper score bound.
    pub max: String,
    /// Oldest first (else newest first).
    pub ascending: bool,
    /// At most this many messages.
    pub count: usize,
}

/// What [`take_slice`] returns: the timeline's extent and one range of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// Lowest and highest `seq` in the timeline (`None` when empty).
    pub extent: Option<(i64, i64)>,
    /// How many messages it holds.
    pub len: i64,
    /// The messages of the range, in its order.
    pub page: Vec<MessageView>,
}

/// Queue the read of the timeline's extent and of `range`; take them with
/// [`take_slice`].
pub fn queue_slice(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, range: &Range) {
    let key = keys.timeline(room);
    pipe.zrange_withscores(&key, 0, 0)
        .zrange_withscores(&key, -1, -1)
        .zcard(&key);
    if range.ascending {
        pipe.zrangebyscore_limit(&key, &range.min, &range.max, 0, range.count as isize);
    } else {
        pipe.zrevrangebyscore_limit(&key, &range.max, &range.min, 0, range.count as isize);
    }
}

/// The slice queued by [`queue_slice`]; the page is decoded only if
/// `with_page` (a caller not allowed to see it skips the work).
pub fn take_slice(replies: &mut Replies, with_page: bool) -> Result<Slice, ReadError> {
    let first: Vec<(String, f64)> = replies.take()?;
    let last: Vec<(String, f64)> = replies.take()?;
    let len: i64 = replies.take()?;
    let page: Vec<String> = replies.take()?;
    let extent = first
        .first()
        .zip(last.first())
        .map(|(f, l)| (f.1 as i64, l.1 as i64));
    let page = if with_page {
        page.iter()
            .map(|m| decode(WHAT, m))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(Slice { extent, len, page })
}
