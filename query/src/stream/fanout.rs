//! The hub's NATS side: one subscription to `{ns}.frames.>` per node.
//!
//! NATS core delivers at most once, so anything that may lose frames makes
//! the hub close its connections for them to resume from Redis: a
//! disconnection (frames published meanwhile are gone), a slow-consumer
//! drop in the client, a hole in a publisher's sequence, or a message that
//! starts past the positions received so far (a projector that died with a
//! batch applied but not published; seen by the hub, for room frames and
//! for notifications each on its own chain).
//! The hub accepts connections only once the subscription is confirmed by
//! the server (a flush after connecting), so a connection never starts on a
//! subscription that is not there yet.

use super::hub::{Covers, Live, StreamHub};
use super::StreamError;
use super::Text;
use async_nats::Event;
use domain::frame::FrameBatch;
use futures::StreamExt;
use readmodel::subjects::{self, all_frames, is_user_frames};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// How often a hub that is not ready checks whether it can be.
const READY_CHECK: Duration = Duration::from_millis(500);
/// Pending messages per subscription in the NATS client before it drops
/// some (and reports a slow consumer).
const SUBSCRIPTION_CAPACITY: usize = 1 << 16;

/// Connect, subscribe and spawn the task feeding `hub` until it is cancelled.
pub(super) async fn start(hub: StreamHub, nats_url: &str) -> Result<(), StreamError> {
    let (events_tx, events) = mpsc::channel::<Event>(64);
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .event_callback(move |event| {
            let tx = events_tx.clone();
            async move {
                // Only state changes matter and the task drains quickly; a
                // full channel means a burst of the same events.
                let _ = tx.try_send(event);
            }
        })
        .connect(readmodel::subjects::servers(nats_url))
        .await
        .map_err(|e| StreamError::Nats(e.to_string()))?;
    let subject = all_frames(hub.state().namespace());
    let subscriber = client
        .subscribe(subject)
        .await
        .map_err(|e| StreamError::Nats(e.to_string()))?;
    hub.set_nats(client.clone());
    super::live::start(hub.clone(), client.clone())
        .await
        .map_err(|e| StreamError::Nats(e.to_string()))?;
    tokio::spawn(run(hub, client, subscriber, events));
    Ok(())
}

async fn run(
    hub: StreamHub,
    client: async_nats::Client,
    mut subscriber: async_nats::Subscriber,
    mut events: mpsc::Receiver<Event>,
) {
    let cancel = hub.cancel().clone();
    let notified = subjects::notified(hub.state().namespace());
    let mut check = tokio::time::interval(READY_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            message = subscriber.next() => match message {
                Some(m) => {
                    let namespace = hub.state().namespace();
                    if is_user_frames(namespace, m.subject.as_str()) {
                        receive_user(&hub, &m.payload);
                    } else if m.subject.as_str() == notified.as_str() {
                        receive_notified(&hub, &m.payload);
                    } else {
                        receive(&hub, &m.payload);
                    }
                }
                None => {
                    // The client closed the subscription (it never does
                    // while the client lives); subscribe again.
                    hub.set_ready(false, "subscription ended");
                    match client.subscribe(all_frames(hub.state().namespace())).await {
                        Ok(s) => subscriber = s,
                        Err(e) => {
                            warn!(error = %e, "cannot subscribe to frames");
                            tokio::time::sleep(READY_CHECK).await;
                        }
                    }
                }
            },
            event = events.recv() => match event {
                Some(Event::Disconnected) => hub.set_ready(false, "nats disconnected"),
                Some(Event::SlowConsumer(_)) => hub.interrupt("nats slow consumer"),
                Some(Event::Connected) => confirm(&hub, &client).await,
                Some(other) => debug!(event = %other, "nats event"),
                None => {}
            },
            _ = check.tick() => {
                if !hub.ready() {
                    confirm(&hub, &client).await;
                }
            }
        }
    }
    let _ = client.drain().await;
}

/// Mark the hub ready once the server has confirmed the subscription (a
/// flush is a round trip after the `SUB`).
async fn confirm(hub: &StreamHub, client: &async_nats::Client) {
    if hub.ready() || client.connection_state() != async_nats::connection::State::Connected {
        return;
    }
    match tokio::time::timeout(Duration::from_secs(2), client.flush()).await {
        Ok(Ok(())) => hub.set_ready(true, "subscribed"),
        Ok(Err(e)) => debug!(error = %e, "nats flush failed"),
        Err(_) => debug!("nats flush timed out"),
    }
}

/// Decode one message and hand its frames to the hub. Serialising each
/// frame for clients is done here, outside the hub's lock.
fn receive(hub: &StreamHub, payload: &[u8]) {
    let batch: FrameBatch = match serde_json::from_slice(payload) {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "undecodable frame message");
            return;
        }
    };
    let mut lives = Vec::with_capacity(batch.frames.len());
    for frame in batch.frames {
        match serde_json::to_string(&frame) {
            Ok(text) => lives.push(Arc::new(Live {
                frame,
                text: Text::from(text),
            })),
            Err(e) => warn!(error = %e, "cannot encode frame"),
        }
    }
    metrics::counter!("cotalk_stream_frames_received_total").increment(lives.len() as u64);
    let covers = Covers {
        after: batch.after,
        upto: batch.upto,
    };
    hub.dispatch(batch.publisher, batch.seq, covers, lives);
}

/// Decode one message of a user's own frames (notifications) and hand it
/// to the hub.
fn receive_user(hub: &StreamHub, payload: &[u8]) {
    let batch: domain::notification::NotificationBatch = match serde_json::from_slice(payload) {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "undecodable user frame message");
            return;
        }
    };
    let mut texts = Vec::with_capacity(batch.frames.len());
    for frame in &batch.frames {
        match serde_json::to_string(frame) {
            Ok(text) => texts.push(Text::from(text)),
            Err(e) => warn!(error = %e, "cannot encode frame"),
        }
    }
    metrics::counter!("cotalk_stream_frames_received_total").increment(texts.len() as u64);
    hub.dispatch_user(batch.publisher, batch.seq, batch.user_id, texts);
}

/// Decode what one committed batch of notifications covered and hand it to
/// the hub.
fn receive_notified(hub: &StreamHub, payload: &[u8]) {
    match serde_json::from_slice::<domain::notification::NotificationsCovered>(payload) {
        Ok(c) => hub.dispatch_notified(
            c.publisher,
            c.seq,
            Covers {
                after: c.after,
                upto: c.upto,
            },
        ),
        Err(e) => warn!(error = %e, "undecodable notification covers"),
    }
}
