//! The room of each meet-up (`meetup_room:{meetup_id}` → room id), kept by
//! the `redis` projection so that a meet-up's later events (changes,
//! cancellation, reminders) become live frames in its room (issue 17).

use crate::reply::{parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{MeetupId, RoomId};
use redis::Pipeline;

const WHAT: &str = "meetup room";

/// Record `room` as the room of `meetup`.
pub fn put(pipe: &mut Pipeline, keys: &RedisKeys, meetup: MeetupId, room: RoomId) {
    pipe.set(keys.meetup_room(meetup), room.to_string())
        .ignore();
}

/// Queue the read of a meet-up's room; take it with [`take`].
pub fn queue_get(pipe: &mut Pipeline, keys: &RedisKeys, meetup: MeetupId) {
    pipe.get(keys.meetup_room(meetup));
}

/// The room queued by [`queue_get`], if the meet-up is known.
pub fn take(replies: &mut Replies) -> Result<Option<RoomId>, ReadError> {
    let raw: Option<String> = replies.take()?;
    raw.map(|r| parse_id(WHAT, &r)).transpose()
}
