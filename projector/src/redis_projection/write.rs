//! Writing an [`Overlay`] back: one `MULTI`/`EXEC` ending with the checkpoint.
//!
//! The overlay holds each key's final state after the batch, so the
//! transaction writes it with one variadic command per key (`HSET key f v f
//! v …`, `ZADD key s m s m …`, `ZREM key m m …`) rather than one per event:
//! a batch of thousands of events costs Redis a few commands per room and
//! per user touched. Set and hash members are independent of each other, so
//! writing each member's final state is the same as replaying the events in
//! order.
//!
//! Windows (timelines, frame windows) are trimmed to their length after the
//! writes; entries of this batch that the trim would remove anyway (more
//! than a window's worth of newer entries in the same batch) are not written
//! at all, which is what keeps a bulk rebuild from writing every message of
//! a busy room only to delete it again.

use super::overlay::Overlay;
use super::redact;
use domain::frame::Frame;
use domain::views::{RedisKeys, FRAMES_LEN, TIMELINE_LEN, USER_FRAMES_LEN};
use std::collections::BTreeMap;

fn json<T: serde::Serialize>(v: &T) -> String {
    // Views are plain data: serialising cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

/// Group `(key part, member, value)` by key part, keeping order.
fn grouped<K: Ord + Copy, M, V>(
    items: impl Iterator<Item = (K, M, V)>,
) -> BTreeMap<K, Vec<(M, V)>> {
    let mut out: BTreeMap<K, Vec<(M, V)>> = BTreeMap::new();
    for (k, m, v) in items {
        out.entry(k).or_default().push((m, v));
    }
    out
}

/// Split final states into members to write and members to remove.
fn split<M, V>(items: Vec<(M, Option<V>)>) -> (Vec<(M, V)>, Vec<M>) {
    let mut put = Vec::new();
    let mut del = Vec::new();
    for (m, v) in items {
        match v {
            Some(v) => put.push((m, v)),
            None => del.push(m),
        }
    }
    (put, del)
}

/// `HSET` the present fields of a hash and `HDEL` the absent ones.
fn hash(pipe: &mut redis::Pipeline, key: String, items: Vec<(String, Option<String>)>) {
    let (put, del) = split(items);
    if !put.is_empty() {
        pipe.hset_multiple(&key, &put).ignore();
    }
    if !del.is_empty() {
        pipe.hdel(&key, del).ignore();
    }
}

/// `ZADD` the present members of a sorted set and `ZREM` the absent ones.
fn zset<S: redis::ToRedisArgs>(
    pipe: &mut redis::Pipeline,
    key: String,
    items: Vec<(String, Option<S>)>,
) {
    let (put, del) = split(items);
    if !put.is_empty() {
        let put: Vec<(S, String)> = put.into_iter().map(|(m, s)| (s, m)).collect();
        pipe.zadd_multiple(&key, &put).ignore();
    }
    if !del.is_empty() {
        pipe.zrem(&key, del).ignore();
    }
}

/// Add the newest `len` of `frames` (indexes, oldest first) to `key` and trim it.
fn window(pipe: &mut redis::Pipeline, key: String, all: &[Frame], frames: &[usize], len: usize) {
    let keep = &frames[frames.len().saturating_sub(len)..];
    let items: Vec<(i64, String)> = keep
        .iter()
        .map(|k| (all[*k].position, json(&all[*k])))
        .collect();
    pipe.zadd_multiple(&key, &items).ignore();
    pipe.zremrangebyrank(&key, 0, -(len as isize) - 1).ignore();
}

impl Overlay {
    /// Everything the batch changed, as one `MULTI`/`EXEC` ending with the
    /// checkpoint, and the batch's frames (for publishing once it is applied).
    pub(super) fn into_transaction(
        self,
        keys: &RedisKeys,
        checkpoint: i64,
    ) -> (redis::Pipeline, Vec<Frame>) {
        let (pipe, frames, _) = self.into_transaction_keeping_state(keys, checkpoint);
        (pipe, frames)
    }

    /// [`Overlay::into_transaction`], also returning the state the batch
    /// leaves (rooms, members, profiles, read markers, and the timeline
    /// entries it wrote) as an overlay to start the next batch from.
    pub(super) fn into_transaction_keeping_state(
        mut self,
        keys: &RedisKeys,
        checkpoint: i64,
    ) -> (redis::Pipeline, Vec<Frame>, Overlay) {
        for (room, score) in &self.touched {
            if let Some(members) = self.members.get(room) {
                for user in members.keys() {
                    self.rooms_of.insert((*user, *room), Some(*score));
                }
            }
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (name, user) in &self.usernames {
            pipe.set(keys.username(name), user.to_string()).ignore();
        }
        let friends = grouped(
            self.friends
                .into_iter()
                .map(|((o, u), v)| (o, u.to_string(), v)),
        );
        for (owner, items) in friends {
            hash(&mut pipe, keys.friends(owner), items);
        }
        let live = grouped(
            self.live
                .into_iter()
                .map(|((r, s), on)| (r, s.to_string(), on.then_some(s))),
        );
        for (room, items) in live {
            zset(&mut pipe, keys.live_seqs(room), items);
        }
        let own = grouped(
            self.own
                .into_iter()
                .map(|((r, a, s), on)| ((r, a), s.to_string(), on.then_some(s))),
        );
        for ((room, author), items) in own {
            zset(&mut pipe, keys.own_seqs(room, author), items);
        }
        for id in &self.dirty_rooms {
            if let Some(Some(room)) = self.rooms.get(id) {
                pipe.set(keys.room(*id), json(room)).ignore();
            }
        }
        let members = grouped(self.dirty_members.iter().map(|(room, user)| {
            let m = self.members.get(room).and_then(|m| m.get(user)).map(json);
            (*room, user.to_string(), m)
        }));
        for (room, items) in members {
            hash(&mut pipe, keys.members(room), items);
        }
        for id in &self.dirty_profiles {
            if let Some(Some(p)) = self.profiles.get(id) {
                pipe.set(keys.user(*id), json(p)).ignore();
            }
        }
        let markers = grouped(self.dirty_markers.iter().map(|(room, user)| {
            let seq = self.markers.get(&(*room, *user)).copied().flatten();
            (*room, user.to_string(), seq.map(|s| s.to_string()))
        }));
        for (room, items) in markers {
            hash(&mut pipe, keys.read_markers(room), items);
        }
        let timeline = grouped(self.dirty_timeline.iter().filter_map(|(room, seq)| {
            match self.timeline.get(&(*room, *seq)) {
                Some(Some(view)) => Some((*room, *seq, view)),
                _ => None,
            }
        }));
        for (room, entries) in timeline {
            let key = keys.timeline(room);
            // Only the newest window's worth: anything older is trimmed anyway.
            let keep = &entries[entries.len().saturating_sub(TIMELINE_LEN)..];
            let posted = self.posted.get(&room).copied();
            if let Some((lo, hi)) = posted {
                pipe.zrembyscore(&key, lo, hi).ignore();
            }
            for (seq, _) in keep {
                // A message stored by an earlier batch is replaced, not added.
                if posted.is_none_or(|(lo, hi)| *seq < lo || *seq > hi) {
                    pipe.zrembyscore(&key, *seq, *seq).ignore();
                }
            }
            let items: Vec<(u64, String)> =
                keep.iter().map(|(seq, view)| (*seq, json(*view))).collect();
            pipe.zadd_multiple(&key, &items).ignore();
            // Keep the newest TIMELINE_LEN entries (ranks ascend with seq).
            pipe.zremrangebyrank(&key, 0, -(TIMELINE_LEN as isize) - 1)
                .ignore();
        }
        for (room, frames) in &self.room_frames {
            window(
                &mut pipe,
                keys.frames(*room),
                &self.frames,
                frames,
                FRAMES_LEN,
            );
        }
        // After the windows took this batch's frames, so that a message
        // posted and deleted in one batch is rewritten too.
        for ((room, id), body) in &self.redactions {
            redact::rewrite(
                &mut pipe,
                keys.frames(*room),
                *id,
                body.as_deref().unwrap_or_default(),
            );
        }
        for (user, frames) in &self.user_frames {
            window(
                &mut pipe,
                keys.user_frames(*user),
                &self.frames,
                frames,
                USER_FRAMES_LEN,
            );
        }
        let rooms_of = grouped(
            self.rooms_of
                .iter()
                .map(|((user, room), score)| (*user, room.to_string(), *score)),
        );
        for (user, items) in rooms_of {
            zset(&mut pipe, keys.rooms_of(user), items);
        }
        pipe.set(keys.checkpoint(), checkpoint).ignore();
        let mut timeline = std::mem::take(&mut self.timeline);
        timeline.retain(|k, _| self.dirty_timeline.contains(k));
        let state = Overlay {
            rooms: self.rooms,
            members: self.members,
            profiles: self.profiles,
            markers: self.markers,
            timeline,
            ..Overlay::default()
        };
        (pipe, self.frames, state)
    }
}
