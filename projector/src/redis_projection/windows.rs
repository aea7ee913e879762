//! Where each message's frames sit in the room frame windows a bulk run
//! writes, so that an edit or a deletion rewrites them by position.
//!
//! An edit or a deletion rewrites the message's stored frames (see
//! `readmodel::frames::redact`). Not knowing where they are, a live batch
//! has Redis scan the room's whole window (up to `FRAMES_LEN` frames) for
//! each edited or deleted message. A rebuild writes every window itself, so
//! it can know: this records, per room, the position and message of each
//! frame it stored that is still in the window (the window's own trimming,
//! replayed), and the rewrite then reads only those positions.
//!
//! A room's record is complete (it holds every frame of the stored window)
//! when the run started from an empty generation, or once the run has
//! stored a full window's worth of frames in that room (the trim removed
//! everything older). For the other rooms, `positions` answers `None` and
//! the batch scans as a live one does.

use domain::frame::{Frame, FrameBody};
use domain::ids::{MessageId, RoomId};
use readmodel::FRAMES_LEN;
use std::collections::{HashMap, VecDeque};

/// The frame windows of one bulk run.
#[derive(Default)]
pub(super) struct Windows {
    /// The run started from an empty generation: every window is complete.
    from_empty: bool,
    rooms: HashMap<RoomId, Window>,
}

/// One room's window: position and, for a message's posted or edited
/// frame, its message; oldest first, at most `FRAMES_LEN`.
struct Window {
    frames: VecDeque<(i64, Option<MessageId>)>,
    /// Holds every frame stored in the room's window (from the start when
    /// the run started from an empty generation).
    complete: bool,
}

impl Windows {
    /// The record of a run that starts at checkpoint `from`.
    pub(super) fn starting_at(from: i64) -> Self {
        Self {
            from_empty: from == 0,
            rooms: HashMap::new(),
        }
    }

    /// Positions of message `id`'s posted and edited frames in `room`'s
    /// window, or `None` when the record of that window is not complete.
    pub(super) fn positions(&self, room: RoomId, id: MessageId) -> Option<Vec<i64>> {
        let Some(w) = self.rooms.get(&room) else {
            // Nothing stored by this run: an empty window if it started empty.
            return self.from_empty.then(Vec::new);
        };
        w.complete.then(|| {
            w.frames
                .iter()
                .filter(|(_, m)| *m == Some(id))
                .map(|(p, _)| *p)
                .collect()
        })
    }

    /// `frames` (position order) were added to `room`'s window and the
    /// window trimmed to its newest `FRAMES_LEN`.
    pub(super) fn stored(&mut self, room: RoomId, frames: &[&Frame]) {
        let from_empty = self.from_empty;
        let w = self.rooms.entry(room).or_insert_with(|| Window {
            frames: VecDeque::new(),
            complete: from_empty,
        });
        let keep = &frames[frames.len().saturating_sub(FRAMES_LEN)..];
        for f in keep {
            let message = match &f.body {
                FrameBody::MessagePosted { message_id, .. }
                | FrameBody::MessageEdited { message_id, .. } => Some(*message_id),
                _ => None,
            };
            if w.frames.len() == FRAMES_LEN {
                // Trimmed first, so the record never grows past a window.
                w.frames.pop_front();
            }
            w.frames.push_back((f.position, message));
        }
        // Full of this run's frames: nothing older is left in the window.
        w.complete |= w.frames.len() == FRAMES_LEN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::frame::FrameBody;
    use domain::ids::UserId;
    use uuid::Uuid;

    fn posted(room: RoomId, position: i64, id: MessageId) -> Frame {
        Frame {
            position,
            room_id: room,
            body: FrameBody::MessagePosted {
                message_id: id,
                seq: position as u64,
                author_id: UserId(Uuid::nil()),
                body: "hi".into(),
                reply_to: None,
                at: Utc::now(),
                attachments: vec![],
                mentions: vec![],
                reactions: vec![],
                unread_by: 0,
            },
        }
    }

    fn store(w: &mut Windows, room: RoomId, from: i64, n: i64) -> Vec<MessageId> {
        let ids: Vec<MessageId> = (0..n).map(|_| MessageId(Uuid::now_v7())).collect();
        let frames: Vec<Frame> = ids
            .iter()
            .zip(from..)
            .map(|(id, p)| posted(room, p, *id))
            .collect();
        w.stored(room, &frames.iter().collect::<Vec<_>>());
        ids
    }

    #[test]
    fn from_an_empty_generation_every_window_is_known() {
        let room = RoomId(Uuid::now_v7());
        let mut w = Windows::starting_at(0);
        let other = MessageId(Uuid::now_v7());
        assert_eq!(w.positions(room, other), Some(vec![]));
        let ids = store(&mut w, room, 1, 10);
        assert_eq!(w.positions(room, ids[3]), Some(vec![4]));
        // Pushed out of the window by newer frames: nothing to rewrite.
        store(&mut w, room, 11, FRAMES_LEN as i64);
        assert_eq!(w.positions(room, ids[3]), Some(vec![]));
    }

    #[test]
    fn a_resumed_run_knows_a_window_once_it_filled_it() {
        let room = RoomId(Uuid::now_v7());
        let mut w = Windows::starting_at(500);
        assert_eq!(w.positions(room, MessageId(Uuid::now_v7())), None);
        let ids = store(&mut w, room, 501, FRAMES_LEN as i64 - 1);
        assert_eq!(w.positions(room, ids[0]), None);
        let last = store(&mut w, room, 501 + FRAMES_LEN as i64 - 1, 1);
        assert_eq!(w.positions(room, ids[0]), Some(vec![501]));
        assert_eq!(
            w.positions(room, last[0]),
            Some(vec![500 + FRAMES_LEN as i64])
        );
    }
}
