//! Writing an [`Overlay`] back: one `MULTI`/`EXEC` ending with the checkpoint.
//!
//! The overlay holds each key's final state after the batch, so the
//! transaction writes it with one variadic command per key (`HSET key f v f
//! v …`, `ZADD key s m s m …`, `ZREM key m m …`, see the writers of
//! `readmodel`) rather than one per event: a batch of thousands of events
//! costs Redis a few commands per room and per user touched.
//!
//! Windows (timelines, frame windows) are trimmed to their length after the
//! writes; entries of this batch that the trim would remove anyway (more
//! than a window's worth of newer entries in the same batch) are not written
//! at all, which is what keeps a bulk rebuild from writing every message of
//! a busy room only to delete it again.

use super::overlay::Overlay;
use super::windows::Windows;
use domain::frame::{Frame, FrameBody};
use domain::ids::{MessageId, RoomId};
use readmodel::{
    attachments, frames, friends, generation, meetup_rooms, people, profiles, rooms, timeline,
    unread, RedisKeys,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

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

/// The frames at `indexes` of `all`.
fn pick<'a>(all: &'a [Frame], indexes: &[usize]) -> Vec<&'a Frame> {
    indexes.iter().map(|k| &all[*k]).collect()
}

impl Overlay {
    /// Everything the batch changed, as one `MULTI`/`EXEC` ending with the
    /// checkpoint, and the batch's frames (for publishing once it is applied).
    pub(super) fn into_transaction(
        self,
        keys: &RedisKeys,
        checkpoint: i64,
    ) -> (redis::Pipeline, Vec<Frame>) {
        let (pipe, frames, _) = self.into_transaction_keeping_state(keys, checkpoint, None);
        (pipe, frames)
    }

