//! The people read models (issue 16), all in the `redis` projection's
//! generation (so rebuilt and digested with it):
//!
//! | model | key | encoding |
//! |-------|-----|----------|
//! | blocks | `blocks:{user}` | HASH blocked id → JSON [`BlockView`] |
//! | blocked by | `blockedby:{user}` | SET of the users who blocked `user` |
//! | mutes | `mutes:{user}` | HASH room id → JSON [`MuteView`] |
//! | invites | `invites:{room}` | HASH invite id → JSON [`InviteView`] (usable or expired; revoked ones removed) |
//! | invite tokens | `invitetoken:{sha256}` | STRING `{room_id} {invite_id}` |
//! | user search | `usersearch` | ZSET, all scores 0, members `{term}\0{user_id}` |
//!
//! The user search index holds, per user, the lowercase username and the
//! initials ([`domain::hangul::initials`]) of the display name as terms.
//! Every name a query matches has a term starting with the query's own
//! initials (see the proof by property in `domain::hangul`), so one
//! `ZRANGEBYLEX` prefix range finds every candidate in O(log N + M); the
//! caller then ranks candidates with [`domain::hangul::rank`].

use crate::ops;
use crate::reply::{decode, encode, parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::{InviteId, RoomId, UserId};
use domain::views_people::{BlockView, InviteView, MuteView};
use redis::{Pipeline, Script};
use std::collections::HashMap;
use std::sync::LazyLock;

/// HASH: blocked id → JSON [`BlockView`].
pub fn blocks_key(keys: &RedisKeys, user: UserId) -> String {
    format!("{}blocks:{user}", keys.prefix())
}
/// SET: the users who blocked `user`.
pub fn blocked_by_key(keys: &RedisKeys, user: UserId) -> String {
    format!("{}blockedby:{user}", keys.prefix())
}
/// HASH: room id → JSON [`MuteView`].
pub fn mutes_key(keys: &RedisKeys, user: UserId) -> String {
    format!("{}mutes:{user}", keys.prefix())
}
/// HASH: invite id → JSON [`InviteView`] (hash-tagged by room).
pub fn invites_key(keys: &RedisKeys, room: RoomId) -> String {
    format!("{}invites:{{{room}}}", keys.prefix())
}
/// STRING: `{room_id} {invite_id}` of the invite whose token hashes to `hash`.
pub fn invite_token_key(keys: &RedisKeys, hash: &str) -> String {
    format!("{}invitetoken:{hash}", keys.prefix())
}
/// ZSET: the user search index.
pub fn user_search_key(keys: &RedisKeys) -> String {
    format!("{}usersearch", keys.prefix())
}

// ---- blocks -------------------------------------------------------------------

/// Write the final state of `owner`'s blocks of some users (`None`: unblocked),
/// and the reverse sets with them.
pub fn write_blocks<'a>(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    owner: UserId,
    items: impl IntoIterator<Item = (UserId, Option<&'a BlockView>)>,
) {
    let items: Vec<(UserId, Option<&BlockView>)> = items.into_iter().collect();
    for (other, v) in &items {
        let reverse = blocked_by_key(keys, *other);
        if v.is_some() {
            pipe.sadd(reverse, owner.to_string()).ignore();
        } else {
            pipe.srem(reverse, owner.to_string()).ignore();
        }
    }
    let fields = items
        .into_iter()
        .map(|(other, v)| (other.to_string(), v.map(encode)));
    ops::hash(pipe, &blocks_key(keys, owner), fields);
}

/// Queue the read of `owner`'s blocks; take them with [`take_blocks`].
pub fn queue_blocks(pipe: &mut Pipeline, keys: &RedisKeys, owner: UserId) {
    pipe.hgetall(blocks_key(keys, owner));
}

/// The blocks queued by [`queue_blocks`], in no particular order.
pub fn take_blocks(replies: &mut Replies) -> Result<Vec<BlockView>, ReadError> {
    let raw: HashMap<String, String> = replies.take()?;
    raw.values().map(|v| decode("block", v)).collect()
}

/// Queue the read of who blocked `user`; take it with [`take_blocked_by`].
pub fn queue_blocked_by(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
    pipe.smembers(blocked_by_key(keys, user));
}

/// The users queued by [`queue_blocked_by`].
pub fn take_blocked_by(replies: &mut Replies) -> Result<Vec<UserId>, ReadError> {
    let raw: Vec<String> = replies.take()?;
    raw.iter().map(|s| parse_id("blocker", s)).collect()
}

// ---- mutes --------------------------------------------------------------------

/// Write the final state of `owner`'s mutes of some rooms (`None`: unmuted).
pub fn write_mutes<'a>(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    owner: UserId,
    items: impl IntoIterator<Item = (RoomId, Option<&'a MuteView>)>,
) {
    let fields = items
        .into_iter()
        .map(|(room, v)| (room.to_string(), v.map(encode)));
    ops::hash(pipe, &mutes_key(keys, owner), fields);
}

/// Queue the read of `owner`'s mutes; take them with [`take_mutes`].
pub fn queue_mutes(pipe: &mut Pipeline, keys: &RedisKeys, owner: UserId) {
    pipe.hgetall(mutes_key(keys, owner));
}

/// The mutes queued by [`queue_mutes`], by room.
pub fn take_mutes(replies: &mut Replies) -> Result<HashMap<RoomId, MuteView>, ReadError> {
    let raw: HashMap<String, String> = replies.take()?;
    raw.values()
        .map(|v| decode::<MuteView>("mute", v).map(|m| (m.room_id, m)))
        .collect()
}

// ---- invites ------------------------------------------------------------------

/// Write the final state of some invites of `room` (`None`: revoked).
pub fn write_invites<'a>(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    items: impl IntoIterator<Item = (InviteId, Option<&'a InviteView>)>,
) {
    let fields = items
        .into_iter()
        .map(|(id, v)| (id.to_string(), v.map(encode)));
    ops::hash(pipe, &invites_key(keys, room), fields);
}

