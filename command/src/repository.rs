//! Aggregates, cached, over the group-committing event store.
//!
//! Replaying a busy room's stream for every message does not scale, so each
//! aggregate type keeps an LRU of current states. Each cached stream sits
//! behind its own async mutex, held only while deciding and queueing, never
//! while the commit is awaited: the next command on the same stream decides on
//! the state *including* the events still in flight (pipelining), so a hot
//! room is not limited to one command per database commit. That is safe
//! because every commit carries the cache epoch it was decided in: if one
//! fails, the store refuses every later commit of that stream and epoch (see
//! the batcher of `eventlog`), and its caller drops the cache entry, so the
//! next command replays the stream from the store under a fresh epoch.

use domain::{Aggregate, DomainError, DomainEvent, EventMetadata, StreamId};
use eventlog::{AppendError, Commit, Committed, EventStore, SideWrite, StoreError, StreamAppend};
use lru::LruCache;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use thiserror::Error;

/// Retries after a version conflict before giving up with [`CommandError::Conflict`].
const MAX_RETRIES: usize = 5;
/// Events read per query when replaying a stream.
const REPLAY_PAGE: i64 = 1000;
/// Cache epochs, unique across every repository of the process, so the
/// store's dead-epoch rule can never confuse two repositories' entries.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

/// The result of a command that succeeded.
#[derive(Clone, Debug)]
///
/// It deliberately carries no copy of the aggregate's state: a room's state
/// grows with its history, and cloning it per command would make every post
/// into a busy room cost time proportional to that history.
pub struct Outcome<A: Aggregate> {
    /// Where its events landed (with no events: the stream's last position).
    pub committed: Committed,
    /// The events, as the aggregate produced them.
    pub events: Vec<A::Event>,
}

