//! Frame windows, kept for resuming streams: `frames:{room}` holds a room's
//! last [`FRAMES_LEN`] frames, `uframes:{user}` the last [`USER_FRAMES_LEN`]
//! frames that made a user join or leave a room; JSON
//! [`Frame`], score = position.
//!
//! Stored frames follow edits and deletions: [`redact`] rewrites every
//! `message_posted` and `message_edited` frame of a message still in its
//! room's window to the message's current body (empty once deleted), in the
//! same transaction as the edit or deletion. The window is the one place
//! besides the log that keeps a message's text, and text a deletion removed
//! must not stay readable in Redis (a dump, a replica, a later bug in a
//! reader; personal data is to be erasable).
//!
//! How: frames of the same batch are stored rewritten ([`redacted`]); for
//! those stored before, a Lua script scans the window (at most
//! [`FRAMES_LEN`] members) for the message's frames and splices the new body
//! into each, or reads only the positions the writer knows
//! ([`redact_at`]). Doing it in
//! Redis needs no read before the transaction, so it holds when a previous
//! transaction is still running while this one is computed: scripts run in
//! transaction order and see every earlier write. The splice relies on how
//! frames are serialised (serde_json: quotes inside strings are always
//! escaped, so `"body":"` only ever starts the body field, and a
//! `message_id` value is a bare UUID).

use crate::reply::{decode, encode, ReadError, Replies};
use crate::{RedisKeys, FRAMES_LEN, USER_FRAMES_LEN};
use domain::frame::{Frame, FrameBody};
use domain::ids::{MessageId, RoomId, UserId};
use redis::Pipeline;

/// The part both redaction scripts share: `rewrite(member, score)` splices
/// ARGV[2] (the message's current body as a JSON string literal, quotes
/// included) into `member` if it is a `message_posted` or `message_edited`
/// frame of message ARGV[1], and returns 1 if that changed it.
macro_rules! rewrite_lua {
    () => {
        r#"
local id = '"message_id":"' .. ARGV[1] .. '"'
local function rewrite(m, score)
  if not (string.find(m, id, 1, true)
    and (string.find(m, '"type":"message_posted"', 1, true)
      or string.find(m, '"type":"message_edited"', 1, true))) then
    return 0
  end
  local s, e = string.find(m, '"body":"', 1, true)
  if not s then return 0 end
  -- The closing quote: the first one not escaped by a backslash.
  local j = e + 1
  local c = string.byte(m, j)
  while c and c ~= 34 do
    if c == 92 then j = j + 2 else j = j + 1 end
    c = string.byte(m, j)
  end
  if c ~= 34 then return 0 end
  local new = string.sub(m, 1, s + 6) .. ARGV[2] .. string.sub(m, j + 1)
  if new == m then return 0 end
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[1], score, new)
  return 1
end
"#
    };
}

/// KEYS[1] a frame window; ARGV[1] the message id; ARGV[2] its current body
/// as a JSON string literal. Scans the whole window; returns how many
/// frames were rewritten.
const REDACT: &str = concat!(
    rewrite_lua!(),
    r#"
local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local n = 0
for i = 1, #items, 2 do
  n = n + rewrite(items[i], items[i + 1])
end
return n
"#
);

/// [`REDACT`] for the frames at the positions ARGV[3..] only (one
/// `ZRANGEBYSCORE` each instead of a scan of the window).
const REDACT_AT: &str = concat!(
    rewrite_lua!(),
    r#"
local n = 0
for k = 3, #ARGV do
  local items = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[k], ARGV[k], 'WITHSCORES')
  for i = 1, #items, 2 do
    n = n + rewrite(items[i], items[i + 1])
  end
end
return n
"#
);

/// Add the newest `len` of `frames` (oldest first) to `key` and trim it.
fn add(pipe: &mut Pipeline, key: &str, frames: &[&Frame], len: usize) {
    let keep = &frames[frames.len().saturating_sub(len)..];
    if keep.is_empty() {
        return;
    }
    let items: Vec<(i64, String)> = keep.iter().map(|f| (f.position, encode(*f))).collect();
    pipe.zadd_multiple(key, &items).ignore();
    pipe.zremrangebyrank(key, 0, -(len as isize) - 1).ignore();
}

