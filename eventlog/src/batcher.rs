//! Group commit: one task takes whatever commits are queued (up to
//! `max_events` events) and writes them in one transaction. Commits that
//! arrive while a transaction is in flight queue up and leave together as
//! soon as it is done, so batches grow with the load by themselves; by
//! default (`max_wait` zero) nothing waits for company on top of that. Each
//! caller gets its own outcome. A failed batch fails only its own callers;
//! the task keeps running and the next batch gets a fresh connection from
//! the pool.
//!
//! In the steady state a batch is planned: judged from the commits alone,
//! then written by one statement that is its own transaction
//! ([`append::write_once`]): the append lock, the check of what the batch
//! assumed, the positions, the rows and the commit all happen inside
//! Postgres, and the batch's one round trip ends when it is durable. The
//! next batch is what arrived meanwhile, so under load a batch carries what
//! arrived during a whole batch, with nothing waiting on a timer.
//!
//! A batch that needs a read first (an event-less commit, an account or
//! password write, a commit the walk refuses) is written checked, in a
//! transaction. Two such batches overlap: while one commits (its WAL flush
//! is most of a batch's time), the next has its transaction open on the
//! second connection and waits inside Postgres for the append lock, so it
//! starts the moment that commit ends instead of a round trip later. That
//! batch stays open while it waits: the commits queued meanwhile join it
//! once the lock is granted.

use crate::append::{self, lock, write_batch, Limits, Opening, Path, Request, Written};
use crate::error::{is_connection_lost, is_transient, is_wait_exhausted};
use crate::rows::Plan;
use crate::{AppendError, BatchConfig, BatchCounts};
use chrono::{DateTime, Utc};
use domain::StreamId;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, PgPool, Postgres};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// What a caller gets back: its commit and where it was written, or why
/// it was not.
pub(crate) type Outcome = Result<(Request, Written), AppendError>;

/// What the store sends its batcher.
pub(crate) enum Message {
    /// A commit and where to send its outcome.
    Append {
        request: Request,
        reply: oneshot::Sender<Outcome>,
    },
    /// No more commits with this epoch will come (see `DeadEpochs`).
    Retire { stream_id: StreamId, epoch: u64 },
}

/// How long a failed epoch is remembered if nobody retires it.
const DEAD_EPOCH_TTL: Duration = Duration::from_secs(60);
/// Most failed epochs remembered; the oldest go first.
const DEAD_EPOCH_CAP: usize = 10_000;

/// (stream, cache epoch) pairs whose commit failed. A commit decided on the
/// same cached state may already be queued behind the failed one, decided on
/// top of events that were never stored; its expected version can even match
/// the stream by accident, so it is refused by epoch. The repository retires
/// an epoch (through the same queue, so after every commit of that epoch)
/// once it has dropped the cache entry; the TTL only bounds memory for callers
/// that never do.
#[derive(Default)]
pub(crate) struct DeadEpochs {
    marked: HashMap<(StreamId, u64), Instant>,
}

impl DeadEpochs {
    pub fn contains(&self, stream_id: StreamId, epoch: u64) -> bool {
        self.marked.contains_key(&(stream_id, epoch))
    }

    pub fn mark(&mut self, stream_id: StreamId, epoch: u64) {
        self.marked.insert((stream_id, epoch), Instant::now());
    }

    fn retire(&mut self, stream_id: StreamId, epoch: u64) {
        self.marked.remove(&(stream_id, epoch));
    }

    fn sweep(&mut self) {
        let now = Instant::now();
        self.marked
            .retain(|_, at| now.duration_since(*at) < DEAD_EPOCH_TTL);
        if self.marked.len() > DEAD_EPOCH_CAP {
            let mut by_age: Vec<_> = self.marked.iter().map(|(k, at)| (*at, *k)).collect();
            by_age.sort_unstable_by_key(|(at, _)| *at);
            let excess = self.marked.len() - DEAD_EPOCH_CAP;
            for (_, key) in by_age.into_iter().take(excess) {
                self.marked.remove(&key);
            }
        }
    }
}

