//! [`EventStore`]: the handle commands append through. Every clone shares one
//! group-commit batcher task (see `batcher`), fed through a bounded queue.
//!
//! The batcher runs on a thread of its own, with its own single-threaded
//! runtime and two connections of its own. Appends are serialised, so the
//! log's write rate is one batch per batch-transaction time; on the shared
//! runtime each of the batch's round trips waited behind the request tasks
//! its own replies had just woken (issue 20).

use crate::batcher::{self, Message, Outcome};
use crate::{append, lookup, read};
use crate::{AppendError, Commit, Committed, Credential, StoreError, StoredAnswer};
use domain::{EventId, StoredEvent, StreamId, StreamType, UserId};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Connections of the batcher's own pool: a batch writing while the one
/// before it commits. The batcher keeps them between batches
/// (`batcher::Conns`).
const BATCHER_CONNECTIONS: u32 = 2;

/// Tuning of the group-commit batcher.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    /// Most events in one batch transaction (a single larger commit still
    /// goes through, alone).
    pub max_events: usize,
    /// How long to wait for more commits once the first of a batch arrived
    /// and the queue is empty (zero: leave at once with what is queued; the
    /// commits that arrive meanwhile form the next batch).
    pub max_wait: Duration,
    /// Commits that may wait in the queue before `append` waits for room.
    pub queue: usize,
    /// How long a batch waits for the append lock (held by another node's
    /// batch or a stuck session) before its callers get `Unavailable`.
    pub lock_timeout: Duration,
    /// Upper bound on one batch transaction, connection included; also the
    /// server-side `statement_timeout` of its statements.
    pub batch_timeout: Duration,
    /// Notified after every batch that committed events: a relay in the
    /// same process waits on it instead of polling the log.
    pub committed: Option<Arc<tokio::sync::Notify>>,
    /// The nice value of the batcher's thread (`None`: the process's).
    /// Batches follow one another, and the next one leaves only once the
    /// batcher's thread is scheduled after the last one's answer: on cores
    /// shared with the request workers (and Postgres), a higher priority
    /// shortens the part of the system that is serial. Below the process's
    /// value it needs `CAP_SYS_NICE` or a matching `RLIMIT_NICE`; refused,
    /// the thread keeps the process's priority and a warning says so.
    pub thread_nice: Option<i32>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_events: 512,
            max_wait: Duration::ZERO,
            queue: 4096,
            lock_timeout: Duration::from_secs(5),
            batch_timeout: Duration::from_secs(15),
            committed: None,
            thread_nice: None,
        }
    }
}

/// Set the calling thread's nice value (Linux: `setpriority` of a thread
/// id applies to that thread alone).
fn set_thread_nice(nice: i32) {
    let tid = rustix::thread::gettid();
    match rustix::process::setpriority_process(Some(tid), nice) {
        Ok(()) => tracing::info!(nice, "event store batcher thread priority set"),
        Err(error) => tracing::warn!(
            nice,
            %error,
            "cannot set the event store batcher's thread priority (a value below the \
             process's needs CAP_SYS_NICE or RLIMIT_NICE); it keeps the process's"
        ),
    }
}

/// How the batcher's transactions were written (see
/// [`EventStore::batch_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Planned: written in one statement that is its own transaction,
    /// without reading the streams first, their state checked by the
    /// statement itself. The steady state.
    pub planned: u64,
    /// Checked: the streams, keys and ids read under the lock first,
    /// because a commit of the batch would have been refused by the walk
    /// alone, had no events or wrote more than an Idempotency-Key answer
    /// beside them (an account, a password, a key).
    pub checked: u64,
    /// Planned, but the statement failed (the database's check refused a
    /// stale version, a taken key or id; or the connection broke): written
    /// checked in a transaction, after looking for it in the log when the
    /// statement's outcome was unknown.
    pub replanned: u64,
}

/// The event store. Cheap to clone; all clones share one batcher task.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    counts: Arc<batcher::Counts>,
    sender: mpsc::Sender<Message>,
    queue: usize,
    cancel: CancellationToken,
    /// Fires when the batcher's thread has written what was queued.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

/// A commit waiting in the batcher; see [`EventStore::enqueue`].
#[must_use = "the commit's outcome is only known by awaiting it"]
pub struct Queued {
    reply: oneshot::Receiver<Outcome>,
}

