//! The messenger features of the `redis` read model (issue 15): reactions,
//! "hide for me", the room's notice, and what a frame needs of them.
//!
//! - Reactions are kept per message `seq` as who reacted with what; each
//!   viewer's `{emoji, count, me}` is made at read time and per connection.
//! - A hide adds the `seq` to the hider's set; the unread count, the room
//!   list's preview, history and search leave it out for them only.
//! - The notice keeps a preview of its message's text when the batch or the
//!   timeline holds it (the query fills it from the history table when the
//!   message has left the timeline); an edit of its message updates it.

use super::overlay::Overlay;
use domain::event::RoomEvent;
use domain::frame::{Frame, FrameBody};
use domain::ids::RoomId;
use domain::views::{preview, react, NoticeView};
use readmodel::{hidden, notice, reactions, readers, RedisKeys, TIMELINE_LEN};
use std::collections::BTreeMap;

impl Overlay {
    /// Apply a reaction, a hide or a notice event.
    pub(super) fn messenger(&mut self, r: &RoomEvent) {
        match r {
            RoomEvent::ReactionAdded(x) => {
                let sets = self.reactions.entry((x.room_id, x.seq)).or_default();
                react(sets, &x.emoji, x.user_id, true);
                self.dirty_reactions.insert((x.room_id, x.seq));
            }
            RoomEvent::ReactionRemoved(x) => {
                let sets = self.reactions.entry((x.room_id, x.seq)).or_default();
                react(sets, &x.emoji, x.user_id, false);
                self.dirty_reactions.insert((x.room_id, x.seq));
            }
            RoomEvent::MessageHidden(x) => {
                self.hidden
                    .entry((x.room_id, x.user_id))
                    .or_default()
                    .push(x.seq);
            }
            RoomEvent::NoticeSet(x) => {
                // Only a message among the room's newest TIMELINE_LEN is read
                // from the timeline: whether one older was trimmed yet differs
                // between a live and a bulk run, and the two must be equal.
                let recent = matches!(self.rooms.get(&x.room_id),
                    Some(Some(r)) if r.last_seq.saturating_sub(x.seq) < TIMELINE_LEN as u64);
                let body_preview = match self.timeline.get(&(x.room_id, x.seq)) {
                    Some(Some(v)) if recent && v.message_id == x.message_id => preview(&v.body),
                    _ => String::new(),
                };
                let n = NoticeView {
                    message_id: x.message_id,
                    seq: x.seq,
                    body_preview,
                    set_by: x.set_by,
                    set_at: x.at,
                };
                self.notices.insert(x.room_id, Some(n));
                self.dirty_notices.insert(x.room_id);
            }
            RoomEvent::NoticeCleared(x) => {
                let slot = self.notices.entry(x.room_id).or_default();
                if slot.as_ref().is_some_and(|n| n.message_id == x.message_id) {
                    *slot = None;
                    self.dirty_notices.insert(x.room_id);
                }
            }
            _ => {}
        }
    }

    /// Message `seq` of `room` now reads `body`: so does the notice, if it is on it.
    pub(super) fn notice_edited(&mut self, room: RoomId, seq: u64, body: &str) {
        if let Some(Some(n)) = self.notices.get_mut(&room) {
            if n.seq == seq {
                n.body_preview = preview(body);
                self.dirty_notices.insert(room);
            }
        }
    }

    /// The fields of `frame` that come from the read model's state.
    pub(super) fn fill(&self, mut frame: Frame) -> Frame {
        let room = frame.room_id;
        match &mut frame.body {
            FrameBody::MessagePosted {
                author_id,
                unread_by,
                ..
            } => {
                // Every other member saw it posted and has not read it yet.
                let others = match self.members.get(&room) {
                    Some(m) => m.keys().filter(|u| *u != author_id).count() as u64,
                    // Members the batch does not change: counted, not read.
                    None => {
                        let n = self.member_counts.get(&room).copied().unwrap_or(0);
                        let own = self.is_member.get(&(room, *author_id)) == Some(&true);
                        n.saturating_sub(u64::from(own))
                    }
                };
                *unread_by = u32::try_from(others).unwrap_or(u32::MAX);
            }
            FrameBody::ReactionsChanged { seq, by, .. } => {
                by.clone_from(self.reactions.get(&(room, *seq)).unwrap_or(&Vec::new()));
            }
            FrameBody::NoticeChanged { notice } => {
                *notice = self.notices.get(&room).cloned().flatten();
            }
            _ => {}
        }
        frame
    }

    /// Queue the writes of the batch's reactions, notices, hides and joins.
    pub(super) fn write_messenger(&self, pipe: &mut redis::Pipeline, keys: &RedisKeys) {
        let mut by_room: BTreeMap<RoomId, Vec<(u64, &[domain::views::ReactionSet])>> =
            BTreeMap::new();
        for (room, seq) in &self.dirty_reactions {
            let sets = self
                .reactions
                .get(&(*room, *seq))
                .map_or(&[][..], Vec::as_slice);
            by_room.entry(*room).or_default().push((*seq, sets));
        }
        for (room, items) in by_room {
            reactions::write(pipe, keys, room, items);
        }
        for room in &self.dirty_notices {
            let n = self.notices.get(room).and_then(Option::as_ref);
            notice::write(pipe, keys, *room, n);
        }
        for ((room, user), seqs) in &self.hidden {
            hidden::write(pipe, keys, *room, *user, seqs);
        }
        let mut joined: BTreeMap<RoomId, Vec<_>> = BTreeMap::new();
        for ((room, user), seq) in &self.joined {
            joined.entry(*room).or_default().push((*user, *seq));
        }
        for (room, items) in joined {
            readers::write_joined(pipe, keys, room, items);
        }
    }
}