/// The commits of one transaction, and the retirements to apply after it.
#[derive(Default)]
struct Batch {
    requests: Vec<Request>,
    replies: Vec<oneshot::Sender<Outcome>>,
    retires: Vec<(StreamId, u64)>,
    events: usize,
    /// A commit was handed back for want of room: nothing queued after it
    /// may join (commits keep their queue order).
    full: bool,
}

impl Batch {
    /// Add `message`, or hand it back if it would push the batch past
    /// `max_events` (a commit larger than that still forms a batch alone).
    fn offer(&mut self, message: Message, max_events: usize) -> Option<Message> {
        match message {
            Message::Append { request, reply } => {
                let n = request.event_count();
                if self.events > 0 && self.events + n > max_events {
                    self.full = true;
                    return Some(Message::Append { request, reply });
                }
                self.events += n;
                self.requests.push(request);
                self.replies.push(reply);
            }
            Message::Retire { stream_id, epoch } => self.retires.push((stream_id, epoch)),
        }
        None
    }

    /// Whether more commits may join: not full, and no retirement in it (a
    /// retirement applies after the commits queued before it, and must not
    /// cover commits queued after it).
    fn is_open(&self, config: &BatchConfig) -> bool {
        !self.full && self.events < config.max_events && self.retires.is_empty()
    }
}

/// The batcher task. On cancellation it stops accepting commits, writes those
/// already queued, and returns.
///
/// Batches overlap by one step: while a batch's `COMMIT` (and its WAL flush)
/// is in flight, the next batch already has its transaction open and waits
/// inside Postgres for the append lock, which that commit releases. The next
/// batch's own statements run only once the previous outcome is in (see
/// [`settle`]), so a commit decided on top of a failed one is still refused
/// by its epoch.
pub(crate) async fn run(
    pool: PgPool,
    config: BatchConfig,
    mut receiver: mpsc::Receiver<Message>,
    cancel: CancellationToken,
    counts: Arc<Counts>,
) {
    let mut conns = Conns {
        pool,
        held: Vec::new(),
        counts,
    };
    let mut dead = DeadEpochs::default();
    let mut carry: Option<Message> = None;
    let mut committing: Option<Committing> = None;
    loop {
        let first = match carry.take() {
            Some(message) => message,
            None => tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                message = receiver.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
            },
        };
        (committing, carry) = gather_and_write(
            first,
            &mut receiver,
            &config,
            Some(&cancel),
            &mut conns,
            &mut dead,
            committing,
        )
        .await;
    }
    tracing::info!(
        queued = receiver.len(),
        "event store draining queued commits"
    );
    receiver.close();
    while let Some(first) = match carry.take() {
        Some(message) => Some(message),
        None => receiver.recv().await,
    } {
        (committing, carry) = gather_and_write(
            first,
            &mut receiver,
            &config,
            None,
            &mut conns,
            &mut dead,
            committing,
        )
        .await;
    }
    settle(committing, &mut dead, &mut conns).await;
    tracing::info!("event store batcher stopped");
}

/// Gather a batch starting with `first` ([`collect`]) and write it
/// ([`run_batch`]); returns the batch in flight and the queued message left
/// for the next batch, if any.
async fn gather_and_write(
    first: Message,
    receiver: &mut mpsc::Receiver<Message>,
    config: &BatchConfig,
    cancel: Option<&CancellationToken>,
    conns: &mut Conns,
    dead: &mut DeadEpochs,
    previous: Option<Committing>,
) -> (Option<Committing>, Option<Message>) {
    let (batch, rest) = collect(first, receiver, config, cancel).await;
    let (committing, late) = run_batch(conns, config, batch, receiver, dead, previous).await;
    (committing, rest.or(late))
}

