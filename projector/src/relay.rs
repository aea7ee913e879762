//! The relay: copies the event log, in position order, onto JetStream.
//!
//! Gap safety comes from the store (appends are serialised, so positions
//! become visible in increasing order and `position > checkpoint` never
//! skips a committed event). The relay only has to be at-least-once: it
//! publishes a page as a few messages of consecutive events
//! ([`envelope::encode_chunks`]), waits for every publish ack, and only then
//! moves its checkpoint. The checkpoint is stored in `relay_checkpoints` at
//! most every [`RelayOptions::checkpoint_interval`] while busy and whenever
//! idle, not after every page (a transaction each). A crash republishes what
//! followed the stored checkpoint; `Nats-Msg-Id` (the chunk's first and last
//! position) makes the server drop a copy with the same bounds, and
//! projections drop anything at or below their own checkpoint.
//!
//! When the command side runs in the same process, every committed batch
//! wakes the relay ([`RelayOptions::appended`]); appends of other processes
//! are found by polling every [`RelayOptions::idle_poll`]. Each chunk is
//! kept with the events it was encoded from ([`Relay::with_published`]), so
//! the projections of this process need not decode it again.
//!
//! JetStream is not trusted to keep what it acked: the relay checks the stream
//! on every publish error and every few seconds. A missing stream, or one
//! whose last sequence is below the last sequence the relay saw acked (deleted
//! and recreated, or lost after a crash), is recreated and refilled from an
//! earlier position (see [`RelayOptions::republish_window`]). Projections that
//! need older events read them from Postgres.

use crate::backoff::{self, Backoff};
use crate::bus::{self, StreamLimits, POSITION_HEADER};
use crate::envelope;
use crate::error::{ProjectorError, Result};
use crate::published::Published;
use crate::source;
use async_nats::jetstream::{self, message::PublishMessage};
use domain::event::StoredEvent;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How the relay paces itself.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Events read from the log and published per round.
    pub page_size: i64,
    /// Pause between polls of the log when nothing new was there.
    pub idle_poll: Duration,
    /// How often the stream's health is checked when nothing fails.
    pub health_interval: Duration,
    /// Limits of the JetStream stream.
    pub limits: StreamLimits,
    /// After the stream was lost, republish at most this many positions
    /// before the relay's checkpoint (`None` = from the start of the log).
    pub republish_window: Option<i64>,
    /// Longest a busy relay goes without storing its checkpoint.
    pub checkpoint_interval: Duration,
    /// Most bytes of events per published message.
    pub chunk_bytes: usize,
    /// Notified by this process's event store after each committed batch.
    pub appended: Option<Arc<Notify>>,
    /// Least time between the starts of two rounds woken by appends (the
    /// server sets it from `COTALK_RELAY_ROUND_GAP_MS`).
    pub min_round_gap: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        let limits = StreamLimits::default();
        Self {
            page_size: 1000,
            idle_poll: Duration::from_millis(10),
            health_interval: Duration::from_secs(2),
            republish_window: Some(1_000_000),
            limits,
            checkpoint_interval: Duration::from_millis(250),
            // Well inside NATS's default 1 MiB max_payload.
            chunk_bytes: 256 << 10,
            appended: None,
            min_round_gap: Duration::from_millis(5),
        }
    }
}

/// The relay of one namespace. Create with [`Relay::new`], drive with [`Relay::run`].
pub struct Relay {
    namespace: String,
    pool: PgPool,
    js: jetstream::Context,
    opts: RelayOptions,
    checkpoint: i64,
    /// The checkpoint as last stored, and when.
    stored: i64,
    stored_at: Instant,
    /// When the last round that published something started (idle polls
    /// do not count: after a quiet spell an append is relayed at once).
    round_at: Instant,
    /// Highest stream sequence the server acknowledged to us since the
    /// stream was (re)created: the stream's last sequence must never be lower.
    acked_seq: u64,
    stream_ok: bool,
    last_health: Instant,
    position: watch::Sender<i64>,
    /// Where each chunk is kept with its events for the projections of
    /// this process ([`Relay::with_published`]).
    published: Option<Published>,
}

impl Relay {
    /// A relay publishing the log of `pool` to the `{namespace}-events` stream.
    pub fn new(
        namespace: &str,
        pool: PgPool,
        nats: async_nats::Client,
        opts: RelayOptions,
    ) -> Self {
        Self {
            namespace: namespace.to_owned(),
            pool,
            js: bus::context(nats),
            opts,
            checkpoint: 0,
            stored: 0,
            stored_at: Instant::now(),
            round_at: Instant::now(),
            acked_seq: 0,
            stream_ok: false,
            last_health: Instant::now(),
            position: watch::channel(0).0,
            published: None,
        }
    }

