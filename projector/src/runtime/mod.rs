//! The projection runtime: feeds one projection generation from JetStream,
//! falling back to the Postgres log whenever NATS does not have (or did not
//! deliver) what the projection needs.
//!
//! Exactly-once effect: every [`Projection`] stores its checkpoint atomically
//! with its data and ignores events at or below it, so the runtime can be
//! at-least-once: it applies, then acks (a crash in between redelivers, and
//! the redelivered events are ignored).
//!
//! Never skipping: the runtime keeps `applied`, the last position handed to
//! the projection. Events arriving from NATS at or below it are dropped; if
//! the remaining ones do not follow on without holes, the log is asked how
//! many events really exist in that range (holes left by rolled-back appends
//! are legitimate), and if NATS lacks any of them the whole range is read
//! from Postgres instead. A projection far behind the head reads the log in
//! large pages, then recreates its consumer at the stream's end; when NATS is
//! idle or unreachable the log is polled every [`RuntimeOptions::pg_poll`], so
//! an event the bus lost (or never got) is applied within that delay.

mod consumer;

use crate::backoff::{self, Backoff};
use crate::bus;
use crate::error::Result;
use crate::published::Published;
use crate::source;
use async_nats::jetstream::{self, consumer::pull};
use chrono::{DateTime, Utc};
use domain::event::StoredEvent;
use readmodel::ProjectionName;
use sqlx::PgPool;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// A read model fed by the runtime.
///
/// Implementations must store their checkpoint atomically with the data it
/// covers and ignore events at or below it: the runtime may hand the same
/// event over more than once (after a crash, a redelivery, a concurrent
/// applier), but always in position order.
pub trait Projection: Send {
    /// Which projection this is.
    fn name(&self) -> ProjectionName;
    /// The generation this instance writes.
    fn generation(&self) -> i64;
    /// The durably stored checkpoint.
    fn checkpoint(&mut self) -> impl Future<Output = Result<i64>> + Send;
    /// Apply events (in position order, possibly including some at or below
    /// the checkpoint) and return the durable checkpoint afterwards, which a
    /// projection that batches its commits may leave behind the last event.
    fn apply_batch(&mut self, events: &[StoredEvent]) -> impl Future<Output = Result<i64>> + Send;
    /// Make applied events durable if it is time to (or `force`), and return
    /// the durable checkpoint. Called when idle and before stopping.
    fn flush(&mut self, force: bool) -> impl Future<Output = Result<i64>> + Send;
    /// Tells this copy apart when every node keeps its own replica of the
    /// projection (the search index): each replica then gets its own durable
    /// consumer, which the server removes after an hour unused. `None` for
    /// the shared read models, whose one consumer is shared.
    fn replica(&self) -> Option<String> {
        None
    }
}

/// First wait before retrying an unavailable consumer.
const BUS_RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest wait before retrying an unavailable consumer.
const BUS_RETRY_MAX: Duration = Duration::from_secs(5);

/// How the runtime paces itself.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Most messages taken from NATS and applied as one batch.
    pub nats_batch: usize,
    /// How long to wait for a message before doing idle work.
    pub wait: Duration,
    /// How often the log is polled directly when NATS brings nothing.
    pub pg_poll: Duration,
    /// Read the log directly when further behind its head than this.
    pub catchup_threshold: i64,
    /// Events per batch when reading the log directly.
    pub catchup_page: i64,
    /// How often the log's head is read for the lag metrics.
    pub head_interval: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            nats_batch: 500,
            wait: Duration::from_millis(100),
            pg_poll: Duration::from_millis(250),
            catchup_threshold: 10_000,
            catchup_page: 5_000,
            head_interval: Duration::from_secs(1),
        }
    }
}

/// Drives one projection until cancelled. Build with [`Runtime::new`].
pub struct Runtime<P: Projection> {
    projection: P,
    namespace: String,
    pool: PgPool,
    js: jetstream::Context,
    opts: RuntimeOptions,
    /// Last position handed to the projection.
    applied: i64,
    /// Last position the projection has made durable (and visible).
    durable: i64,
    head: i64,
    head_read_at: Option<Instant>,
    last_recorded_at: Option<DateTime<Utc>>,
    messages: Option<pull::Stream>,
    recreate_consumer: bool,
    pg_polled_at: Instant,
    /// When to try opening the consumer again after it was unavailable.
    bus_retry_at: Instant,
    /// The next wait before retrying the consumer (doubles up to [`BUS_RETRY_MAX`]).
    bus_backoff: Duration,
    /// Consecutive log polls that found events NATS had not delivered.
    pg_hits: u32,
    position: watch::Sender<i64>,
    /// The chunks this process's relay published, decoded
    /// ([`Runtime::with_published`]).
    published: Option<Published>,
}

