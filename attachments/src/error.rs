//! The errors of this crate: a store that failed, and an upload refused.

/// The object store failed (unreachable, refused, or a file vanished).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store has no object under this name.
    #[error("no such object")]
    NotFound,
    /// The store URL or its options are wrong.
    #[error("invalid object store configuration: {0}")]
    Config(String),
    /// Anything else the store said.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A local spool file failed.
    #[error("spool file: {0}")]
    Io(#[from] std::io::Error),
}

/// Why an upload was not stored. Every variant but [`UploadError::Store`]
/// and [`UploadError::Body`] is the client's doing.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// More bytes than the limit.
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// No bytes at all.
    #[error("the file is empty")]
    Empty,
    /// Not a type we keep (HTML, SVG, scripts, anything unrecognised).
    #[error("unsupported media type: {0}")]
    Unsupported(String),
    /// It claims to be an image but does not decode (or is too large to).
    #[error("the image cannot be decoded: {0}")]
    BadImage(String),
    /// The request body broke off (client gone, read deadline).
    #[error("the request body failed: {0}")]
    Body(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<object_store::Error> for UploadError {
    fn from(e: object_store::Error) -> Self {
        Self::Store(StoreError::Store(e))
    }
}
