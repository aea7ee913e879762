//! Rooms (`room:{id}`, JSON [`RoomView`]), their members (`members:{id}`:
//! user id → JSON [`MemberView`]) and each user's room list: the rooms a
//! user is in (`rooms:{user}`) ordered by each room's last activity in
//! milliseconds (`activity`, one entry per room).
//!
//! The list is ordered when read, not when written: a room's activity moves
//! with every post, and keeping it in every member's list cost one sorted-set
//! update per member per batch (in a 64-member room, most of Redis' work per
//! post). `rooms:{user}` changes only when the user joins or leaves, and is
//! scored by when they joined. A reader falls back to that score for a room
//! `activity` does not have: in a generation written before `activity`
//! existed, `rooms:{user}` scores were the activity itself, and every room
//! moved since (a join moves it too) has its entry.

use crate::ops;
use crate::reply::{decode, encode, parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{RoomId, UserId};
use domain::views::{MemberView, RoomView};
use redis::{Pipeline, Script};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

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

/// Write the final room-list state of `user` for some rooms: when the user
/// joined (milliseconds since the epoch), or `None` to remove it.
pub fn write_list(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    user: UserId,
    rooms: impl IntoIterator<Item = (RoomId, Option<i64>)>,
) {
    let items = rooms.into_iter().map(|(r, s)| (r.to_string(), s));
    ops::zset(pipe, &keys.rooms_of(user), items);
}

/// Write the last activity (milliseconds since the epoch) of some rooms.
pub fn write_activity(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    rooms: impl IntoIterator<Item = (RoomId, i64)>,
) {
    let items: Vec<(i64, String)> = rooms
        .into_iter()
        .map(|(room, at)| (at, room.to_string()))
        .collect();
    if !items.is_empty() {
        pipe.zadd_multiple(keys.room_activity(), &items).ignore();
    }
}

/// Queue the read of `user`'s whole room list (in no particular order);
/// take it with [`take_list`].
pub fn queue_list(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
    pipe.zrange(keys.rooms_of(user), 0, -1);
}

/// The rooms queued by [`queue_list`].
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

/// Every room of a list (KEYS[1]) with its score: the room's entry in
/// KEYS[2] (the activity of every room) where it has one, else its own.
/// Flat: room, score, room, score, … (scores as Redis formats them).
/// `ZMSCORE` in slices: `unpack` is bounded by Lua's stack.
static LIST_SCORES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local list = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
          local out = {}
          local n = #list / 2
          for from = 1, n, 512 do
            local rooms = {}
            for i = from, math.min(from + 511, n) do rooms[#rooms + 1] = list[2 * i - 1] end
            local scores = redis.call('ZMSCORE', KEYS[2], unpack(rooms))
            for j = 1, #rooms do
              out[#out + 1] = rooms[j]
              out[#out + 1] = scores[j] or list[2 * (from + j - 1)]
            end
          end
          return out",
    )
});

/// Queue the read of `user`'s room list with every room's activity; take a
/// page of it with [`take_page`]. The whole list is read, and ordered when
/// taken (see the module documentation).
pub fn queue_page(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
    // Loaded in the same transaction, so it exists for the call after it
    // even right after a Redis restart.
    pipe.load_script(&LIST_SCORES).ignore();
    pipe.invoke_script(
        LIST_SCORES
            .key(keys.rooms_of(user))
            .key(keys.room_activity()),
    );
}

/// Up to `count` entries of the list queued by [`queue_page`], most recent
/// first, after `after` (exclusive) in the list's order: score descending,
/// then room id descending (as Redis orders a sorted set read backwards).
pub fn take_page(
    replies: &mut Replies,
    after: Option<&ListEntry>,
    count: usize,
) -> Result<Vec<ListEntry>, ReadError> {
    let raw: Vec<(String, f64)> = replies.take()?;
    let mut page = raw
        .into_iter()
        .map(|(room, score)| {
            Ok(ListEntry {
                room: parse_id("room list entry", &room)?,
                score,
            })
        })
        .collect::<Result<Vec<_>, ReadError>>()?;
    // A hyphenated lowercase UUID orders as its bytes do, so this is the
    // order Redis gives equal scores (by member, bytewise), reversed.
    let order = |a: &ListEntry, b: &ListEntry| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.room.cmp(&a.room))
    };
    if let Some(c) = after {
        page.retain(|e| order(c, e).is_lt());
    }
    page.sort_by(order);
    page.truncate(count);
    Ok(page)
}
