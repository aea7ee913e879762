//! Attachments: which room each upload belongs to (downloads check the
//! caller's membership of it), and the sweeper's two lists.
//!
//! - `attachment:{id}`: JSON [`AttachmentEntry`], from the upload until it is
//!   discarded (a sent attachment stays: the message shows it);
//! - `uploads:pending`: the unsent uploads, member `{room}:{id}`, score = the
//!   upload time in milliseconds (the orphan sweeper's source);
//! - `uploads:discarded`: discarded uploads whose bytes may still be in the
//!   object store, member `{room}:{id}`, score = the discard time in
//!   milliseconds. The sweeper removes a member once the bytes are gone, so
//!   a crash between the discard and the delete leaves it here to retry. A
//!   work queue, not a view: the digests leave it out
//!   ([`RedisKeys::discarded_uploads`]).

use crate::reply::{encode, parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::attachment::Attachment;
use domain::ids::{AttachmentId, RoomId};
use redis::aio::ConnectionLike;
use redis::Pipeline;
use serde::{Deserialize, Serialize};

const WHAT: &str = "attachment";

/// An upload and its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentEntry {
    pub room_id: RoomId,
    pub attachment: Attachment,
}

/// Write (`Some`) or remove (`None`) the entry of `id`.
pub fn write(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    id: AttachmentId,
    entry: Option<&AttachmentEntry>,
) {
    match entry {
        Some(e) => pipe.set(keys.attachment(id), encode(e)).ignore(),
        None => pipe.del(keys.attachment(id)).ignore(),
    };
}

fn member(room: RoomId, id: AttachmentId) -> String {
    format!("{room}:{id}")
}

/// Write whether each upload is pending (`Some(upload time ms)`) or not.
pub fn write_pending(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    items: impl IntoIterator<Item = ((RoomId, AttachmentId), Option<i64>)>,
) {
    let items = items.into_iter().map(|((r, a), at)| (member(r, a), at));
    crate::ops::zset(pipe, &keys.pending_uploads(), items);
}

/// Add discarded uploads (with their discard time in ms) to the sweeper's queue.
pub fn add_discarded(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    items: impl IntoIterator<Item = ((RoomId, AttachmentId), i64)>,
) {
    let items = items
        .into_iter()
        .map(|((r, a), at)| (member(r, a), Some(at)));
    crate::ops::zset(pipe, &keys.discarded_uploads(), items);
}

/// Queue the read of one attachment's entry; take it with [`take`].
pub fn queue_get(pipe: &mut Pipeline, keys: &RedisKeys, id: AttachmentId) {
    pipe.get(keys.attachment(id));
}

/// The entry queued by [`queue_get`], if the attachment is known and not discarded.
pub fn take(replies: &mut Replies) -> Result<Option<AttachmentEntry>, ReadError> {
    replies.json(WHAT)
}

fn parse_member(raw: &str) -> Result<(RoomId, AttachmentId), ReadError> {
    let (room, id) = raw.split_once(':').ok_or_else(|| ReadError::BadId {
        what: "upload",
        value: raw.to_owned(),
    })?;
    Ok((parse_id("upload room", room)?, parse_id("upload", id)?))
}

/// Up to `limit` uploads still pending that were uploaded at or before
/// `cutoff_ms`, oldest first (the sweeper's candidates).
pub async fn pending_before(
    conn: &mut impl ConnectionLike,
    keys: &RedisKeys,
    cutoff_ms: i64,
    limit: usize,
) -> Result<Vec<(RoomId, AttachmentId)>, ReadError> {
    let raw: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys.pending_uploads())
        .arg("-inf")
        .arg(cutoff_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .query_async(conn)
        .await?;
    raw.iter().map(|m| parse_member(m)).collect()
}

/// Up to `limit` discarded uploads whose bytes may still be stored.
pub async fn discarded(
    conn: &mut impl ConnectionLike,
    keys: &RedisKeys,
    limit: usize,
) -> Result<Vec<(RoomId, AttachmentId)>, ReadError> {
    let raw: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.discarded_uploads())
        .arg(0)
        .arg(limit.saturating_sub(1))
        .query_async(conn)
        .await?;
    raw.iter().map(|m| parse_member(m)).collect()
}

/// The bytes of a discarded upload are gone: take it off the sweeper's queue.
pub async fn forget_discarded(
    conn: &mut impl ConnectionLike,
    keys: &RedisKeys,
    room: RoomId,
    id: AttachmentId,
) -> Result<(), ReadError> {
    redis::cmd("ZREM")
        .arg(keys.discarded_uploads())
        .arg(member(room, id))
        .query_async::<()>(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip() {
        let room = RoomId(uuid::Uuid::from_u128(1));
        let id = AttachmentId(uuid::Uuid::from_u128(2));
        assert_eq!(parse_member(&member(room, id)).unwrap(), (room, id));
        assert!(parse_member("nonsense").is_err());
    }
}