/// Gather a batch starting with `first`: what is queued, and with a `cancel`
/// token and a non-zero `max_wait`, what arrives within it; without a token
/// (draining) only what is queued.
async fn collect(
    first: Message,
    receiver: &mut mpsc::Receiver<Message>,
    config: &BatchConfig,
    cancel: Option<&CancellationToken>,
) -> (Batch, Option<Message>) {
    let mut batch = Batch::default();
    if let Some(back) = batch.offer(first, config.max_events) {
        return (batch, Some(back));
    }
    let deadline = Instant::now() + config.max_wait;
    loop {
        if let Some(back) = top_up(&mut batch, receiver, config) {
            return (batch, Some(back));
        }
        // The queue is empty (or the batch closed): wait for more only
        // with a token and a non-zero `max_wait`.
        let Some(cancel) = cancel.filter(|_| batch.is_open(config) && !config.max_wait.is_zero())
        else {
            break;
        };
        let next = tokio::select! {
            _ = cancel.cancelled() => None,
            next = timeout_at(deadline, receiver.recv()) => next.ok().flatten(),
        };
        let Some(message) = next else {
            break;
        };
        if let Some(back) = batch.offer(message, config.max_events) {
            return (batch, Some(back));
        }
    }
    (batch, None)
}

/// Add to `batch` what is queued now, without waiting; returns the message
/// that did not fit, if any.
fn top_up(
    batch: &mut Batch,
    receiver: &mut mpsc::Receiver<Message>,
    config: &BatchConfig,
) -> Option<Message> {
    while batch.is_open(config) {
        let Ok(message) = receiver.try_recv() else {
            break;
        };
        if let Some(back) = batch.offer(message, config.max_events) {
            return Some(back);
        }
    }
    None
}

/// Why a batch transaction did not commit.
#[derive(Debug, Error)]
enum BatchFailure {
    /// No connection or no transaction: whatever the error says (it may be
    /// "database is not accepting connections", an ordinary-looking code),
    /// the database is unreachable for now.
    #[error("cannot start a batch transaction: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    #[error("batch transaction timed out")]
    TimedOut,
}

impl BatchFailure {
    fn into_append_error(self) -> AppendError {
        match self {
            Self::Database(e) if !is_transient(&e) => AppendError::Rejected(e.to_string()),
            other => AppendError::Unavailable(other.to_string()),
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Self::Database(e) => is_transient(e),
            Self::Connect(_) | Self::TimedOut => true,
        }
    }
}

/// A batch whose `COMMIT` is in flight; it answers its callers itself.
type Committing = tokio::task::JoinHandle<Settled>;

/// What a finished batch leaves to the batcher's bookkeeping.
struct Settled {
    /// Epochs of commits that failed with the batch's `COMMIT`.
    dead: Vec<(StreamId, u64)>,
    /// Retirements queued with the batch, applied after its commits.
    retires: Vec<(StreamId, u64)>,
    /// The batch's connection, when it is fit for the next batch.
    conn: Option<PoolConnection<Postgres>>,
}

/// Wait for the batch in flight, if any, and apply what it leaves.
async fn settle(committing: Option<Committing>, dead: &mut DeadEpochs, conns: &mut Conns) {
    // The task only fails by panicking, which the runtime already reported.
    if let Some(Ok(settled)) = match committing {
        Some(committing) => Some(committing.await),
        None => None,
    } {
        for (stream_id, epoch) in settled.dead {
            dead.mark(stream_id, epoch);
        }
        for (stream_id, epoch) in settled.retires {
            dead.retire(stream_id, epoch);
        }
        conns.held.extend(settled.conn);
    }
    dead.sweep();
}