/// Why a command did not happen.
#[derive(Debug, Error)]
pub enum CommandError {
    /// The aggregate refused it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The stream kept changing under the command; retries exhausted (409
    /// `concurrency_conflict`).
    #[error("the stream changed concurrently {MAX_RETRIES} times")]
    Conflict,
    /// Another request already stored an answer under this Idempotency-Key.
    #[error("idempotency key already used")]
    IdempotencyKeyExists,
    /// The event store is unavailable (503 with `Retry-After`).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The stored stream or the commit is broken in a way a retry cannot fix
    /// (undecodable events, a rejected commit): a 500, logged.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<AppendError> for CommandError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Conflict { .. } => Self::Conflict,
            AppendError::IdempotencyKeyExists => Self::IdempotencyKeyExists,
            AppendError::Unavailable(msg) => Self::Unavailable(msg),
            other @ (AppendError::DuplicateEventId(_) | AppendError::Rejected(_)) => {
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

/// Cached aggregates over an [`EventStore`]. Cheap to clone; clones share caches.
#[derive(Clone)]
pub struct Repository {
    store: EventStore,
    caches: Arc<Caches>,
}

struct Caches {
    capacity: NonZeroUsize,
    by_type: Mutex<HashMap<TypeId, TypeEntry>>,
}

/// One aggregate type's cache, and a way to drop a stream from it without
/// knowing the type.
#[derive(Clone)]
struct TypeEntry {
    typed: Arc<dyn Any + Send + Sync>,
    forget: Arc<dyn Fn(StreamId) + Send + Sync>,
}

type TypeCache<A> = Mutex<LruCache<StreamId, Arc<Slot<A>>>>;

/// One cached stream.
struct Slot<A> {
    entry: tokio::sync::Mutex<Option<Entry<A>>>,
    /// Position of the stream's last committed event known here; answers
    /// commands that decide to do nothing.
    position: AtomicI64,
}

impl<A> Default for Slot<A> {
    fn default() -> Self {
        Self {
            entry: tokio::sync::Mutex::new(None),
            position: AtomicI64::new(0),
        }
    }
}

/// Cached state: the stored events plus those of commits still in flight.
struct Entry<A> {
    state: A,
    version: i64,
    epoch: u64,
}

impl Repository {
    /// A repository caching up to `capacity_per_type` streams of each aggregate type.
    pub fn new(store: EventStore, capacity_per_type: usize) -> Self {
        Self {
            store,
            caches: Arc::new(Caches {
                capacity: NonZeroUsize::new(capacity_per_type).unwrap_or(NonZeroUsize::MIN),
                by_type: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The underlying store (lookups; for commits prefer [`Repository::append`]).
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Append a commit decided outside the cache (a multi-stream commit, say)
    /// and, whatever the outcome, drop its streams from the cache. Stored: the
    /// cached states lack its events, and a command *refused* on them (a user
    /// who "does not exist" yet) would be wrong. Refused with a conflict: the
    /// decision was made on a stale entry (another process appended, as the
    /// reminder scheduler does to a meet-up's stream), and a retry that loads
    /// it again would be refused the same way every time.
    pub async fn append(&self, commit: Commit) -> Result<Committed, AppendError> {
        let streams: Vec<StreamId> = commit.streams.iter().map(|s| s.stream_id).collect();
        let result = self.store.append(commit).await;
        for stream_id in streams {
            self.forget(stream_id);
        }
        result
    }

    /// Current state and version of a stream (from the cache, else replayed
    /// and cached). Includes events of this process's commits still in flight.
    /// A cached state is checked against the store first (one indexed read):
    /// callers refuse requests on it, and another node may have written.
    pub async fn load<A: Aggregate>(&self, stream_id: StreamId) -> Result<(A, i64), CommandError> {
        let slot = self.slot::<A>(stream_id);
        let mut guard = slot.entry.lock().await;
        let entry = match &mut *guard {
            Some(entry) => {
                if self.moved_on(stream_id, entry.version).await? {
                    *entry = replay::<A>(&self.store, stream_id, &slot).await?;
                }
                entry
            }
            empty => empty.insert(replay::<A>(&self.store, stream_id, &slot).await?),
        };
        Ok((entry.state.clone(), entry.version))
    }

    /// Whether the store holds events of `stream_id` past `version`: another
    /// command node wrote since this one cached the stream (this node's own
    /// commits, in flight or not, are all at or below `version`). Its later
    /// commits on the old state fail on their expected version anyway; what
    /// this guards are the answers that append nothing: refusals and no-ops.
    async fn moved_on(&self, stream_id: StreamId, version: i64) -> Result<bool, CommandError> {
        let next = eventlog::read_stream_page(self.store.pool(), stream_id, version, 1).await?;
        Ok(!next.is_empty())
    }

    /// Decide on the current state and append the events, with `side_writes`
    /// in the same commit. On a version conflict, decide again on fresh state,
    /// up to 5 times, then [`CommandError::Conflict`]; so `decide` may run
    /// more than once.
    pub async fn execute<A: Aggregate>(
        &self,
        stream_id: StreamId,
        metadata: EventMetadata,
        side_writes: Vec<SideWrite>,
        decide: impl Fn(&A) -> Result<Vec<A::Event>, DomainError> + Send,
    ) -> Result<Outcome<A>, CommandError> {
        self.execute_with(stream_id, metadata, decide, move |_: &[A::Event]| {
            side_writes.clone()
        })
        .await
    }

    /// [`Repository::execute`] with side writes that depend on the decided
    /// events (an idempotent answer naming the new message's id, say).
    /// `side_writes` runs once per attempt, after `decide`.
    pub async fn execute_with<A, D, W>(
        &self,
        stream_id: StreamId,
        metadata: EventMetadata,
        decide: D,
        side_writes: W,
    ) -> Result<Outcome<A>, CommandError>
    where
        A: Aggregate,
        D: Fn(&A) -> Result<Vec<A::Event>, DomainError> + Send,
        W: Fn(&[A::Event]) -> Vec<SideWrite> + Send,
    {
        for attempt in 0..=MAX_RETRIES {
            let slot = self.slot::<A>(stream_id);
            let mut guard = slot.entry.lock().await;
            let entry = match &mut *guard {
                Some(entry) => entry,
                empty => empty.insert(replay::<A>(&self.store, stream_id, &slot).await?),
            };
            let mut decided = decide(&entry.state);
            // A refusal or a no-op appends nothing, so no expected version
            // catches a stale cache: check the store, and decide again on
            // what it holds if another node wrote meanwhile.
            if decided.as_ref().map_or(true, Vec::is_empty)
                && self.moved_on(stream_id, entry.version).await?
            {
                *entry = replay::<A>(&self.store, stream_id, &slot).await?;
                decided = decide(&entry.state);
            }
            let events = decided?;
            if events.is_empty() {
                let committed = Committed {
                    position: slot.position.load(Ordering::Acquire),
                    events: Vec::new(),
                };
                return Ok(Outcome { committed, events });
            }
            let commit = Commit {
                streams: vec![StreamAppend {
                    stream_id,
                    stream_type: A::STREAM_TYPE,
                    expected_version: entry.version,
                    events: events
                        .iter()
                        .cloned()
                        .map(Into::<DomainEvent>::into)
                        .collect(),
                    epoch: Some(entry.epoch),
                }],
                metadata: metadata.clone(),
                side_writes: side_writes(&events),
            };
            // Queue while holding the stream's lock, so commits on one stream
            // reach the batcher in the order they were decided.
            let queued = self.store.enqueue(commit).await?;
            // Evolve in place: moving the state out and back costs nothing,
            // where a clone would copy the room's whole message index.
            entry.state = std::mem::take(&mut entry.state).evolve_all(&events);
            entry.version += events.len() as i64;
            let epoch = entry.epoch;
            drop(guard);

            let mut in_flight = InFlight {
                store: &self.store,
                slot: Some(slot),
                stream_id,
                epoch,
            };
            let outcome = queued.outcome().await;
            let Some(slot) = in_flight.slot.take() else {
                return Err(CommandError::Internal(
                    "in-flight commit lost its cache slot".into(),
                ));
            };
            match outcome {
                Ok(committed) => {
                    slot.position
                        .fetch_max(committed.position, Ordering::AcqRel);
                    return Ok(Outcome { committed, events });
                }
                Err(error) => {
                    invalidate(&self.store, &slot, stream_id, epoch).await;
                    match error {
                        AppendError::Conflict {
                            expected, actual, ..
                        } => {
                            tracing::debug!(%stream_id, expected, actual, attempt, "version conflict, deciding again");
                        }
                        other => return Err(other.into()),
                    }
                }
            }
        }
        Err(CommandError::Conflict)
    }

    /// The cache slot of a stream, created empty if missing.
    fn slot<A: Aggregate>(&self, stream_id: StreamId) -> Arc<Slot<A>> {
        let cache = self.type_cache::<A>();
        let mut lru = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = lru.get(&stream_id) {
            return slot.clone();
        }
        let slot = Arc::new(Slot::default());
        lru.put(stream_id, slot.clone());
        slot
    }

    fn type_cache<A: Aggregate>(&self) -> Arc<TypeCache<A>> {
        let mut by_type = self
            .caches
            .by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let capacity = self.caches.capacity;
        let fresh = || {
            let cache: Arc<TypeCache<A>> = Arc::new(Mutex::new(LruCache::new(capacity)));
            let weak = Arc::downgrade(&cache);
            let entry = TypeEntry {
                typed: cache.clone(),
                forget: Arc::new(move |stream_id| {
                    if let Some(cache) = weak.upgrade() {
                        cache
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .pop(&stream_id);
                    }
                }),
            };
            (cache, entry)
        };
        let typed = by_type
            .entry(TypeId::of::<A>())
            .or_insert_with(|| fresh().1)
            .typed
            .clone();
        // Keyed by the type id, so the downcast cannot fail; if it somehow did,
        // a fresh cache is correct, only colder.
        typed.downcast::<TypeCache<A>>().unwrap_or_else(|_| {
            let (cache, entry) = fresh();
            by_type.insert(TypeId::of::<A>(), entry);
            cache
        })
    }

    /// Drop `stream_id` from every aggregate type's cache.
    fn forget(&self, stream_id: StreamId) {
        let entries: Vec<TypeEntry> = self
            .caches
            .by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for entry in entries {
            (entry.forget)(stream_id);
        }
    }
}

/// Replay a stream from the store into a new cache entry with a fresh epoch.
async fn replay<A: Aggregate>(
    store: &EventStore,
    stream_id: StreamId,
    slot: &Slot<A>,
) -> Result<Entry<A>, CommandError> {
    let mut state = A::default();
    let mut version = 0;
    let mut position = 0;
    loop {
        let page =
            eventlog::read_stream_page(store.pool(), stream_id, version, REPLAY_PAGE).await?;
        let full = page.len() as i64 == REPLAY_PAGE;
        for stored in page {
            if stored.stream_type != A::STREAM_TYPE {
                return Err(CommandError::Internal(format!(
                    "stream {stream_id} is a {} stream, not {}",
                    stored.stream_type.as_str(),
                    A::STREAM_TYPE.as_str()
                )));
            }
            let event = A::Event::try_from(stored.event).map_err(|_| {
                CommandError::Internal(format!(
                    "stream {stream_id} holds an event its aggregate does not know"
                ))
            })?;
            state = state.evolve(&event);
            version = stored.version;
            position = stored.position;
        }
        if !full {
            break;
        }
    }
    slot.position.fetch_max(position, Ordering::AcqRel);
    Ok(Entry {
        state,
        version,
        epoch: NEXT_EPOCH.fetch_add(1, Ordering::Relaxed),
    })
}

/// Drop the cache entry a failed commit was decided in (unless a newer one
/// already replaced it), then tell the store the epoch is finished. The order
/// matters: once the entry is gone no commit of that epoch can be queued, and
/// the retirement travels behind every one that was.
async fn invalidate<A>(store: &EventStore, slot: &Slot<A>, stream_id: StreamId, epoch: u64) {
    {
        let mut guard = slot.entry.lock().await;
        if guard.as_ref().is_some_and(|e| e.epoch == epoch) {
            *guard = None;
        }
    }
    store.retire_epoch(stream_id, epoch).await;
}

/// A commit being awaited. If the caller's future is dropped first (client
/// gone), its outcome would go unseen and a failure would leave phantom events
/// in the cache; so the entry is dropped anyway, which is always safe: the
/// next command replays what is really stored.
struct InFlight<'a, A: Aggregate> {
    store: &'a EventStore,
    slot: Option<Arc<Slot<A>>>,
    stream_id: StreamId,
    epoch: u64,
}

impl<A: Aggregate> Drop for InFlight<'_, A> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let (stream_id, epoch) = (self.stream_id, self.epoch);
        runtime.spawn(async move { invalidate(&store, &slot, stream_id, epoch).await });
    }
}