/// Record which invite a token hash opens.
pub fn put_invite_token(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    hash: &str,
    room: RoomId,
    invite: InviteId,
) {
    pipe.set(invite_token_key(keys, hash), format!("{room} {invite}"))
        .ignore();
}

/// Queue the read of a room's invites; take them with [`take_invites`].
pub fn queue_invites(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId) {
    pipe.hgetall(invites_key(keys, room));
}

/// The invites queued by [`queue_invites`], by id.
pub fn take_invites(replies: &mut Replies) -> Result<HashMap<InviteId, InviteView>, ReadError> {
    let raw: HashMap<String, String> = replies.take()?;
    raw.values()
        .map(|v| decode::<InviteView>("invite", v).map(|i| (i.invite_id, i)))
        .collect()
}

/// Queue the read of one invite; take it with [`take_invite`].
pub fn queue_invite(pipe: &mut Pipeline, keys: &RedisKeys, room: RoomId, invite: InviteId) {
    pipe.hget(invites_key(keys, room), invite.to_string());
}

/// The invite queued by [`queue_invite`], if stored.
pub fn take_invite(replies: &mut Replies) -> Result<Option<InviteView>, ReadError> {
    replies.json("invite")
}

/// Queue the lookup of a token hash; take it with [`take_invite_token`].
pub fn queue_invite_token(pipe: &mut Pipeline, keys: &RedisKeys, hash: &str) {
    pipe.get(invite_token_key(keys, hash));
}

/// The room and invite queued by [`queue_invite_token`], if any.
pub fn take_invite_token(replies: &mut Replies) -> Result<Option<(RoomId, InviteId)>, ReadError> {
    let Some(raw) = replies.take::<Option<String>>()? else {
        return Ok(None);
    };
    let (room, invite) = raw.split_once(' ').ok_or_else(|| ReadError::BadId {
        what: "invite token",
        value: raw.clone(),
    })?;
    Ok(Some((
        parse_id("invite token room", room)?,
        parse_id("invite token invite", invite)?,
    )))
}

// ---- unread counts without blocked authors ----------------------------------

