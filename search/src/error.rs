//! [`SearchError`]: everything the search crate can fail with.

use thiserror::Error;

/// An error of the search index or of a search request.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The query text cannot be searched: empty, too long, only exclusions,
    /// an unbalanced quote. The reason is safe to show to the client.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// An operator of the query cannot be used: an unknown name, a missing
    /// or bad value, an exclusion. Names the operator (`has:`), so the
    /// client can say which word to fix.
    #[error("invalid query: operator `{operator}` {reason}")]
    InvalidOperator {
        /// The operator as written before its value, lowercased (`from:`).
        operator: String,
        /// What is wrong with it, safe to show.
        reason: String,
    },
    /// The `tz` of the request is not an IANA time zone name.
    #[error("invalid query: unknown time zone {0:?} (tz takes an IANA name such as Asia/Seoul)")]
    InvalidTimeZone(String),
    /// The pagination cursor was not produced by this search (or was altered).
    #[error("invalid cursor")]
    InvalidCursor,
    /// tantivy failed (IO, a corrupt segment, a schema that does not match).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index directory could not be created or opened.
    #[error("search index directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The index holds something this build cannot read (a bad commit payload,
    /// a document without a required field).
    #[error("search index is corrupt: {0}")]
    Corrupt(String),
}

impl SearchError {
    /// The stable API error code. Client errors have their own code; anything
    /// else is `internal` (answered as a plain 500 and logged).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuery(_) | Self::InvalidOperator { .. } | Self::InvalidTimeZone(_) => {
                "invalid_query"
            }
            Self::InvalidCursor => "invalid_cursor",
            Self::Index(_) | Self::Directory { .. } | Self::Corrupt(_) => "internal",
        }
    }

    /// True when the request, not the server, is at fault (HTTP 422).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidQuery(_)
                | Self::InvalidOperator { .. }
                | Self::InvalidTimeZone(_)
                | Self::InvalidCursor
        )
    }
}

impl From<tantivy::directory::error::OpenDirectoryError> for SearchError {
    fn from(e: tantivy::directory::error::OpenDirectoryError) -> Self {
        Self::Index(e.into())
    }
}
