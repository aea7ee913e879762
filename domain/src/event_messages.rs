//! Room events of the messenger features (issue 15): attachments, reactions,
//! hiding, notices. Part of [`crate::event`]'s contract (same naming, same
//! versioning); a file of its own only to keep `event.rs` readable.

use crate::attachment::Attachment;
use crate::ids::{AttachmentId, MessageId, RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A member uploaded a file to the room; no message refers to it yet.
///
/// Why an upload is an event on the room stream, rather than a row beside
/// the object store: the rules of a post ("unknown, another room's, already
/// sent" → `invalid_attachment`) are then decided by the room aggregate from
/// its own state, in the same optimistic-concurrency append as the message,
/// so two posts can never both send one attachment and a post can never race
/// the orphan sweeper (which discards through the same stream, see
/// [`AttachmentDiscarded`]). The sweeper, the download route's membership
/// check and a rebuilt projection all read the same facts from the log. The
/// cost is one small event per upload (metadata only, never bytes), and
/// uploads of a room serialise with its messages, which they do anyway in a
/// messenger (an upload is followed by its post).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUploaded {
    pub room_id: RoomId,
    pub attachment: Attachment,
    /// Only the uploader may send it.
    pub uploaded_by: UserId,
    pub at: DateTime<Utc>,
}

/// No message referred to an upload in time: it can no longer be sent, and
/// its bytes (and thumbnail) may be deleted from the object store. Appended
/// by the orphan sweeper before it deletes anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentDiscarded {
    pub room_id: RoomId,
    pub attachment_id: AttachmentId,
    pub at: DateTime<Utc>,
}

/// `user_id` reacted to a message with `emoji` (one canonical emoji, see
/// [`crate::reaction::ReactionEmoji`]). At most one per user, emoji and
/// message: a repeat appends nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionAdded {
    pub room_id: RoomId,
    pub message_id: MessageId,
    /// The message's `seq`, so projections find it without a lookup.
    pub seq: u64,
    pub user_id: UserId,
    pub emoji: String,
    pub at: DateTime<Utc>,
}

/// `user_id` took back their `emoji` reaction to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionRemoved {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
    pub user_id: UserId,
    pub emoji: String,
    pub at: DateTime<Utc>,
}

/// `user_id` hid a message from their own view ("delete for me"): gone from
/// their timeline, room-list preview, unread count and search; nobody else's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageHidden {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

/// A member made a message the room's notice, replacing any earlier one (a
/// room has at most one notice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeSet {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
    pub set_by: UserId,
    pub at: DateTime<Utc>,
}

/// The room's notice (on `message_id`) was taken down: by a member
/// explicitly, or because its message was deleted (then it directly follows
/// that `room.message_deleted`, and `by` is who deleted the message). Always
/// explicit, so projections never infer a notice's end from a deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeCleared {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub by: UserId,
    pub at: DateTime<Utc>,
}