    /// [`Overlay::into_transaction`], also returning the state the batch
    /// leaves (rooms, members, profiles, read markers, and the timeline
    /// entries it wrote) as an overlay to start the next batch from.
    /// `windows`: where a bulk run's earlier batches stored each message's
    /// frames (updated with this batch's).
    pub(super) fn into_transaction_keeping_state(
        mut self,
        keys: &RedisKeys,
        checkpoint: i64,
        windows: Option<&mut Windows>,
    ) -> (redis::Pipeline, Vec<Frame>, Overlay) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (name, user) in &self.usernames {
            match user {
                Some(user) => profiles::put_username(&mut pipe, keys, name, *user),
                None => profiles::del_username(&mut pipe, keys, name),
            }
        }
        for user in &self.deleted_users {
            profiles::mark_deleted(&mut pipe, keys, *user);
        }
        let friend_entries = grouped(self.friends.iter().map(|((o, u), v)| (*o, *u, v.as_ref())));
        for (owner, items) in friend_entries {
            friends::write(&mut pipe, keys, owner, items);
        }
        for (room, items) in grouped(self.live.iter().map(|((r, s), on)| (*r, *s, *on))) {
            unread::write_live(&mut pipe, keys, room, items);
        }
        let own = grouped(self.own.iter().map(|((r, a, s), on)| ((*r, *a), *s, *on)));
        for ((room, author), items) in own {
            unread::write_own(&mut pipe, keys, room, author, items);
        }
        for id in &self.dirty_rooms {
            if let Some(Some(room)) = self.rooms.get(id) {
                rooms::put(&mut pipe, keys, room);
            }
        }
        let members = grouped(self.dirty_members.iter().map(|(room, user)| {
            let m = self.members.get(room).and_then(|m| m.get(user));
            (*room, *user, m)
        }));
        for (room, items) in members {
            rooms::write_members(&mut pipe, keys, room, items);
        }
        for id in &self.dirty_profiles {
            if let Some(Some(p)) = self.profiles.get(id) {
                profiles::put(&mut pipe, keys, p);
            }
        }
        let markers = grouped(self.dirty_markers.iter().map(|(room, user)| {
            let seq = self.markers.get(&(*room, *user)).copied().flatten();
            (*room, *user, seq)
        }));
        for (room, items) in markers {
            unread::write_markers(&mut pipe, keys, room, items);
        }
        let entries = grouped(self.dirty_timeline.iter().filter_map(|(room, seq)| {
            match self.timeline.get(&(*room, *seq)) {
                Some(Some(view)) => Some((*room, *seq, view)),
                _ => None,
            }
        }));
        for (room, entries) in entries {
            let posted = self.posted.get(&room).copied();
            timeline::write(&mut pipe, keys, room, &entries, posted);
        }
        self.write_room_frames(&mut pipe, keys, windows);
        for (user, indexes) in &self.user_frames {
            frames::add_to_user(&mut pipe, keys, *user, &pick(&self.frames, indexes));
        }
        let lists = grouped(
            self.rooms_of
                .iter()
                .map(|((user, room), score)| (*user, *room, *score)),
        );
        for (user, items) in lists {
            rooms::write_list(&mut pipe, keys, user, items);
        }
        rooms::write_activity(
            &mut pipe,
            keys,
            self.touched.iter().map(|(room, at)| (*room, *at)),
        );
        for (id, entry) in &self.attachments {
            attachments::write(&mut pipe, keys, *id, entry.as_ref());
        }
        attachments::write_pending(
            &mut pipe,
            keys,
            self.pending_uploads.iter().map(|(k, v)| (*k, *v)),
        );
        attachments::add_discarded(
            &mut pipe,
            keys,
            self.discarded_uploads.iter().map(|(k, v)| (*k, *v)),
        );
        self.write_people(&mut pipe, keys);
        self.write_messenger(&mut pipe, keys);
        for id in &self.dirty_meetup_rooms {
            if let Some(Some(room)) = self.meetup_rooms.get(id) {
                meetup_rooms::put(&mut pipe, keys, *id, *room);
            }
        }
        generation::set_checkpoint(&mut pipe, keys, checkpoint);
        let mut timeline = std::mem::take(&mut self.timeline);
        timeline.retain(|k, _| self.dirty_timeline.contains(k));
        let state = Overlay {
            rooms: self.rooms,
            members: self.members,
            profiles: self.profiles,
            markers: self.markers,
            timeline,
            invites: self.invites,
            reactions: self.reactions,
            notices: self.notices,
            meetup_rooms: self.meetup_rooms,
            ..Overlay::default()
        };
        (pipe, self.frames, state)
    }

    /// The batch's frames into their rooms' windows, as the edits and
    /// deletions of the batch leave them (the frames published stay as
    /// they were), and the frames stored by earlier batches of messages
    /// edited or deleted in this one rewritten (`frames::redact`): by
    /// position where `windows` knows them, not at all for a message posted
    /// in this batch (all its frames are in it), else by a scan of the window.
    fn write_room_frames(
        &self,
        pipe: &mut redis::Pipeline,
        keys: &RedisKeys,
        mut windows: Option<&mut Windows>,
    ) {
        if !self.redactions.is_empty() {
            let posted_here: BTreeSet<(RoomId, MessageId)> = self
                .frames
                .iter()
                .filter(|f| matches!(f.body, FrameBody::MessagePosted { .. }))
                .filter_map(|f| Some((f.room_id, f.message_id()?)))
                .collect();
            for ((room, id), body) in &self.redactions {
                let body = body.as_deref().unwrap_or_default();
                match windows.as_deref().and_then(|w| w.positions(*room, *id)) {
                    Some(earlier) => frames::redact_at(pipe, keys, *room, *id, body, &earlier),
                    None if posted_here.contains(&(*room, *id)) => {}
                    None => frames::redact(pipe, keys, *room, *id, body),
                }
            }
        }
        for (room, indexes) in &self.room_frames {
            let stored: Vec<Cow<'_, Frame>> = indexes
                .iter()
                .map(|k| self.as_stored(&self.frames[*k]))
                .collect();
            let stored: Vec<&Frame> = stored.iter().map(AsRef::as_ref).collect();
            frames::add_to_room(pipe, keys, *room, &stored);
            if let Some(w) = windows.as_deref_mut() {
                w.stored(*room, &stored);
            }
        }
    }

    /// `frame` as its room's window keeps it: with its message's body as
    /// this batch's edits and deletions leave it.
    fn as_stored<'a>(&self, frame: &'a Frame) -> Cow<'a, Frame> {
        let redacted = frame.message_id().and_then(|id| {
            let body = self.redactions.get(&(frame.room_id, id))?;
            frames::redacted(frame, id, body.as_deref().unwrap_or_default())
        });
        redacted.map_or(Cow::Borrowed(frame), Cow::Owned)
    }

    /// The people models (issue 16): blocks, mutes, invites, invite tokens
    /// and the user search index.
    fn write_people(&self, pipe: &mut redis::Pipeline, keys: &RedisKeys) {
        let blocks = grouped(self.blocks.iter().map(|((o, u), v)| (*o, *u, v.as_ref())));
        for (owner, items) in blocks {
            people::write_blocks(pipe, keys, owner, items);
        }
        let mutes = grouped(self.mutes.iter().map(|((u, r), v)| (*u, *r, v.as_ref())));
        for (owner, items) in mutes {
            people::write_mutes(pipe, keys, owner, items);
        }
        let invites = grouped(self.dirty_invites.iter().map(|(room, id)| {
            let v = self.invites.get(&(*room, *id)).and_then(Option::as_ref);
            (*room, *id, v)
        }));
        for (room, items) in invites {
            people::write_invites(pipe, keys, room, items);
        }
        for (hash, (room, invite)) in &self.invite_tokens {
            people::put_invite_token(pipe, keys, hash, *room, *invite);
        }
        for (user, (before, after)) in &self.search_terms {
            people::write_search_terms(pipe, keys, *user, before, after);
        }
    }
}