/// The unread count of `unread::queue_count`, also leaving out the live
/// seqs of the authors whose `own:` sets are `KEYS[4..]` (each seq has one
/// author, so the subtractions are exact).
static UNREAD_WITHOUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local m = redis.call('HGET', KEYS[1], ARGV[1]) or '0'
          local lo = '(' .. m
          local n = redis.call('ZCOUNT', KEYS[2], lo, '+inf')
          for i = 3, #KEYS do
            n = n - redis.call('ZCOUNT', KEYS[i], lo, '+inf')
          end
          return n",
    )
});

/// Queue the loading of the script of [`queue_unread_without`] (first in
/// the `MULTI`, like `unread::queue_script`); its reply is ignored.
pub fn queue_unread_script(pipe: &mut Pipeline) {
    pipe.load_script(&UNREAD_WITHOUT).ignore();
}

/// Queue `user`'s unread count in `room` leaving out messages by `blocked`
/// (the users `user` blocked: never unread for them); take it with
/// `unread::take_count`.
pub fn queue_unread_without(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    room: RoomId,
    user: UserId,
    blocked: &[UserId],
) {
    let mut call = UNREAD_WITHOUT.key(keys.read_markers(room));
    call.key(keys.live_seqs(room))
        .key(keys.own_seqs(room, user));
    for b in blocked {
        call.key(keys.own_seqs(room, *b));
    }
    pipe.invoke_script(call.arg(user.to_string()));
}

// ---- user search --------------------------------------------------------------

/// The terms a user is found by: the lowercase username and the initials
/// of the display name (lowercase for what is not Hangul).
pub fn search_terms(username: &str, display_name: &str) -> Vec<String> {
    let mut terms = vec![
        username.to_lowercase(),
        domain::hangul::initials(display_name),
    ];
    terms.dedup();
    terms
}

fn entry(term: &str, user: UserId) -> String {
    format!("{term}\0{user}")
}

/// Replace `user`'s terms `old` by `new` in the search index.
pub fn write_search_terms(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    user: UserId,
    old: &[String],
    new: &[String],
) {
    let gone: Vec<String> = old
        .iter()
        .filter(|t| !new.contains(t))
        .map(|t| entry(t, user))
        .collect();
    if !gone.is_empty() {
        pipe.zrem(user_search_key(keys), gone).ignore();
    }
    let added: Vec<(i64, String)> = new
        .iter()
        .filter(|t| !old.contains(t))
        .map(|t| (0, entry(t, user)))
        .collect();
    if !added.is_empty() {
        pipe.zadd_multiple(user_search_key(keys), &added).ignore();
    }
}

/// Queue the read of up to `count` index entries whose term starts with
/// `prefix`, in term order; take them with [`take_search`].
pub fn queue_search(pipe: &mut Pipeline, keys: &RedisKeys, prefix: &str, count: usize) {
    // Every term starting with `prefix` sorts between `prefix` and `prefix`
    // followed by the greatest byte (terms are UTF-8: no 0xFF byte).
    let mut max = prefix.as_bytes().to_vec();
    max.push(0xff);
    let mut min = b"[".to_vec();
    min.extend_from_slice(prefix.as_bytes());
    let mut upper = b"(".to_vec();
    upper.extend_from_slice(&max);
    pipe.cmd("ZRANGEBYLEX")
        .arg(user_search_key(keys))
        .arg(min)
        .arg(upper)
        .arg("LIMIT")
        .arg(0)
        .arg(count);
}

/// The users queued by [`queue_search`], each once, in term order.
pub fn take_search(replies: &mut Replies) -> Result<Vec<UserId>, ReadError> {
    let raw: Vec<Vec<u8>> = replies.take()?;
    let mut out: Vec<UserId> = Vec::new();
    for m in raw {
        let text = String::from_utf8_lossy(&m);
        let id = text.rsplit('\0').next().unwrap_or_default();
        let id: UserId = parse_id("user search entry", id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_the_username_and_the_initials_of_the_name() {
        assert_eq!(search_terms("minji", "김민지"), vec!["minji", "ㄱㅁㅈ"]);
        assert_eq!(search_terms("bob", "Bob"), vec!["bob"]);
    }
}
