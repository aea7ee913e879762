//! The parts of message and room answers added by the messenger features
//! (issue 15): attachments, reactions per viewer, the notice.

use chrono::{DateTime, Utc};
use domain::views::{AttachmentView, NoticeView, ReactionView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One file a message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageAttachmentResponse {
    pub attachment_id: Uuid,
    /// Sniffed from the bytes.
    pub content_type: String,
    pub size: u64,
    pub name: Option<String>,
    /// Pixels, for images; `null` otherwise.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl From<AttachmentView> for MessageAttachmentResponse {
    fn from(a: AttachmentView) -> Self {
        Self {
            attachment_id: a.attachment_id.0,
            content_type: a.content_type,
            size: a.size,
            name: a.name,
            width: a.width,
            height: a.height,
        }
    }
}

/// One emoji under a message, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReactionResponse {
    pub emoji: String,
    /// How many members reacted with it.
    pub count: u32,
    /// Whether the caller is one of them.
    pub me: bool,
}

impl From<ReactionView> for ReactionResponse {
    fn from(r: ReactionView) -> Self {
        Self {
            emoji: r.emoji,
            count: r.count,
            me: r.me,
        }
    }
}

/// A room's notice (`GET /v1/rooms/{room_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeResponse {
    pub message_id: Uuid,
    pub seq: u64,
    /// The first 100 characters of the message.
    pub body_preview: String,
    pub set_by: Uuid,
    pub set_at: DateTime<Utc>,
}

impl From<NoticeView> for NoticeResponse {
    fn from(n: NoticeView) -> Self {
        Self {
            message_id: n.message_id.0,
            seq: n.seq,
            body_preview: n.body_preview,
            set_by: n.set_by.0,
            set_at: n.set_at,
        }
    }
}
