//! The event store: the Postgres event log and the command side's own tables
//! (credentials, Idempotency-Key answers), written together in one
//! transaction per batch of commits.
//!
//! - [`error`]: [`AppendError`] (one per caller) and [`StoreError`] (reads).
//! - `append`: the batch transaction: version checks, positions, inserts.
//! - `rows`: a batch's rows as column arrays, one multi-row insert per table.
//! - `batcher`: the group-commit task that feeds it.
//! - [`reader`]: [`read_all`] (gap-safe, for the relay and replays),
//!   per-stream reads and the small lookups the command side needs.
//!
//! # Ordering without gaps: serialised appends
//!
//! Every append transaction first takes one transaction-scoped advisory lock
//! ([`APPEND_LOCK_KEY`]) and only then draws its positions from
//! `events_position_seq`. The lock is released when the transaction ends, and
//! Postgres releases a transaction's locks only after its commit is visible to
//! other sessions. So whoever draws the next positions does so after every
//! smaller position is either committed and visible or rolled back: positions
//! become visible in strictly increasing order, across all processes that
//! append. A reader can therefore take "everything after my last position"
//! (`WHERE position > $after ORDER BY position`) and never skip a committed
//! event; a rolled-back transaction leaves only a hole in the sequence that no
//! reader waits for, because nothing is ever committed into it later. The
//! price is that appends are serial — which group commit makes cheap: one
//! node runs one batch transaction at a time from one batcher task, so the
//! lock is uncontended there, and each batch carries hundreds of events.
//!
//! The alternative — storing `pg_current_xact_id()` per row and reading only
//! rows of transactions below `pg_snapshot_xmin(pg_current_snapshot())` — lets
//! appends run in parallel, but the xmin horizon is the whole cluster's: any
//! long transaction anywhere (a report, a vacuum-blocking idle session) holds
//! every reader back for as long as it runs. And positions there do not order
//! commits, so "the position of my last event" would not tell a query which
//! projection state includes it; read-your-writes (`X-Min-Position`) needs
//! positions that are comparable in commit order, which serialised appends
//! give for free.

mod append;
mod batcher;
pub mod error;
pub mod reader;
mod rows;

use batcher::Message;
use domain::{DomainEvent, EventId, EventMetadata, StoredEvent, StreamId, StreamType, UserId};
use sqlx::PgPool;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::{AppendError, StoreError};
pub use reader::{decode_row, read_all, read_stream_page};

#[doc(hidden)]
pub use append::append_uncommitted;

/// The key of the advisory lock every append transaction holds (ASCII
/// "cotalkEL"). Fixed forever: two builds with different keys would append
/// concurrently and break the ordering guarantee.
pub const APPEND_LOCK_KEY: i64 = 0x636f_7461_6c6b_454c;

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
        /// Their username (unique).
        username: String,
        /// The password hash (never logged).
        password_hash: String,
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

/// Tuning of the group-commit batcher.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    /// Most events in one batch transaction (a single larger commit still
    /// goes through, alone).
    pub max_events: usize,
    /// How long to wait for more commits once the first of a batch arrived.
    pub max_wait: Duration,
    /// Commits that may wait in the queue before `append` waits for room.
    pub queue: usize,
    /// How long a batch waits for the append lock (held by another node's
    /// batch or a stuck session) before its callers get `Unavailable`.
    pub lock_timeout: Duration,
    /// Upper bound on one batch transaction, connection included; also the
    /// server-side `statement_timeout` of its statements.
    pub batch_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_events: 512,
            max_wait: Duration::from_millis(2),
            queue: 4096,
            lock_timeout: Duration::from_secs(5),
            batch_timeout: Duration::from_secs(15),
        }
    }
}

/// The event store. Cheap to clone; all clones share one batcher task.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    sender: mpsc::Sender<Message>,
    queue: usize,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A commit waiting in the batcher; see [`EventStore::enqueue`].
#[must_use = "the commit's outcome is only known by awaiting it"]
pub struct Queued {
    reply: oneshot::Receiver<Result<Committed, AppendError>>,
}

