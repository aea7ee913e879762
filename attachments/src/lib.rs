//! Attachment bytes: where they are kept ([`Store`], an [`object_store`]
//! over a local directory or an S3-compatible bucket), what they are
//! ([`sniff`], from the first bytes), and how an upload becomes a stored file
//! ([`receive`]): streamed to the store under a size limit, hashed on the
//! way, images decoded and re-encoded without their metadata with a
//! thumbnail beside them.
//!
//! The event log carries only what [`Received`] describes (type, size,
//! digest, image size); the command and query crates turn it into
//! `AttachmentUploaded` events and downloads.

mod clean;
mod error;
mod receive;
pub mod sniff;
mod store;

pub use clean::{thumbnail_type, THUMBNAIL_SIDE};
pub use error::{StoreError, UploadError};
pub use receive::{receive, Received};
pub use store::{Download, Store, StoreConfig};