/// Write `batch`, with `previous` (the batch before, still committing)
/// settled before this one's statements run. What is returned is this
/// batch's commit, in flight, when it got that far, and a queued message
/// that did not fit into it.
///
/// The batch stays open until its statements run: the commits queued while
/// it waited for the lock (that is, while the previous batch committed)
/// join it. Membership closes when the previous commit is done, not when it
/// began, so under load a batch carries what arrived during a whole commit
/// and nothing waits on a timer for it.
async fn run_batch(
    conns: &mut Conns,
    config: &BatchConfig,
    mut batch: Batch,
    receiver: &mut mpsc::Receiver<Message>,
    dead: &mut DeadEpochs,
    previous: Option<Committing>,
) -> (Option<Committing>, Option<Message>) {
    let started = Instant::now();
    if batch.requests.is_empty() {
        settle(previous, dead, conns).await;
        for (stream_id, epoch) in batch.retires {
            dead.retire(stream_id, epoch);
        }
        return (None, None);
    }
    let deadline = started + config.batch_timeout;
    let mut previous = previous;
    let mut handed_back = None;
    if batch.requests.iter().all(append::fits_once) {
        // Judged once the batch before has settled: a commit decided on top
        // of one of it that failed is refused by its epoch.
        settle(previous.take(), dead, conns).await;
        handed_back = top_up(&mut batch, receiver, config);
        if let Some(plan) = append::plan(&batch.requests, dead) {
            let outcomes = write_once(conns, config, &batch.requests, &plan, dead, deadline).await;
            finish(batch, outcomes, started, config, dead);
            return (None, handed_back);
        }
    }
    // Opened while the previous batch commits: Postgres grants the lock the
    // moment that commit ends, without a round trip in between.
    let opened = open(conns, config, deadline).await;
    settle(previous, dead, conns).await;
    // A batch that had a commit handed back is full: nothing joins it.
    let late = match opened {
        Ok(_) => top_up(&mut batch, receiver, config),
        Err(_) => None,
    }
    .or(handed_back);
    let written = match opened {
        Ok((mut conn, recorded_at)) => {
            let requests = &batch.requests;
            match timeout_at(
                deadline,
                write_batch(&mut conn, requests, dead, recorded_at),
            )
            .await
            {
                Ok(Ok(outcomes)) => {
                    conns.counts.count(Path::Checked);
                    let Batch {
                        requests,
                        replies,
                        retires,
                        events,
                        full: _,
                    } = batch;
                    let epochs = requests.iter().flat_map(Request::epochs).collect();
                    let done = Done {
                        outcomes,
                        requests,
                        replies,
                        epochs,
                        retires,
                        events,
                        started,
                        notify: config.committed.clone(),
                    };
                    return (Some(tokio::spawn(commit(conn, deadline, done))), late);
                }
                Ok(Err(e)) => {
                    rollback(&mut conn, deadline).await;
                    Err(BatchFailure::Database(e))
                }
                Err(_) => {
                    // The connection is mid-statement: do not hand it to anyone else.
                    conn.close_on_drop();
                    Err(BatchFailure::TimedOut)
                }
            }
        }
        Err(failure) => Err(failure),
    };
    let outcomes = match written {
        Ok(outcomes) => outcomes,
        Err(failure) => {
            fail_batch(conns, config, &batch.requests, dead, failure, batch.events).await
        }
    };
    finish(batch, outcomes, started, config, dead);
    (None, late)
}

/// Answer a batch's callers with `outcomes` and apply its retirements.
fn finish(
    batch: Batch,
    outcomes: Vec<Result<Written, AppendError>>,
    started: Instant,
    config: &BatchConfig,
    dead: &mut DeadEpochs,
) {
    let Batch {
        requests,
        replies,
        retires,
        events,
        full: _,
    } = batch;
    answer(
        outcomes,
        requests,
        replies,
        events,
        started,
        config.committed.as_deref(),
    );
    for (stream_id, epoch) in retires {
        dead.retire(stream_id, epoch);
    }
}

