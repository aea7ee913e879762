//! What is appended (a [`Commit`] of [`StreamAppend`]s and [`SideWrite`]s),
//! what an append answers ([`Committed`]), and the side rows the command side
//! reads back ([`Credential`], [`StoredAnswer`]).

use domain::{DomainEvent, EventMetadata, StoredEvent, StreamId, StreamType, UserId};
use std::fmt;

/// Events for one stream, appended only if the stream is at `expected_version`.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamAppend {
    /// The stream to append to.
    pub stream_id: StreamId,
    /// Its type; must match every event and the stream's stored type.
    pub stream_type: StreamType,
    /// The version the decision was based on; 0 = the stream must not exist yet.
    pub expected_version: i64,
    /// The events, in order. May be empty: then only the version is checked.
    pub events: Vec<DomainEvent>,
    /// The cache epoch the decision was based on; `None` for non-cached
    /// appends. If a commit on this stream with the same epoch fails, this one
    /// fails too (it was decided on top of it).
    pub epoch: Option<u64>,
}

/// A row written in the same transaction as the events, outside the log.
#[derive(Clone, PartialEq)]
pub enum SideWrite {
    /// Credentials row, same transaction as `user.registered`.
    Credential {
        /// The new user.
        user_id: UserId,
        /// Their username's name key ([`crate::pii::Pii::name_key`]; unique),
        /// never the name itself.
        username: String,
        /// The password hash (never logged).
        password_hash: String,
    },
    /// A new password hash for an existing credentials row, same
    /// transaction as `user.password_changed`; every session of the user
    /// but `keep_session` is revoked with it (`sessions` table).
    PasswordChanged {
        /// Whose.
        user_id: UserId,
        /// The new hash (never logged).
        password_hash: String,
        /// The session that changed it, which stays.
        keep_session: Option<uuid::Uuid>,
    },
    /// A new user's wrapped data key (`pii_keys`), same transaction as
    /// `user.registered`, whose personal fields are sealed under it.
    DataKey {
        /// Whose.
        user_id: UserId,
        /// The key wrapped under the master key ([`crate::pii`]).
        wrapped: Vec<u8>,
    },
    /// The account is deleted, same transaction as `user.account_deleted`:
    /// the data key and the credentials are deleted (crypto-shredding) and
    /// every session of the user is revoked.
    AccountDeleted {
        /// Whose.
        user_id: UserId,
    },
    /// The answer to an Idempotency-Key; the store sets `body["position"]` (when
    /// the body is a JSON object) to the commit's position before storing.
    Idempotency {
        /// The user who sent the key.
        user_id: UserId,
        /// The client's key.
        key: String,
        /// Hash of the request, to refuse a key reused for another request.
        request_hash: Vec<u8>,
        /// HTTP status of the answer.
        status: u16,
        /// JSON body of the answer.
        body: serde_json::Value,
    },
}

impl fmt::Debug for SideWrite {
    // Hand-written so a password hash never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credential {
                user_id, username, ..
            } => f
                .debug_struct("Credential")
                .field("user_id", user_id)
                .field("username", username)
                .finish_non_exhaustive(),
            Self::PasswordChanged {
                user_id,
                keep_session,
                ..
            } => f
                .debug_struct("PasswordChanged")
                .field("user_id", user_id)
                .field("keep_session", keep_session)
                .finish_non_exhaustive(),
            Self::DataKey { user_id, .. } => f
                .debug_struct("DataKey")
                .field("user_id", user_id)
                .finish_non_exhaustive(),
            Self::AccountDeleted { user_id } => f
                .debug_struct("AccountDeleted")
                .field("user_id", user_id)
                .finish(),
            Self::Idempotency {
                user_id,
                key,
                status,
                ..
            } => f
                .debug_struct("Idempotency")
                .field("user_id", user_id)
                .field("key", key)
                .field("status", status)
                .finish_non_exhaustive(),
        }
    }
}

/// One all-or-nothing unit: appends to one or more streams plus side writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Commit {
    /// The appends; each stream at most once.
    pub streams: Vec<StreamAppend>,
    /// Stored beside every event of the commit.
    pub metadata: EventMetadata,
    /// Rows written in the same transaction.
    pub side_writes: Vec<SideWrite>,
}

/// A commit that is in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    /// Position of the commit's last event (if it appended none: the store
    /// head at that time).
    pub position: i64,
    /// The stored events, in order.
    pub events: Vec<StoredEvent>,
}

/// What a login needs to know about a username.
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    /// Whose it is.
    pub user_id: UserId,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Log position of the user's registration (goes into the token, so the
    /// query side knows how far its projection must be to know the user).
    pub registered_at: i64,
}

/// A stored Idempotency-Key answer.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAnswer {
    /// Hash of the request that produced it.
    pub request_hash: Vec<u8>,
    /// Its HTTP status.
    pub status: u16,
    /// Its JSON body (with `position` set).
    pub body: serde_json::Value,
}