    /// Keep every chunk published with its events in `published`, for the
    /// projections of this process to take rather than decode.
    pub fn with_published(mut self, published: Published) -> Self {
        self.published = Some(published);
        self
    }

    /// The position up to which every event has been published and acked.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.position.subscribe()
    }

    /// Relay until cancelled, surviving Postgres and NATS restarts.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            match load_checkpoint(&self.pool, &self.namespace).await {
                Ok(cp) => {
                    self.set_checkpoint(cp);
                    self.stored = cp;
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "relay cannot read its checkpoint");
                    if !backoff.wait(&cancel).await {
                        return;
                    }
                }
            }
        }
        info!(namespace = %self.namespace, checkpoint = self.checkpoint, "relay started");
        backoff.reset();
        while !cancel.is_cancelled() {
            match self.round().await {
                Ok(true) => backoff.reset(),
                Ok(false) => {
                    backoff.reset();
                    if !self.idle(&cancel).await {
                        break;
                    }
                }
                Err(e) => {
                    warn!(error = %e, checkpoint = self.checkpoint, "relay round failed");
                    self.stream_ok = false;
                    if !backoff.wait(&cancel).await {
                        break;
                    }
                }
            }
        }
        if let Err(e) = self.store().await {
            warn!(error = %e, checkpoint = self.checkpoint, "relay cannot store its checkpoint on stopping");
        }
        info!(namespace = %self.namespace, checkpoint = self.checkpoint, "relay stopped");
    }

    /// Nothing new in the log: store the checkpoint if it is due, then wait
    /// for this process's next append or the next poll. `false` when cancelled.
    async fn idle(&mut self, cancel: &CancellationToken) -> bool {
        if self.stored_at.elapsed() >= self.opts.checkpoint_interval {
            if let Err(e) = self.store().await {
                // The next round stores it again.
                warn!(error = %e, checkpoint = self.checkpoint, "relay cannot store its checkpoint");
            }
        }
        let Some(appended) = self.opts.appended.clone() else {
            return backoff::sleep(self.opts.idle_poll, cancel).await;
        };
        tokio::select! {
            _ = cancel.cancelled() => return false,
            () = appended.notified() => {}
            () = tokio::time::sleep(self.opts.idle_poll) => return true,
        }
        // Woken by an append: unless the last round that published anything
        // started at least `min_round_gap` ago, let the appends until then
        // join it, so that under load a stream of small batches does not
        // become as many messages and projector batches downstream.
        let gap = self
            .opts
            .min_round_gap
            .saturating_sub(self.round_at.elapsed());
        backoff::sleep(gap, cancel).await
    }

    /// Store the checkpoint if it moved since it was last stored.
    async fn store(&mut self) -> Result<()> {
        if self.stored != self.checkpoint {
            store_checkpoint(&self.pool, &self.namespace, self.checkpoint).await?;
            self.stored = self.checkpoint;
        }
        self.stored_at = Instant::now();
        Ok(())
    }

    /// One poll of the log; `Ok(true)` when a full page was published (so
    /// more is probably waiting).
    async fn round(&mut self) -> Result<bool> {
        let started = Instant::now();
        if !self.stream_ok || self.last_health.elapsed() >= self.opts.health_interval {
            self.check_stream().await?;
        }
        let page = source::read_after(&self.pool, self.checkpoint, self.opts.page_size).await?;
        let Some(last) = page.last().map(|e| e.position) else {
            return Ok(false);
        };
        self.round_at = started;
        let count = page.len();
        if let Err(e) = self.publish(page).await {
            // The most likely cause of a failed publish is a missing stream:
            // look now rather than at the next health check.
            self.check_stream().await?;
            return Err(e);
        }
        self.set_checkpoint(last);
        if self.stored_at.elapsed() >= self.opts.checkpoint_interval {
            self.store().await?;
        }
        metrics::counter!("cotalk_relay_published_total").increment(count as u64);
        Ok(count as i64 >= self.opts.page_size)
    }

    /// Publish the page as chunks of consecutive events, then wait for all
    /// the acks: the publishes are pipelined, the page is only done when all
    /// are stored.
    async fn publish(&mut self, page: Vec<StoredEvent>) -> Result<()> {
        let chunks = envelope::encode_chunks(&page, self.opts.chunk_bytes);
        let mut events = page.into_iter().peekable();
        let mut acks = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let body = bytes::Bytes::from(chunk.body);
            if let Some(published) = &self.published {
                let mut of_chunk = Vec::new();
                while let Some(e) = events.next_if(|e| e.position <= chunk.last) {
                    of_chunk.push(e);
                }
                // Before the publish: a consumer may have the message
                // before this relay has the ack.
                published.put(chunk.last, body.clone(), of_chunk.into());
            }
            let msg = PublishMessage::build()
                .message_id(format!("{}-{}", chunk.first, chunk.last))
                .header(POSITION_HEADER, chunk.last.to_string().as_str())
                .payload(body);
            let ack = self
                .js
                .send_publish(bus::events_subject(&self.namespace), msg)
                .await
                .map_err(ProjectorError::nats)?;
            acks.push(ack);
        }
        for ack in acks {
            let ack = ack.await.map_err(ProjectorError::nats)?;
            self.acked_seq = self.acked_seq.max(ack.sequence);
        }
        Ok(())
    }

    /// Make sure the stream exists and still holds what it acknowledged.
    async fn check_stream(&mut self) -> Result<()> {
        self.last_health = Instant::now();
        let info = bus::stream_info(&self.js, &self.namespace).await?;
        // Only a stream found missing or truncated is created here. One
        // found whole is taken as found: creating it "if missing" would
        // create a new one if it were deleted since the look, and this relay
        // would then take that empty stream for its own, holding none of what
        // it acknowledged, and delete it as truncated after the next
        // publishes, with them.
        let whole = info
            .as_ref()
            .filter(|i| i.state.last_sequence >= self.acked_seq);
        if let Some(whole) = whole {
            if !self.stream_ok {
                debug!(namespace = %self.namespace, "jetstream stream present");
                self.skip_published(whole).await?;
            }
        } else {
            let from = match self.opts.republish_window {
                Some(w) => (self.checkpoint - w).max(0),
                None => 0,
            };
            warn!(
                namespace = %self.namespace,
                exists = info.is_some(),
                acked_seq = self.acked_seq,
                republish_from = from,
                "jetstream stream lost or truncated, recreating it"
            );
            if info.is_some() {
                // A stream that forgot acked messages also forgot their
                // de-duplication ids; start it afresh.
                self.js
                    .delete_stream(bus::stream_name(&self.namespace))
                    .await
                    .map_err(ProjectorError::nats)?;
            }
            bus::ensure_stream(&self.js, &self.namespace, &self.opts.limits).await?;
            // The relay's own state first: should storing the checkpoint
            // fail, the next round still finds the stream whole and goes on
            // from `from`; the stored checkpoint follows with the next store.
            self.acked_seq = 0;
            self.set_checkpoint(from);
            store_checkpoint(&self.pool, &self.namespace, from).await?;
            self.stored = from;
        }
        self.stream_ok = true;
        Ok(())
    }

    /// After a start or an error: move past what the stream already holds
    /// beyond the checkpoint (a page acked but not stored as the checkpoint,
    /// or published by the relay this one took over from), so it is not
    /// published twice: chunks republished from another start would carry
    /// other message ids than the copies already there. Only when the log
    /// holds the very event the stream ends with, so a stream left from
    /// another log is never taken at its word.
    async fn skip_published(&mut self, info: &async_nats::jetstream::stream::Info) -> Result<()> {
        let Some((position, event_id)) = bus::tail(&self.js, &self.namespace, info).await? else {
            return Ok(());
        };
        if position <= self.checkpoint {
            return Ok(());
        }
        let in_log = source::read_between(&self.pool, position - 1, position + 1).await?;
        if in_log.first().map(|e| e.event_id) == Some(event_id) {
            info!(namespace = %self.namespace, from = self.checkpoint, to = position, "the stream already holds these positions");
            self.set_checkpoint(position);
        } else {
            warn!(namespace = %self.namespace, position, "the stream ends with an event the log does not hold there; republishing from the checkpoint");
        }
        Ok(())
    }

    fn set_checkpoint(&mut self, cp: i64) {
        self.checkpoint = cp;
        self.position.send_replace(cp);
        metrics::gauge!("cotalk_relay_position").set(cp as f64);
    }
}

/// The relay's stored checkpoint (0 before its first round).
pub async fn load_checkpoint(pool: &PgPool, namespace: &str) -> Result<i64> {
    let cp: Option<i64> =
        sqlx::query_scalar("SELECT position FROM relay_checkpoints WHERE name = $1")
            .bind(namespace)
            .fetch_optional(pool)
            .await?;
    Ok(cp.unwrap_or(0))
}

async fn store_checkpoint(pool: &PgPool, namespace: &str, position: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (name, position) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
    )
    .bind(namespace)
    .bind(position)
    .execute(pool)
    .await?;
    Ok(())
}