/// Write a planned batch in one statement ([`append::write_once`]) on a
/// kept connection, or a fresh one from the pool. If the statement fails,
/// the batch goes to [`try_batch`] and is written checked: a stale version
/// or a taken key or id is then refused for its own commit only, and a
/// connection that died idle costs no commit. When the statement's outcome
/// is unknown (no answer, or one that could not be read), the checked
/// attempt first looks for the batch in the log, under the lock. Only a
/// batch that ran out of time is failed unseen (its outcome unknown, as a
/// `COMMIT` that timed out), and one that waited out the lock, which a
/// second attempt would wait out again.
async fn write_once(
    conns: &mut Conns,
    config: &BatchConfig,
    requests: &[Request],
    plan: &Plan,
    dead: &mut DeadEpochs,
    deadline: Instant,
) -> Vec<Result<Written, AppendError>> {
    let events = requests.iter().map(Request::event_count).sum();
    let mut conn = match conns.take(deadline).await {
        Ok((conn, _)) => conn,
        Err(failure) => return fail_batch(conns, config, requests, dead, failure, events).await,
    };
    let written = timeout_at(
        deadline,
        append::write_once(&mut conn, requests, plan, config.lock_timeout),
    )
    .await;
    let error = match written {
        Ok(Ok(written)) => {
            conns.held.push(conn);
            conns.counts.count(Path::Planned);
            return written.into_iter().map(Ok).collect();
        }
        Ok(Err(e)) => e,
        Err(_) => {
            // The statement may still run: do not hand the connection on.
            conn.close_on_drop();
            let failure = BatchFailure::TimedOut;
            return fail_batch(conns, config, requests, dead, failure, events).await;
        }
    };
    // The server's own refusal of the statement (an error response not
    // about the connection) rolled its transaction back: nothing was
    // written, and the connection is idle again. Anything else (a broken
    // connection, an answer that could not be read) leaves the outcome
    // unknown, and the batch is looked for before it is written again.
    let refused = matches!(error, sqlx::Error::Database(_)) && !is_connection_lost(&error);
    let earlier = if refused {
        conns.held.push(conn);
        Earlier::Refused
    } else {
        conn.close_on_drop();
        Earlier::Unknown
    };
    if is_wait_exhausted(&error) {
        let failure = BatchFailure::Database(error);
        return fail_batch(conns, config, requests, dead, failure, events).await;
    }
    tracing::debug!(%error, commits = requests.len(), "planned append batch failed, writing it checked");
    conns.counts.replanned();
    match try_batch(conns, config, requests, dead, earlier).await {
        Ok(outcomes) => outcomes,
        Err(failure) => fail_batch(conns, config, requests, dead, failure, events).await,
    }
}

/// The outcomes of a batch whose transaction failed: a non-transient
/// failure of several commits is retried one commit at a time, anything
/// else fails them all.
async fn fail_batch(
    conns: &mut Conns,
    config: &BatchConfig,
    requests: &[Request],
    dead: &mut DeadEpochs,
    failure: BatchFailure,
    events: usize,
) -> Vec<Result<Written, AppendError>> {
    if !failure.is_transient() && requests.len() > 1 {
        // Something the walk does not check (a constraint only the insert
        // finds) failed the batch: find the culprit by writing each commit
        // alone, so the others still go through.
        tracing::warn!(error = %failure, commits = requests.len(), "append batch refused, retrying commits one by one");
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let one = std::slice::from_ref(request);
            outcomes.push(
                match try_batch(conns, config, one, dead, Earlier::Refused).await {
                    Ok(mut outcome) => outcome
                        .pop()
                        .unwrap_or_else(|| Err(AppendError::Unavailable("no outcome".into()))),
                    Err(failure) => fail(request, dead, failure),
                },
            );
        }
        outcomes
    } else {
        tracing::warn!(error = %failure, commits = requests.len(), events, "append batch failed");
        let error = failure.into_append_error();
        for (stream_id, epoch) in requests.iter().flat_map(Request::epochs) {
            dead.mark(stream_id, epoch);
        }
        requests.iter().map(|_| Err(error.clone())).collect()
    }
}

/// A written batch waiting for its `COMMIT`.
struct Done {
    outcomes: Vec<Result<Written, AppendError>>,
    requests: Vec<Request>,
    replies: Vec<oneshot::Sender<Outcome>>,
    /// The epochs of the batch's commits, dead if the `COMMIT` fails.
    epochs: Vec<(StreamId, u64)>,
    retires: Vec<(StreamId, u64)>,
    events: usize,
    started: Instant,
    notify: Option<Arc<Notify>>,
}

/// Commit a written batch on `conn` and answer its callers.
async fn commit(mut conn: PoolConnection<Postgres>, deadline: Instant, done: Done) -> Settled {
    let failure = match timeout_at(deadline, (&mut *conn).execute("COMMIT")).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(BatchFailure::Database(e)),
        Err(_) => {
            conn.close_on_drop();
            Some(BatchFailure::TimedOut)
        }
    };
    // Kept for the next batch only when it committed; a connection that
    // failed goes back to the pool (or is closed) instead.
    let conn = failure.is_none().then_some(conn);
    let (outcomes, dead) = match failure {
        None => (done.outcomes, Vec::new()),
        Some(failure) => {
            tracing::warn!(error = %failure, commits = done.outcomes.len(), events = done.events, "append batch failed to commit");
            let error = failure.into_append_error();
            let failed = done.outcomes.iter().map(|_| Err(error.clone()));
            (failed.collect(), done.epochs)
        }
    };
    answer(
        outcomes,
        done.requests,
        done.replies,
        done.events,
        done.started,
        done.notify.as_deref(),
    );
    Settled {
        dead,
        retires: done.retires,
        conn,
    }
}