impl<P: Projection> Runtime<P> {
    /// A runtime for `projection` reading `{namespace}-events` and the log in `pool`.
    pub fn new(
        projection: P,
        namespace: &str,
        pool: PgPool,
        nats: async_nats::Client,
        opts: RuntimeOptions,
    ) -> Self {
        Self {
            projection,
            namespace: namespace.to_owned(),
            pool,
            js: bus::context(nats),
            opts,
            applied: 0,
            durable: 0,
            head: 0,
            head_read_at: None,
            last_recorded_at: None,
            messages: None,
            recreate_consumer: false,
            pg_polled_at: Instant::now(),
            bus_retry_at: Instant::now(),
            bus_backoff: BUS_RETRY_FIRST,
            pg_hits: 0,
            position: watch::channel(0).0,
            published: None,
        }
    }

    /// Take the events of messages this process's relay published from
    /// `published` instead of decoding them.
    pub fn with_published(mut self, published: Published) -> Self {
        self.published = Some(published);
        self
    }

    /// The durable (queryable) position of the projection, updated as it moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.position.subscribe()
    }

    /// Run until cancelled; survives NATS, Redis and Postgres restarts.
    /// Returns the projection (flushed) so a caller may inspect it.
    pub async fn run(mut self, cancel: CancellationToken) -> P {
        let name = self.projection.name().as_str();
        let mut backoff = Backoff::new();
        loop {
            match self.projection.checkpoint().await {
                Ok(cp) => {
                    self.applied = cp;
                    self.set_durable(cp);
                    break;
                }
                Err(e) => {
                    warn!(projection = name, error = %e, "cannot read projection checkpoint");
                    if !backoff.wait(&cancel).await {
                        return self.projection;
                    }
                }
            }
        }
        info!(
            projection = name,
            checkpoint = self.applied,
            "projection started"
        );
        backoff.reset();
        while !cancel.is_cancelled() {
            match self.step(&cancel).await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    warn!(projection = name, applied = self.applied, error = %e, "projection step failed");
                    self.messages = None;
                    if !backoff.wait(&cancel).await {
                        break;
                    }
                    // A failed apply may have lost work the projection had
                    // not made durable yet (a search index reopened after an
                    // error): carry on from what is really stored.
                    if let Ok(cp) = self.projection.checkpoint().await {
                        self.applied = cp;
                        self.durable = cp;
                    }
                }
            }
        }
        if let Err(e) = self.flush(true).await {
            warn!(projection = name, error = %e, "final flush failed");
        }
        info!(
            projection = name,
            position = self.durable,
            "projection stopped"
        );
        self.projection
    }

    async fn step(&mut self, cancel: &CancellationToken) -> Result<()> {
        self.refresh_head().await;
        if self.head - self.applied > self.opts.catchup_threshold {
            return self.catch_up(cancel).await;
        }
        if self.messages.is_none() {
            // NATS (or the stream) may be gone: keep up from the log at the
            // log-poll pace meanwhile, and retry the bus on its own backoff,
            // so neither waits on the other's pacing.
            if Instant::now() < self.bus_retry_at {
                self.poll_log().await?;
                let until_retry = self.bus_retry_at.saturating_duration_since(Instant::now());
                backoff::sleep(self.opts.pg_poll.min(until_retry), cancel).await;
                return Ok(());
            }
            if let Err(e) = self.open_consumer().await {
                debug!(projection = self.projection.name().as_str(), error = %e, "consumer unavailable");
                self.bus_retry_at = Instant::now() + self.bus_backoff;
                self.bus_backoff = (self.bus_backoff * 2).min(BUS_RETRY_MAX);
                self.poll_log().await?;
                return Ok(());
            }
            self.bus_backoff = BUS_RETRY_FIRST;
        }
        let batch = self.next_batch(cancel).await?;
        if batch.is_empty() {
            self.flush(false).await?;
            if self.pg_polled_at.elapsed() >= self.opts.pg_poll {
                self.verify().await?;
                self.idle_poll().await?;
            }
            return Ok(());
        }
        self.apply_messages(batch).await
    }

    async fn apply(&mut self, events: &[StoredEvent]) -> Result<()> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let durable = self.projection.apply_batch(events).await?;
        self.applied = self.applied.max(last.position);
        self.head = self.head.max(self.applied);
        self.last_recorded_at = Some(last.recorded_at);
        self.set_durable(durable);
        Ok(())
    }

    /// Read the log directly until close to its head, then start the
    /// consumer afresh at the end of the stream (what it misses in between
    /// is a hole the next batch or poll fills from the log).
    async fn catch_up(&mut self, cancel: &CancellationToken) -> Result<()> {
        info!(
            projection = self.projection.name().as_str(),
            from = self.applied,
            head = self.head,
            "catching up from the log"
        );
        self.messages = None;
        self.recreate_consumer = true;
        loop {
            let page = source::read_after(&self.pool, self.applied, self.opts.catchup_page).await?;
            let full = page.len() as i64 >= self.opts.catchup_page;
            self.apply(&page).await?;
            self.flush(false).await?;
            if !full || cancel.is_cancelled() {
                break;
            }
        }
        self.pg_polled_at = Instant::now();
        info!(
            projection = self.projection.name().as_str(),
            applied = self.applied,
            "caught up from the log"
        );
        Ok(())
    }

    /// Apply whatever the log has beyond `applied` (one page); whether
    /// there was anything.
    async fn poll_log(&mut self) -> Result<bool> {
        self.pg_polled_at = Instant::now();
        let page = source::read_after(&self.pool, self.applied, self.opts.catchup_page).await?;
        self.apply(&page).await?;
        Ok(!page.is_empty())
    }

    /// The idle poll of the log, which also watches the consumer: when the
    /// log keeps having events the consumer never brought, the consumer is
    /// probably stuck on a lost stream, and is started afresh.
    async fn idle_poll(&mut self) -> Result<()> {
        if !self.poll_log().await? {
            self.pg_hits = 0;
            return Ok(());
        }
        self.pg_hits += 1;
        if self.pg_hits >= 3 && self.messages.is_some() {
            warn!(
                projection = self.projection.name().as_str(),
                "consumer lagging behind the log, recreating it"
            );
            self.messages = None;
            self.recreate_consumer = true;
            self.pg_hits = 0;
        }
        Ok(())
    }

    async fn flush(&mut self, force: bool) -> Result<()> {
        if self.durable < self.applied {
            let d = self.projection.flush(force).await?;
            self.set_durable(d);
        }
        Ok(())
    }

    /// Ask the projection for its durable checkpoint even with nothing
    /// pending: a store that lost data (a flushed Redis) is noticed while
    /// idle too, and the error makes [`Runtime::run`] resume from what is
    /// really stored.
    async fn verify(&mut self) -> Result<()> {
        let d = self.projection.flush(false).await?;
        if d > self.durable {
            self.set_durable(d);
        }
        Ok(())
    }

    async fn refresh_head(&mut self) {
        if self
            .head_read_at
            .is_some_and(|t| t.elapsed() < self.opts.head_interval)
        {
            return;
        }
        match source::head(&self.pool).await {
            Ok(h) => {
                self.head = h.max(self.applied);
                self.head_read_at = Some(Instant::now());
                self.report_lag();
            }
            Err(e) => debug!(error = %e, "cannot read the log head"),
        }
    }

    fn set_durable(&mut self, durable: i64) {
        self.durable = durable;
        self.position.send_if_modified(|p| {
            let moved = durable > *p;
            *p = (*p).max(durable);
            moved
        });
        self.report_lag();
    }

    fn report_lag(&self) {
        let name = self.projection.name().as_str();
        let lag = (self.head - self.durable).max(0);
        let seconds = match self.last_recorded_at {
            Some(at) if lag > 0 => (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0,
            _ => 0.0,
        };
        metrics::gauge!("cotalk_projection_position", "projection" => name)
            .set(self.durable as f64);
        metrics::gauge!("cotalk_projection_lag_events", "projection" => name).set(lag as f64);
        metrics::gauge!("cotalk_projection_lag_seconds", "projection" => name).set(seconds);
    }
}
