//! Attachment metadata and the limits of what a message may carry.
//!
//! The log carries what a file *is* (type, size, digest, name, image size),
//! never its bytes: those live in the object store under the attachment id.
//! The HTTP layer sniffs the type and measures the file while streaming it to
//! the store, then records the upload on the room's stream
//! ([`crate::event::AttachmentUploaded`]).

use crate::ids::AttachmentId;
use serde::{Deserialize, Serialize};

/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// The most members one message may mention.
pub const MAX_MENTIONS: usize = 50;

/// What is known of one uploaded file, as stored in events and shown in
/// message views (views leave out `sha256`, which is the download's `ETag`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub attachment_id: AttachmentId,
    /// Sniffed from the bytes, never taken from the client's header.
    pub content_type: String,
    /// Bytes as stored (after an image's metadata was stripped).
    pub size: u64,
    /// Lowercase hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// The client's file name (`X-File-Name`), if it sent one.
    pub name: Option<String>,
    /// Pixel size for images; `None` for everything else.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl Attachment {
    /// Whether the attachment is an image (and so has a thumbnail and a size).
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}
