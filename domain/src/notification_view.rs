//! What a client sees of a notification: the view in
//! `GET /v1/me/notifications` and the `notification` frame, and how the
//! projector hands those frames to query nodes.

use super::{NotificationId, NotificationKind};
use crate::ids::{MessageId, RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One notification as its recipient sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationView {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub notification_id: NotificationId,
    pub kind: NotificationKind,
    /// The room it is about (also for meet-ups: the meet-up's room), if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub room_id: Option<RoomId>,
    /// The message it is about (mentions, replies, reactions).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub message_id: Option<MessageId>,
    /// Who caused it (for a reminder: the meet-up's organizer).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub actor_id: UserId,
    /// When the event that created it was recorded.
    pub at: DateTime<Utc>,
    pub read: bool,
}

/// The `notification` frame: `{"type":"notification","position":…,
/// "notification":{…}}`, sent to the recipient's streams only, once the
/// notification can be read (at `position`, in `GET /v1/me/notifications`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "notification")]
pub struct NotificationFrame {
    pub position: i64,
    pub notification: NotificationView,
}

/// One NATS message of notification frames, all for one user (subject
/// `readmodel::subjects::user_frames`). `publisher` and `seq` are the
/// publisher's, shared with its room frame batches
/// ([`crate::frame::FrameBatch`]): a hole in `seq` means lost frames,
/// whichever subject they were on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationBatch {
    pub publisher: uuid::Uuid,
    pub seq: u64,
    pub user_id: UserId,
    /// In position order.
    pub frames: Vec<NotificationFrame>,
}

/// The log positions one committed batch of the `history` projection
/// covers, `after` (exclusive) to `upto` (inclusive): published after the
/// batch's [`NotificationBatch`]es, on `readmodel::subjects::notified`, for
/// every batch, with or without notifications. Like
/// [`crate::frame::FrameBatch`]'s, these chain across publishers: one whose
/// `after` is past the highest `upto` received means a batch committed
/// whose notifications never arrived (its projector died before
/// publishing them; its successor's `seq` starts at 1, so no hole shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsCovered {
    pub publisher: uuid::Uuid,
    /// Shared with the publisher's other messages, as [`NotificationBatch`]'s.
    pub seq: u64,
    pub after: i64,
    pub upto: i64,
}
