//! Rooms (`room:{id}`, JSON [`RoomView`]), their members (`members:{id}`:
//! user id → JSON [`MemberView`]) and each user's room list (`rooms:{user}`:
//! room id scored by last activity in milliseconds).

use crate::ops;
use crate::reply::{decode, encode, parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{RoomId, UserId};
use domain::views::{MemberView, RoomView};
use redis::Pipeline;
use std::collections::{BTreeMap, HashMap};

/// Write a room's own fields.
pub fn put(pipe: &mut Pipeline, keys: &RedisKeys, room: &RoomView) {
    pipe.set(keys.room(room.room_id), encode(room)).ignore();
}

/// Queue the read of one room; take it with [`take`].
pub fn queue_get(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId) {
    pipe.get(keys.room(room));
}

/// The room queued by [`queue_get`], if it exists.
pub fn take(replies: &mut Replies) -> Result<Option<RoomView>, ReadError> {
    replies.json("room")
}

/// Write the final state of members of `room` (`None` removes one).
pub fn write_members<'a>(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    members: impl IntoIterator<Item = (UserId, Option<&'a MemberView>)>,
) {
    let items = members
        .into_iter()
        .map(|(user, m)| (user.to_string(), m.map(encode)));
    ops::hash(pipe, &keys.members(room), items);
}

/// Queue the read of a room's members; take them with [`take_members`].
pub fn queue_members(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId) {
    pipe.hgetall(keys.members(room));
}

/// The members queued by [`queue_members`] (none for an unknown room).
pub fn take_members(replies: &mut Replies) -> Result<BTreeMap<UserId, MemberView>, ReadError> {
    let raw: HashMap<String, String> = replies.take()?;
    let mut out = BTreeMap::new();
    for v in raw.values() {
        let m: MemberView = decode("member", v)?;
        out.insert(m.user_id, m);
    }
    Ok(out)
}

/// Queue the count of a room's members; take it with [`take_count`].
pub fn queue_member_count(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId) {
    pipe.hlen(keys.members(room));
}

/// The count queued by [`queue_member_count`].
pub fn take_count(replies: &mut Replies) -> Result<u64, ReadError> {
    replies.take()
}

/// Queue whether `user` is a member of `room`; take it with [`take_is_member`].
pub fn queue_is_member(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, user: UserId) {
    pipe.hexists(keys.members(room), user.to_string());
}

/// The answer queued by [`queue_is_member`].
pub fn take_is_member(replies: &mut Replies) -> Result<bool, ReadError> {
    replies.take()
}

/// Write the final room-list state of `user` for some rooms: the score
/// (last activity, milliseconds since the epoch), or `None` to remove it.
pub fn write_list(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    user: UserId,
    rooms: impl IntoIterator<Item = (RoomId, Option<i64>)>,
) {
    let items = rooms.into_iter().map(|(r, s)| (r.to_string(), s));
    ops::zset(pipe, &keys.rooms_of(user), items);
}

/// Queue the read of `user`'s whole room list; take it with [`take_list`].
pub fn queue_list(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
    pipe.zrange(keys.rooms_of(user), 0, -1);
}

/// The rooms queued by [`queue_list`], oldest activity first.
pub fn take_list(replies: &mut Replies) -> Result<Vec<RoomId>, ReadError> {
    let ids: Vec<String> = replies.take()?;
    ids.iter().map(|s| parse_id("room list entry", s)).collect()
}

/// One entry of a room list: a room and its activity score.
#[derive(Clone, Debug, PartialEq)]
pub struct ListEntry {
    /// The room.
    pub room: RoomId,
    /// Last activity, milliseconds since the epoch.
    pub score: f64,
}

/// Queue the read of up to `count` entries of `user`'s room list, most
/// recent first, after `after` (exclusive) in the list's order: score
/// descending, then room id descending (as Redis orders equal scores).
/// Take them with [`take_page`] given the same `after`.
pub fn queue_page(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    user: UserId,
    after: Option<&ListEntry>,
    count: usize,
) {
    let list = keys.rooms_of(user);
    match after {
        Some(c) => {
            // Rooms tied with the cursor's score (filtered in `take_page`),
            // then the ones strictly after it.
            pipe.zrevrangebyscore_withscores(&list, c.score, c.score)
                .zrevrangebyscore_limit_withscores(
                    &list,
                    format!("({}", c.score),
                    "-inf",
                    0,
                    count as isize,
                );
        }
        None => {
            pipe.zrevrangebyscore_limit_withscores(&list, "+inf", "-inf", 0, count as isize);
        }
    }
}

/// The entries queued by [`queue_page`] (possibly more than `count`).
pub fn take_page(
    replies: &mut Replies,
    after: Option<&ListEntry>,
) -> Result<Vec<ListEntry>, ReadError> {
    let mut page: Vec<(String, f64)> = Vec::new();
    if let Some(c) = after {
        let ties: Vec<(String, f64)> = replies.take()?;
        let from = c.room.to_string();
        page.extend(ties.into_iter().filter(|(room, _)| *room < from));
    }
    page.extend(replies.take::<Vec<(String, f64)>>()?);
    page.into_iter()
        .map(|(room, score)| {
            Ok(ListEntry {
                room: parse_id("room list entry", &room)?,
                score,
            })
        })
        .collect()
}