/// Record a finished batch and send each caller its outcome, with its
/// commit (one outcome and one reply per request, in order).
fn answer(
    outcomes: Vec<Result<Written, AppendError>>,
    requests: Vec<Request>,
    replies: Vec<oneshot::Sender<Outcome>>,
    events: usize,
    started: Instant,
    notify: Option<&Notify>,
) {
    record_metrics(&outcomes, events, started);
    if let Some(committed) = notify {
        if outcomes
            .iter()
            .any(|o| o.as_ref().is_ok_and(|w| !w.positions.is_empty()))
        {
            committed.notify_one();
        }
    }
    for ((reply, outcome), request) in replies.into_iter().zip(outcomes).zip(requests) {
        // The caller may have given up waiting; its commit stands anyway.
        let _ = reply.send(outcome.map(|written| (request, written)));
    }
}

/// Roll back the batch transaction on `conn` by `deadline`; a connection
/// that cannot is closed instead of going back to the pool. Whether it
/// rolled back.
async fn rollback(conn: &mut PoolConnection<Postgres>, deadline: Instant) -> bool {
    let rolled_back = matches!(
        timeout_at(deadline, (&mut **conn).execute("ROLLBACK")).await,
        Ok(Ok(_))
    );
    if !rolled_back {
        conn.close_on_drop();
    }
    rolled_back
}

/// The batcher's connections: its pool, and the connections it keeps
/// between batches. A connection handed out by the pool is pinged first and
/// pinged again when it goes back, a round trip each per batch (issue 20);
/// kept here, it is only tested by the next batch's first statement (a
/// checked batch's `BEGIN`, a planned batch's one statement).
///
/// It also keeps the counts of how its batches were written.
struct Conns {
    pool: PgPool,
    held: Vec<PoolConnection<Postgres>>,
    counts: Arc<Counts>,
}

impl Conns {
    /// A kept connection (`true`), else a fresh one from the pool (`false`).
    async fn take(
        &mut self,
        deadline: Instant,
    ) -> Result<(PoolConnection<Postgres>, bool), BatchFailure> {
        if let Some(conn) = self.held.pop() {
            return Ok((conn, true));
        }
        let conn = timeout_at(deadline, self.pool.acquire())
            .await
            .map_err(|_| BatchFailure::TimedOut)?
            .map_err(BatchFailure::Connect)?;
        Ok((conn, false))
    }
}

/// How the batcher's batches were written; read by
/// [`crate::EventStore::batch_counts`].
#[derive(Debug, Default)]
pub(crate) struct Counts {
    planned: AtomicU64,
    checked: AtomicU64,
    replanned: AtomicU64,
}

impl Counts {
    fn count(&self, path: Path) {
        match path {
            Path::Planned => bump(&self.planned, "planned"),
            Path::Checked => bump(&self.checked, "checked"),
        }
    }

    fn replanned(&self) {
        bump(&self.replanned, "replanned");
    }

    /// The counts as they stand.
    pub fn snapshot(&self) -> BatchCounts {
        BatchCounts {
            planned: self.planned.load(Ordering::Relaxed),
            checked: self.checked.load(Ordering::Relaxed),
            replanned: self.replanned.load(Ordering::Relaxed),
        }
    }
}

/// Count a batch in `counter` and in `cotalk_append_batches_total{path}`.
fn bump(counter: &AtomicU64, path: &'static str) {
    counter.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("cotalk_append_batches_total", "path" => path).increment(1);
}

