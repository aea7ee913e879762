//! The bus side of the runtime: the durable consumer, batches of messages,
//! and the check that a batch follows on from what was applied.

use super::{Projection, Runtime};
use crate::bus;
use crate::envelope;
use crate::error::{ProjectorError, Result};
use crate::source;
use async_nats::jetstream::{self, consumer::pull};
use domain::event::StoredEvent;
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Most bytes of messages applied as one batch (and pulled at once): a
/// message carries a run of events, up to the relay's chunk size.
const MAX_BATCH_BYTES: usize = 4 << 20;

impl<P: Projection> Runtime<P> {
    /// Wait up to `opts.wait` for one message, then take whatever else is
    /// already buffered, up to `opts.nats_batch` messages or
    /// [`MAX_BATCH_BYTES`].
    pub(super) async fn next_batch(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<Vec<jetstream::Message>> {
        let Some(messages) = self.messages.as_mut() else {
            return Ok(Vec::new());
        };
        let first = tokio::select! {
            m = messages.next() => m,
            _ = tokio::time::sleep(self.opts.wait) => return Ok(Vec::new()),
            _ = cancel.cancelled() => return Ok(Vec::new()),
        };
        let mut batch = match first {
            Some(Ok(m)) => vec![m],
            Some(Err(e)) => {
                self.messages = None;
                return Err(ProjectorError::nats(e));
            }
            None => {
                self.messages = None;
                return Err(ProjectorError::Nats("consumer stream ended".into()));
            }
        };
        let mut bytes = batch[0].payload.len();
        while batch.len() < self.opts.nats_batch && bytes < MAX_BATCH_BYTES {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => {
                    bytes += m.payload.len();
                    batch.push(m);
                }
                Some(Some(Err(e))) => {
                    // Apply what arrived; reopen the consumer next round.
                    debug!(error = %e, "consumer stream error after a partial batch");
                    self.messages = None;
                    break;
                }
                Some(None) => {
                    self.messages = None;
                    break;
                }
                None => break,
            }
        }
        Ok(batch)
    }

    pub(super) async fn apply_messages(&mut self, batch: Vec<jetstream::Message>) -> Result<()> {
        let mut fresh: Vec<StoredEvent> = Vec::with_capacity(batch.len());
        let mut cursor = self.applied;
        // Skipping what does not decode is safe: its positions show up as a
        // hole and are read from the log.
        let projection = self.projection.name().as_str();
        let skipped = |e: &envelope::EnvelopeError| warn!(projection, error = %e, "undecodable event skipped");
        for m in &batch {
            let shared = self
                .published
                .as_ref()
                .and_then(|published| published.get(bus::last_position(m)?, &m.payload));
            metrics::counter!(
                "cotalk_projection_messages_total",
                "projection" => projection,
                "decoded" => if shared.is_some() { "by_relay" } else { "here" }
            )
            .increment(1);
            if let Some(events) = shared {
                for e in events.iter() {
                    if e.position > cursor {
                        cursor = e.position;
                        fresh.push(e.clone());
                    }
                }
                continue;
            }
            let events = match envelope::decode_all(&m.payload) {
                Ok(events) => events,
                Err(e) => {
                    skipped(&e);
                    continue;
                }
            };
            for event in events {
                match event {
                    // A republished copy can come after later events: keep
                    // only what moves forward, holes are checked against the
                    // log below.
                    Ok(e) if e.position > cursor => {
                        cursor = e.position;
                        fresh.push(e);
                    }
                    Ok(_) => {}
                    Err(e) => skipped(&e),
                }
            }
        }
        if let Some(last) = fresh.last().map(|e| e.position) {
            let held = fresh.len() as i64;
            let complete = last - self.applied == held
                || source::count_between(&self.pool, self.applied, last).await? == held - 1;
            if complete {
                self.apply(&fresh).await?;
            } else {
                metrics::counter!("cotalk_projection_log_fills_total", "projection" => self.projection.name().as_str())
                    .increment(1);
                debug!(
                    projection = self.projection.name().as_str(),
                    from = self.applied,
                    to = last,
                    "bus lacks events, reading the log"
                );
                let events = source::read_between(&self.pool, self.applied, last + 1).await?;
                for chunk in events.chunks(self.opts.catchup_page.max(1) as usize) {
                    self.apply(chunk).await?;
                }
            }
            self.pg_hits = 0;
        }
        if let Some(m) = batch.last() {
            // AckPolicy::All: one ack covers the batch. A lost ack only means
            // a redelivery, which the checkpoint ignores.
            if let Err(e) = m.ack().await {
                debug!(error = %e, "ack failed");
            }
        }
        Ok(())
    }

    /// Open (or create) the durable consumer and its message stream.
    pub(super) async fn open_consumer(&mut self) -> Result<()> {
        let stream = self
            .js
            .get_stream(bus::stream_name(&self.namespace))
            .await
            .map_err(ProjectorError::nats)?;
        let mut name = bus::consumer_name(
            &self.namespace,
            self.projection.name().as_str(),
            self.projection.generation(),
        );
        let replica = self.projection.replica();
        if let Some(r) = &replica {
            name = format!("{name}-{r}");
        }
        if self.recreate_consumer {
            // Not found is fine: the point is that it is gone.
            let _ = stream.delete_consumer(&name).await;
        }
        let mut created = false;
        let consumer: jetstream::consumer::PullConsumer = match stream.get_consumer(&name).await {
            Ok(c) => c,
            Err(_) => {
                created = true;
                stream
                    .create_consumer(pull::Config {
                        durable_name: Some(name.clone()),
                        // Start at the end: anything older is in the log.
                        deliver_policy: jetstream::consumer::DeliverPolicy::New,
                        ack_policy: jetstream::consumer::AckPolicy::All,
                        ack_wait: Duration::from_secs(60),
                        max_ack_pending: 50_000,
                        inactive_threshold: if replica.is_some() {
                            Duration::from_secs(3600)
                        } else {
                            Duration::ZERO
                        },
                        ..Default::default()
                    })
                    .await
                    .map_err(ProjectorError::nats)?
            }
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.opts.nats_batch)
            .max_bytes_per_batch(MAX_BATCH_BYTES)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(ProjectorError::nats)?;
        self.recreate_consumer = false;
        self.messages = Some(messages);
        info!(projection = self.projection.name().as_str(), consumer = %name, created, "consumer open");
        if created {
            // A new consumer starts at the stream's end. Whatever was
            // appended before this point is read from the log now; anything
            // appended later is published after the consumer existed, so it
            // arrives through it. No hole is left waiting for a poll.
            while self.poll_log().await? {}
            self.pg_hits = 0;
        }
        Ok(())
    }
}