impl Queued {
    /// Wait for the batch carrying the commit to finish.
    pub async fn outcome(self) -> Result<Committed, AppendError> {
        let (request, written) = self
            .reply
            .await
            .unwrap_or_else(|_| Err(AppendError::Unavailable("event store stopped".into())))?;
        Ok(request.committed(written))
    }
}

impl EventStore {
    /// Start the store's batcher on `pool`. It runs until [`EventStore::shutdown`].
    pub async fn connect(pool: PgPool, config: BatchConfig) -> Self {
        let queue = config.queue.max(1);
        let (sender, receiver) = mpsc::channel(queue);
        let cancel = CancellationToken::new();
        let (done, stopped) = oneshot::channel();
        let options = pool.connect_options();
        let stop = cancel.clone();
        let counts = Arc::new(batcher::Counts::default());
        let batcher_counts = counts.clone();
        let thread = std::thread::Builder::new()
            .name("eventlog-batcher".into())
            .spawn(move || {
                if let Some(nice) = config.thread_nice {
                    set_thread_nice(nice);
                }
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "event store batcher has no runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    // A planned batch is one statement outside a
                    // transaction block (`append::write_once`): the
                    // settings the checked path sets per transaction are
                    // the connections' own.
                    let settings = [
                        (
                            "statement_timeout",
                            format!("{}ms", config.batch_timeout.as_millis().max(1)),
                        ),
                        ("plan_cache_mode", "force_generic_plan".to_owned()),
                    ];
                    let own = PgPoolOptions::new()
                        .max_connections(BATCHER_CONNECTIONS)
                        .acquire_timeout(config.batch_timeout)
                        .connect_lazy_with((*options).clone().options(settings));
                    batcher::run(own.clone(), config, receiver, stop, batcher_counts).await;
                    own.close().await;
                });
                let _ = done.send(());
            });
        if let Err(error) = thread {
            tracing::error!(%error, "cannot start the event store batcher");
        }
        Self {
            inner: Arc::new(Inner {
                pool,
                counts,
                sender,
                queue,
                cancel,
                stopped: Mutex::new(Some(stopped)),
            }),
        }
    }

    /// How the batches were written since the store started.
    pub fn batch_counts(&self) -> BatchCounts {
        self.inner.counts.snapshot()
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
        let request = append::Request::new(commit, event_ids, ids_supplied)?;
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
        let stopped = self
            .inner
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(stopped) = stopped {
            if stopped.await.is_err() {
                tracing::error!("event store batcher ended abnormally");
            }
        }
    }

    /// Events of one stream with a version above `after_version`, in order.
    pub async fn read_stream(
        &self,
        stream_id: StreamId,
        after_version: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::read_stream_page(&self.inner.pool, stream_id, after_version, i64::MAX).await
    }

    /// Type and current version of each of `ids` that exists.
    pub async fn stream_versions(
        &self,
        ids: &[StreamId],
    ) -> Result<HashMap<StreamId, (StreamType, i64)>, StoreError> {
        lookup::stream_versions(&self.inner.pool, ids).await
    }

    /// Which of `users` exist and have not deleted their account.
    pub async fn live_users(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::HashSet<UserId>, StoreError> {
        lookup::live_users(&self.inner.pool, users).await
    }

    /// The stored answer to `key` sent by `user`, if any.
    pub async fn idempotent_answer(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        lookup::idempotent_answer(&self.inner.pool, user, key).await
    }

    /// The credential registered under `name_key` (the username's keyed
    /// hash), or under the plain `username` for accounts from before issue
    /// 18 (see `cotalk pii encrypt-legacy`), if any.
    pub async fn credential(
        &self,
        name_key: &str,
        username: &str,
    ) -> Result<Option<Credential>, StoreError> {
        lookup::credential(&self.inner.pool, name_key, username).await
    }

    /// The room an invite token's hash belongs to, if any (issue 16).
    pub async fn invite_room(
        &self,
        token_hash: &str,
    ) -> Result<Option<domain::RoomId>, StoreError> {
        lookup::invite_room(&self.inner.pool, token_hash).await
    }

    /// Position of the last committed event (0 for an empty log).
    pub async fn head(&self) -> Result<i64, StoreError> {
        read::head(&self.inner.pool).await
    }
}
