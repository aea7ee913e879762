//! What a connection gets before live frames is a view of the rooms as they
//! are now for its user, the same view history and search give: frames of
//! the rooms the user is a member of now (all of them: joining, again or
//! not, gives access to the whole history), and of any other room only the
//! user's own leave or kick, so that a client learns it is out. Each message
//! reads as it does now: a deleted one has an empty body in its posted and
//! edit frames (its delete frame follows), an edited one its current text
//! in every one of them.
//!
//! Two places produce such frames: the replay from the frame windows in
//! Redis ([`super::load`]) and the frames the hub received while the
//! connection was being set up ([`super::hub`]). The `redis` projection
//! already rewrites stored frames on an edit or a deletion, so the text
//! rule here changes nothing for windows it wrote since; it is applied
//! anyway because it is exact and cheap (the frames that decide it are in
//! the same read: see [`Current::of`]), and it also covers windows written
//! before the projection did that, and the hub's in-memory frames, which
//! are never rewritten.

use super::{admit, Admit, Text};
use domain::frame::{Frame, FrameBody};
use domain::{MessageId, RoomId, UserId};
use std::collections::{HashMap, HashSet};

/// What each message edited or deleted among some frames reads now:
/// `Some(body)` after an edit, `None` once deleted.
#[derive(Debug, Default)]
pub(crate) struct Current(HashMap<MessageId, Option<String>>);

impl Current {
    /// The current state of every message edited or deleted in `frames`
    /// (any order; the highest position wins). Exact for a message whose
    /// posted frame is among them as long as they hold, for each room, every
    /// frame above some position: a window read from a position on, or the
    /// frames received since a checkpoint. Its later edits and deletion are
    /// then among them too.
    pub(crate) fn of<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Self {
        let mut newest: HashMap<MessageId, (i64, Option<String>)> = HashMap::new();
        for f in frames {
            let (id, now) = match &f.body {
                FrameBody::MessageEdited {
                    message_id, body, ..
                } => (*message_id, Some(body)),
                FrameBody::MessageDeleted { message_id, .. } => (*message_id, None),
                _ => continue,
            };
            let slot = newest.entry(id).or_insert((i64::MIN, None));
            if f.position > slot.0 {
                *slot = (f.position, now.cloned());
            }
        }
        Self(newest.into_iter().map(|(id, (_, now))| (id, now)).collect())
    }

    /// `frame` as it reads now, when that is not what it says.
    fn rewritten(&self, frame: &Frame) -> Option<Frame> {
        let (FrameBody::MessagePosted {
            message_id, body, ..
        }
        | FrameBody::MessageEdited {
            message_id, body, ..
        }) = &frame.body
        else {
            return None;
        };
        let now = self.0.get(message_id)?.as_deref().unwrap_or_default();
        if body == now {
            return None;
        }
        let mut frame = frame.clone();
        if let FrameBody::MessagePosted { body, .. } | FrameBody::MessageEdited { body, .. } =
            &mut frame.body
        {
            now.clone_into(body);
        }
        Some(frame)
    }

    /// The text to send for `frame`, whose serialised form is `text`.
    pub(crate) fn text(&self, frame: &Frame, text: impl Into<Text>) -> Text {
        match self.rewritten(frame) {
            // Frames are plain data: serialising cannot fail.
            Some(f) => Text::from(serde_json::to_string(&f).unwrap_or_default()),
            None => text.into(),
        }
    }
}

/// Whether `frame` belongs in the view of `me`, member of `rooms` now
/// (a hide only in the hider's).
pub(crate) fn visible(me: UserId, rooms: &HashSet<RoomId>, frame: &Frame) -> bool {
    (rooms.contains(&frame.room_id) || frame.left() == Some(me))
        && frame.only_for().is_none_or(|u| u == me)
}

/// The text `me` gets for `frame` (serialised as `text`): its own for a
/// frame that reads differently per viewer (reactions' `me`).
pub(crate) fn personal(me: UserId, frame: &Frame, text: Text) -> Text {
    if frame.is_personal() {
        // Frames are plain data: serialising cannot fail.
        Text::from(serde_json::to_string(&frame.for_viewer(me)).unwrap_or_default())
    } else {
        text
    }
}

/// The replay of `me`, member of `rooms` now, from `frames` (each room's
/// frames above one position, and `me`'s membership frames; any order,
/// duplicates allowed): what [`visible`] lets through, in position order,
/// each message as it reads now.
pub(crate) fn replay(
    me: UserId,
    rooms: &HashSet<RoomId>,
    mut frames: Vec<(Frame, String)>,
) -> Vec<Text> {
    frames.retain(|(f, _)| visible(me, rooms, f));
    frames.sort_by_key(|(f, _)| f.position);
    frames.dedup_by_key(|(f, _)| f.position);
    let current = Current::of(frames.iter().map(|(f, _)| f));
    frames
        .into_iter()
        .map(|(frame, text)| personal(me, &frame, current.text(&frame, text)))
        .collect()
}

/// What a connection of `me`, member of `rooms` at its checkpoint, gets of
/// `missed` (the frames received since that checkpoint, in position order)
/// when it joins the hub. Membership follows the frames as it does live
/// (`rooms` ends as it is after them), but a room left among them gives
/// only the departure, and each message reads as it does after them.
pub(crate) fn catch_up(
    me: UserId,
    rooms: &mut HashSet<RoomId>,
    missed: &[(&Frame, &Text)],
) -> Vec<Text> {
    let mut now = rooms.clone();
    for (frame, _) in missed {
        admit(&mut now, me, frame);
    }
    let current = Current::of(missed.iter().map(|(frame, _)| *frame));
    let mut sent = Vec::new();
    for (frame, text) in missed {
        if admit(rooms, me, frame) != Admit::Skip && visible(me, &now, frame) {
            sent.push(personal(me, frame, current.text(frame, (*text).clone())));
        }
    }
    sent
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
