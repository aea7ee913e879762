//! The one error type of the projector crate.

use thiserror::Error;

/// Anything that can go wrong while relaying or projecting events.
///
/// Most variants are transient (a server restarting); the long-running loops
/// log them, back off and retry. Only configuration mistakes end a task.
#[derive(Debug, Error)]
pub enum ProjectorError {
    /// The write or read database failed.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// The event store refused or failed a read.
    #[error("event store: {0}")]
    Store(String),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// NATS or JetStream failed.
    #[error("nats: {0}")]
    Nats(String),
    /// A message on the bus was not a valid event envelope.
    #[error("bad envelope: {0}")]
    Envelope(#[from] crate::envelope::EnvelopeError),
    /// A stored event could not be decoded.
    #[error("decode: {0}")]
    Decode(#[from] domain::event::DecodeError),
    /// A stored read-model value was not what this build writes.
    #[error("read model: {0}")]
    ReadModel(readmodel::ReadError),
    /// The search index failed.
    #[error("search: {0}")]
    Search(String),
    /// A file-system operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A projection name that is not one of [`readmodel::ProjectionName::ALL`]
    /// (only where a name is parsed: the command line, configuration).
    #[error("unknown projection {0}")]
    UnknownProjection(String),
    /// A read model's store lost data: its checkpoint is below one it held
    /// before (a flushed or emptied Redis). The runtime re-reads the
    /// checkpoint and re-applies the log from there.
    #[error("projection {projection} lost data: checkpoint {found}, was {stored}")]
    CheckpointLost {
        /// The projection.
        projection: readmodel::ProjectionName,
        /// The checkpoint it had seen stored.
        stored: i64,
        /// The checkpoint found now.
        found: i64,
    },
    /// Another replay of the projection holds its lock.
    #[error("a replay of {projection} is already running ({holder})")]
    ReplayRunning {
        /// The projection asked for.
        projection: String,
        /// Who holds the lock (`pid=… host=…`, or what Postgres knows).
        holder: String,
    },
    /// The connection holding a replay's lock broke, so the lock is gone.
    #[error("the replay lock was lost (its database connection closed)")]
    LockLost,
    /// A replay was cancelled before it finished (it resumes when run again).
    #[error("replay interrupted; run it again to resume")]
    Cancelled,
    /// A concurrent applier of the same projection generation won a race
    /// too many times in a row.
    #[error("projection {0} is being applied concurrently by someone else")]
    Contended(readmodel::ProjectionName),
}

impl From<readmodel::ReadError> for ProjectorError {
    fn from(e: readmodel::ReadError) -> Self {
        match e {
            // A Redis failure is transient like any other.
            readmodel::ReadError::Redis(e) => Self::Redis(e),
            other => Self::ReadModel(other),
        }
    }
}

impl From<readmodel::UnknownProjection> for ProjectorError {
    fn from(e: readmodel::UnknownProjection) -> Self {
        Self::UnknownProjection(e.0)
    }
}

impl From<eventlog::StoreError> for ProjectorError {
    fn from(e: eventlog::StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl ProjectorError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> Self {
        Self::Nats(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = ProjectorError> = std::result::Result<T, E>;