/// A pooled connection inside a transaction that holds the append lock, and
/// the transaction's time.
///
/// A kept connection that cannot start a transaction (the server dropped it
/// while it sat idle) is closed and the next one tried, down to a fresh one
/// from the pool (which the pool tests): no caller loses its commit to a
/// connection that died idle, as none did when the pool tested them all.
async fn open(
    conns: &mut Conns,
    config: &BatchConfig,
    deadline: Instant,
) -> Result<(PoolConnection<Postgres>, DateTime<Utc>), BatchFailure> {
    let limits = Limits {
        lock_timeout: config.lock_timeout,
        statement_timeout: config.batch_timeout,
    };
    loop {
        let (mut conn, kept) = conns.take(deadline).await?;
        // BEGIN travels with the lock: a transaction that cannot start
        // means the database is unreachable for now, whatever its error says.
        match timeout_at(deadline, lock(&mut conn, limits, Opening::Begin)).await {
            Ok(Ok(recorded_at)) => return Ok((conn, recorded_at)),
            Ok(Err(e)) if kept && is_connection_lost(&e) => {
                tracing::debug!(error = %e, "kept batch connection failed, trying the next");
                conn.close_on_drop();
            }
            Ok(Err(e)) => {
                conn.close_on_drop();
                return Err(BatchFailure::Connect(e));
            }
            Err(_) => {
                conn.close_on_drop();
                return Err(BatchFailure::TimedOut);
            }
        }
    }
}

fn fail(
    request: &Request,
    dead: &mut DeadEpochs,
    failure: BatchFailure,
) -> Result<Written, AppendError> {
    tracing::warn!(error = %failure, "append of one commit failed");
    for (stream_id, epoch) in request.epochs() {
        dead.mark(stream_id, epoch);
    }
    Err(failure.into_append_error())
}

/// What became of an earlier attempt at a batch handed to [`try_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Earlier {
    /// None was made, or the server refused it: write the batch.
    Refused,
    /// Sent by [`write_once`], whose answer was lost or unreadable: look
    /// for the batch in the log first ([`append::written_before`]).
    Unknown,
}

/// One transaction on a connection from [`open`] (kept again if it commits),
/// bounded by `batch_timeout` end to end, so a hung server cannot hang the
/// callers.
async fn try_batch(
    conns: &mut Conns,
    config: &BatchConfig,
    requests: &[Request],
    dead: &mut DeadEpochs,
    earlier: Earlier,
) -> Result<Vec<Result<Written, AppendError>>, BatchFailure> {
    let deadline = Instant::now() + config.batch_timeout;
    let (mut conn, recorded_at) = open(conns, config, deadline).await?;
    let work = async {
        let found = match earlier {
            Earlier::Unknown => append::written_before(&mut conn, requests).await,
            Earlier::Refused => Ok(None),
        };
        let outcomes = match found {
            Ok(Some(written)) => Ok(written.into_iter().map(Ok).collect()),
            Ok(None) => write_batch(&mut conn, requests, dead, recorded_at).await,
            Err(e) => Err(e),
        };
        match outcomes {
            Ok(outcomes) => {
                (&mut *conn).execute("COMMIT").await?;
                Ok(outcomes)
            }
            Err(e) => {
                rollback(&mut conn, deadline).await;
                Err(BatchFailure::Database(e))
            }
        }
    };
    match timeout_at(deadline, work).await {
        Ok(Ok(outcomes)) => {
            conns.held.push(conn);
            Ok(outcomes)
        }
        Ok(Err(failure)) => Err(failure),
        Err(_) => {
            // The connection is mid-statement: do not hand it to anyone else.
            conn.close_on_drop();
            Err(BatchFailure::TimedOut)
        }
    }
}

fn record_metrics(outcomes: &[Result<Written, AppendError>], events: usize, started: Instant) {
    for outcome in outcomes {
        let label = match outcome {
            Ok(_) => "ok",
            Err(AppendError::Conflict { .. }) => "conflict",
            Err(AppendError::IdempotencyKeyExists) => "idempotency_key_exists",
            Err(AppendError::DuplicateEventId(_)) => "duplicate_event_id",
            Err(AppendError::Rejected(_)) => "rejected",
            Err(AppendError::Unavailable(_)) => "unavailable",
        };
        metrics::counter!("cotalk_appends_total", "outcome" => label).increment(1);
    }
    metrics::histogram!("cotalk_append_batch_events").record(events as f64);
    metrics::histogram!("cotalk_append_batch_seconds").record(started.elapsed().as_secs_f64());
}
