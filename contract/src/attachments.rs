//! The attachment routes' answers (issue 15).

use crate::{Positioned, PositionedBody};
use domain::ids::AttachmentId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/rooms/{room_id}/attachments` answer: what was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentStored {
    /// The id to send in a message's `attachments` and to download.
    pub attachment_id: AttachmentId,
    /// Sniffed from the bytes (never the request's `Content-Type`).
    pub content_type: String,
    /// Bytes as stored (an image's after its metadata was removed).
    pub size: u64,
    /// Lowercase hex SHA-256 of the stored bytes (the download's `ETag`).
    pub sha256: String,
    /// `X-File-Name`, decoded, if it was sent.
    pub name: Option<String>,
    /// Pixel width of an image; null otherwise.
    pub width: Option<u32>,
    /// Pixel height of an image; null otherwise.
    pub height: Option<u32>,
}

/// `POST /v1/rooms/{room_id}/attachments` answer, with its position.
pub type AttachmentStoredResponse = Positioned<AttachmentStored>;

impl PositionedBody for AttachmentStored {
    const NAME: &'static str = "AttachmentStoredResponse";
}
