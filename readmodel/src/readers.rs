//! What `unread_by` (KakaoTalk's "1") needs of a room: each current
//! member's `joined_seq` (`joined:{room}`, written on a join, removed on a
//! leave) beside the read markers (`read:{room}`, see [`crate::unread`]).
//! One read of both gives every message of a page its count without a
//! query per message ([`domain::unread::unread_by`]).

use crate::ops;
use crate::reply::{parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{RoomId, UserId};
use domain::unread::ReadingMember;
use redis::Pipeline;
use std::collections::HashMap;

const WHAT: &str = "joined seq";

/// Write the `joined_seq` of some members of `room` (`None`: they left).
pub fn write_joined(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    members: impl IntoIterator<Item = (UserId, Option<u64>)>,
) {
    let items = members
        .into_iter()
        .map(|(user, seq)| (user.to_string(), seq.map(|s| s.to_string())));
    ops::hash(pipe, &keys.joined(room), items);
}

/// Queue the read of a room's current members with their markers; take
/// them with [`take`].
pub fn queue(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId) {
    pipe.hgetall(keys.joined(room))
        .hgetall(keys.read_markers(room));
}

/// The members queued by [`queue`]. A member without a marker has read nothing.
pub fn take(replies: &mut Replies) -> Result<Vec<ReadingMember>, ReadError> {
    let joined: HashMap<String, u64> = replies.take()?;
    let markers: HashMap<String, u64> = replies.take()?;
    joined
        .into_iter()
        .map(|(user, joined_seq)| {
            let read_seq = markers.get(&user).copied().unwrap_or(0);
            Ok(ReadingMember {
                user_id: parse_id(WHAT, &user)?,
                joined_seq,
                read_seq,
            })
        })
        .collect()
}
