//! Shared setup of the event-log tests (and of `command`'s repository tests,
//! which include this file): a fresh database, a store on it, event
//! builders, a tiny counter aggregate, and helpers that hold the append lock
//! so a test can line commits up in one batch deterministically.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use domain::event::{MessagePosted, RoomEvent};
use domain::{
    Aggregate, DomainError, DomainEvent, EventMetadata, MessageId, RoomId, StreamId, StreamType,
    UserId,
};
use eventlog::{
    AppendError, BatchConfig, Commit, Committed, EventStore, SideWrite, StreamAppend,
    APPEND_LOCK_KEY,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use std::future::Future;
use std::time::Duration;
use testkit::TestEnv;
use uuid::Uuid;

/// Longest any wait in these tests may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A migrated database, a pool with room for concurrent work, and a store.
pub struct Setup {
    pub env: TestEnv,
    pub pool: PgPool,
    pub store: EventStore,
}

pub async fn setup() -> Setup {
    setup_with(BatchConfig::default()).await
}

pub async fn setup_with(config: BatchConfig) -> Setup {
    let env = TestEnv::new().await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&env.database_url)
        .await
        .expect("connect to the test database");
    let store = EventStore::connect(pool.clone(), config).await;
    Setup { env, pool, store }
}

pub fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
}

/// A `room.message_posted` event with the given seq.
pub fn posted(room: RoomId, seq: u64) -> RoomEvent {
    RoomEvent::MessagePosted(MessagePosted {
        room_id: room,
        message_id: MessageId(Uuid::now_v7()),
        seq,
        author_id: UserId(Uuid::from_u128(7)),
        body: format!("메시지 {seq}"),
        reply_to: None,
        attachments: vec![],
        mentions: vec![],
        at: at(),
    })
}

/// A room stream id and its room id.
pub fn new_room() -> (StreamId, RoomId) {
    let room = RoomId(Uuid::now_v7());
    (room.into(), room)
}

/// An append of `n` messages to a room stream expected at `expected`.
pub fn messages(stream: StreamId, expected: i64, n: u64) -> StreamAppend {
    let room = RoomId(stream.0);
    StreamAppend {
        stream_id: stream,
        stream_type: StreamType::Room,
        expected_version: expected,
        events: (1..=n)
            .map(|i| DomainEvent::from(posted(room, expected as u64 + i)))
            .collect(),
        epoch: None,
    }
}

/// A commit of one stream append with no side writes.
pub fn commit(append: StreamAppend) -> Commit {
    Commit {
        streams: vec![append],
        metadata: EventMetadata::default(),
        side_writes: Vec::new(),
    }
}

/// Hold the append lock in a transaction of our own, as a slow appender on
/// another node would; the store's batches wait behind it until it ends.
pub async fn hold_append_lock(pool: &PgPool) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .expect("take the append lock");
    tx
}

/// The backend pids waiting for the append lock in this database.
pub async fn lock_waiters(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid \
         WHERE a.datname = current_database() AND NOT l.granted AND l.locktype = 'advisory'",
    )
    .fetch_all(pool)
    .await
    .expect("read pg_stat_activity")
}

/// Poll `check` until it returns true; panic after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until(what, move || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
}

/// Poll `probe` until it returns a value; panic after [`DEADLINE`].
pub async fn poll_until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait until a batch is blocked on the append lock and `queued` more
/// commits are lined up behind it.
pub async fn wait_blocked_with_queue(setup: &Setup, queued: usize) {
    eventually("a batch waiting on the append lock", || async {
        !lock_waiters(&setup.pool).await.is_empty()
    })
    .await;
    eventually("commits queued behind it", || async {
        setup.store.queued() >= queued
    })
    .await;
}

/// Queue `commits` behind a held append lock so they form one batch, then
/// release it and return their outcomes in order.
pub async fn one_batch(s: &Setup, commits: Vec<Commit>) -> Vec<Result<Committed, AppendError>> {
    let lock = hold_append_lock(&s.pool).await;
    let blocker = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(new_room().0, 0, 1))).await }
    });
    wait_blocked_with_queue(s, 0).await;
    let mut tasks = Vec::new();
    for (i, c) in commits.into_iter().enumerate() {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move { store.append(c).await }));
        // One at a time, so the queue order is the order given.
        wait_blocked_with_queue(s, i + 1).await;
    }
    lock.commit().await.expect("release the lock");
    blocker.await.expect("task").expect("blocker appended");
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    outcomes
}

/// The versions stored in `stream`, in order.
pub async fn versions_of(s: &Setup, stream: StreamId) -> Vec<i64> {
    let stored = s.store.read_stream(stream, 0).await.expect("read stream");
    stored.iter().map(|e| e.version).collect()
}

/// An Idempotency-Key answer for `key`.
pub fn answer(user: UserId, key: &str) -> SideWrite {
    SideWrite::Idempotency {
        user_id: user,
        key: key.into(),
        request_hash: vec![1, 2, 3],
        status: 201,
        body: serde_json::json!({ "message_id": "m1" }),
    }
}

/// A room's message counter: the smallest aggregate with a gapless seq.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub seq: u64,
}

impl Aggregate for Counter {
    const STREAM_TYPE: StreamType = StreamType::Room;
    type Command = RoomId;
    type Event = RoomEvent;

    fn decide(&self, room: &RoomId) -> Result<Vec<RoomEvent>, DomainError> {
        Ok(vec![posted(*room, self.seq + 1)])
    }

    fn evolve(mut self, event: &RoomEvent) -> Self {
        if let RoomEvent::MessagePosted(m) = event {
            self.seq = m.seq;
        }
        self
    }
}

/// The seq of a posted message.
pub fn seq_of(event: &DomainEvent) -> u64 {
    match event {
        DomainEvent::Room(RoomEvent::MessagePosted(m)) => m.seq,
        other => panic!("not a posted message: {other:?}"),
    }
}