/// Add `frames` (position order) to `room`'s window, keeping its newest
/// [`FRAMES_LEN`]; frames the trim would drop are not written.
pub fn add_to_room(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, frames: &[&Frame]) {
    add(pipe, &keys.frames(room), frames, FRAMES_LEN);
}

/// Add membership `frames` (position order) to `user`'s window, keeping its
/// newest [`USER_FRAMES_LEN`].
pub fn add_to_user(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId, frames: &[&Frame]) {
    add(pipe, &keys.user_frames(user), frames, USER_FRAMES_LEN);
}

/// Rewrite message `id`'s frames in `room`'s window to `body` (empty for a
/// deleted message); see the module documentation.
pub fn redact(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, id: MessageId, body: &str) {
    queue_redaction(pipe, REDACT, keys, room, id, body, &[]);
}

/// [`redact`] for the frames stored at `positions` only, when the writer
/// knows where the message's frames are (the bulk path of a rebuild wrote
/// the window itself): no scan of the window.
pub fn redact_at(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    id: MessageId,
    body: &str,
    positions: &[i64],
) {
    if !positions.is_empty() {
        queue_redaction(pipe, REDACT_AT, keys, room, id, body, positions);
    }
}

fn queue_redaction(
    pipe: &mut Pipeline,
    script: &str,
    keys: &RedisKeys,
    room: RoomId,
    id: MessageId,
    body: &str,
    positions: &[i64],
) {
    // A string always serialises.
    let literal = serde_json::to_string(body).unwrap_or_else(|_| "\"\"".into());
    pipe.cmd("EVAL")
        .arg(script)
        .arg(1)
        .arg(keys.frames(room))
        .arg(id.to_string())
        .arg(literal)
        .arg(positions)
        .ignore();
}

/// `frame` as a window stores it once message `id` reads `body`: a copy
/// with that body if it is a `message_posted` or `message_edited` frame of
/// the message with another body, else `None` (stored as it is). What
/// [`redact`] does to a stored frame, done before storing it.
pub fn redacted(frame: &Frame, id: MessageId, body: &str) -> Option<Frame> {
    let (FrameBody::MessagePosted {
        message_id,
        body: b,
        ..
    }
    | FrameBody::MessageEdited {
        message_id,
        body: b,
        ..
    }) = &frame.body
    else {
        return None;
    };
    if *message_id != id || b == body {
        return None;
    }
    let mut copy = frame.clone();
    if let FrameBody::MessagePosted { body: b, .. } | FrameBody::MessageEdited { body: b, .. } =
        &mut copy.body
    {
        body.clone_into(b);
    }
    Some(copy)
}

/// The frames of one window above a position, and its oldest position
/// when it is full (older frames were dropped).
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Each frame with the text it is stored as, position order.
    pub frames: Vec<(Frame, String)>,
    /// The oldest position kept, when the window is full.
    pub full_from: Option<i64>,
}

fn queue(pipe: &mut Pipeline, key: &str, after: i64) {
    pipe.zrangebyscore(key, format!("({after}"), "+inf")
        .zcard(key)
        .zrange_withscores(key, 0, 0);
}

/// Queue the read of `room`'s window above `after`; take it with
/// [`take_room_window`].
pub fn queue_room_window(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, after: i64) {
    queue(pipe, &keys.frames(room), after);
}

/// Queue the read of `user`'s membership window above `after`; take it with
/// [`take_user_window`].
pub fn queue_user_window(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId, after: i64) {
    queue(pipe, &keys.user_frames(user), after);
}

fn take(replies: &mut Replies, len: usize) -> Result<Window, ReadError> {
    let raw: Vec<String> = replies.take()?;
    let card: usize = replies.take()?;
    let oldest: Vec<(String, f64)> = replies.take()?;
    let frames = raw
        .into_iter()
        .map(|text| decode::<Frame>("frame", &text).map(|f| (f, text)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Window {
        frames,
        full_from: oldest
            .first()
            .filter(|_| card >= len)
            .map(|(_, score)| *score as i64),
    })
}

/// The window queued by [`queue_room_window`].
pub fn take_room_window(replies: &mut Replies) -> Result<Window, ReadError> {
    take(replies, FRAMES_LEN)
}

/// The window queued by [`queue_user_window`].
pub fn take_user_window(replies: &mut Replies) -> Result<Window, ReadError> {
    take(replies, USER_FRAMES_LEN)
}