impl Queued {
    /// Wait for the batch carrying the commit to finish.
    pub async fn outcome(self) -> Result<Committed, AppendError> {
        self.reply
            .await
            .unwrap_or_else(|_| Err(AppendError::Unavailable("event store stopped".into())))
    }
}

impl EventStore {
    /// Start the store's batcher on `pool`. It runs until [`EventStore::shutdown`].
    pub async fn connect(pool: PgPool, config: BatchConfig) -> Self {
        let queue = config.queue.max(1);
        let (sender, receiver) = mpsc::channel(queue);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(batcher::run(pool.clone(), config, receiver, cancel.clone()));
        Self {
            inner: Arc::new(Inner {
                pool,
                sender,
                queue,
                cancel,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// The pool the store reads and writes with.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Append a commit through the group-commit batcher.
    pub async fn append(&self, commit: Commit) -> Result<Committed, AppendError> {
        self.enqueue(commit).await?.outcome().await
    }

    /// The first half of [`EventStore::append`]: queue the commit and return
    /// once it is queued. Commits are checked and written in queue order, so a
    /// caller that decides several commits on one stream in a row (pipelining)
    /// queues them in that order before awaiting any of them.
    pub async fn enqueue(&self, commit: Commit) -> Result<Queued, AppendError> {
        let count = commit.streams.iter().map(|s| s.events.len()).sum();
        let event_ids = (0..count).map(|_| EventId(uuid::Uuid::now_v7())).collect();
        self.send(commit, event_ids, false).await
    }

    /// Append with event ids chosen by the caller (tests of duplicate ids).
    #[doc(hidden)]
    pub async fn append_with_event_ids(
        &self,
        commit: Commit,
        event_ids: Vec<EventId>,
    ) -> Result<Committed, AppendError> {
        self.send(commit, event_ids, true).await?.outcome().await
    }

    async fn send(
        &self,
        commit: Commit,
        event_ids: Vec<EventId>,
        ids_supplied: bool,
    ) -> Result<Queued, AppendError> {
        let (reply, receiver) = oneshot::channel();
        let request = append::Request {
            commit,
            event_ids,
            ids_supplied,
        };
        self.inner
            .sender
            .send(Message::Append { request, reply })
            .await
            .map_err(|_| AppendError::Unavailable("event store is shut down".into()))?;
        Ok(Queued { reply: receiver })
    }

    /// Tell the batcher that no more commits carrying `epoch` on `stream_id`
    /// will be queued (the cache entry they were decided on is gone), so it can
    /// forget that the epoch failed. Sent through the same queue, so it is
    /// handled after every commit queued before it.
    pub async fn retire_epoch(&self, stream_id: StreamId, epoch: u64) {
        // If the store is shut down there is nothing left to forget.
        let _ = self
            .inner
            .sender
            .send(Message::Retire { stream_id, epoch })
            .await;
    }

    /// Commits waiting in the queue right now.
    #[doc(hidden)]
    pub fn queued(&self) -> usize {
        self.inner.queue - self.inner.sender.capacity()
    }

    /// Stop accepting commits, write every commit already queued, and wait for
    /// the batcher to finish. Appends after this fail with `Unavailable`.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                tracing::error!(%error, "event store batcher ended abnormally");
            }
        }
    }

    /// Events of one stream with a version above `after_version`, in order.
    pub async fn read_stream(
        &self,
        stream_id: StreamId,
        after_version: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        reader::read_stream_page(&self.inner.pool, stream_id, after_version, i64::MAX).await
    }

    /// Type and current version of each of `ids` that exists.
    pub async fn stream_versions(
        &self,
        ids: &[StreamId],
    ) -> Result<HashMap<StreamId, (StreamType, i64)>, StoreError> {
        reader::stream_versions(&self.inner.pool, ids).await
    }

    /// The stored answer to `key` sent by `user`, if any.
    pub async fn idempotent_answer(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        reader::idempotent_answer(&self.inner.pool, user, key).await
    }

    /// The credential registered under `username`, if any.
    pub async fn credential(&self, username: &str) -> Result<Option<Credential>, StoreError> {
        reader::credential(&self.inner.pool, username).await
    }

    /// Position of the last committed event (0 for an empty log).
    pub async fn head(&self) -> Result<i64, StoreError> {
        reader::head(&self.inner.pool).await
    }
}
