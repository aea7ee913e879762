//! A room's notice (`notice:{room}`, JSON [`NoticeView`]); absent when the
//! room has none.

use crate::reply::{encode, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::RoomId;
use domain::views::NoticeView;
use redis::Pipeline;

/// Write a room's notice (`None` takes it down).
pub fn write(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, notice: Option<&NoticeView>) {
    match notice {
        Some(n) => pipe.set(keys.notice(room), encode(n)).ignore(),
        None => pipe.del(keys.notice(room)).ignore(),
    };
}

/// Queue the read of a room's notice; take it with [`take`].
pub fn queue_get(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId) {
    pipe.get(keys.notice(room));
}

/// The notice queued by [`queue_get`], if the room has one.
pub fn take(replies: &mut Replies) -> Result<Option<NoticeView>, ReadError> {
    replies.json("notice")
}
