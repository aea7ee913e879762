//! One WebSocket connection: join the hub, send the replayed frames, then
//! the live ones from the connection's bounded queue, ping, and close with
//! a code that says why.

use super::hub::{Outbox, Refused, Registration, StreamHub};
use super::load::{load, Loaded};
use super::{close, Close};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use domain::UserId;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

/// Frames written per flush at most (the rest wait for the next round).
const WRITE_BATCH: usize = 256;
/// How long a close frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Initial reads retried when the hub's ring no longer covers them.
const STALE_RETRIES: usize = 3;

const GOING_AWAY: Close = Close {
    code: close::GOING_AWAY,
    reason: "server shutting down",
};
const TRY_AGAIN: Close = Close {
    code: close::TRY_AGAIN,
    reason: "stream unavailable, try again",
};
const TOO_SLOW: Close = Close {
    code: close::TOO_SLOW,
    reason: "client too slow",
};
const NO_PONG: Close = Close {
    code: close::TOO_SLOW,
    reason: "no pong",
};

type Sink = SplitSink<WebSocket, Message>;

/// Serve one upgraded connection of `me` until it ends.
pub(crate) async fn run(
    socket: WebSocket,
    hub: StreamHub,
    me: UserId,
    after: Option<i64>,
    loaded: Loaded,
) {
    let (mut sink, mut incoming) = socket.split();
    let opts = hub.opts().clone();
    let (tx, mut rx) = mpsc::channel(opts.queue.max(1));
    let closed = Arc::new(OnceLock::new());
    let Some((registration, replay)) = join(&hub, me, after, loaded, &tx, &closed).await else {
        let _ = send_close(&mut sink, TRY_AGAIN).await;
        return;
    };
    // Only the hub sends from now on: when it drops this connection, the
    // queue ends after what it holds.
    drop(tx);
    if write_all(&mut sink, replay, opts.write_timeout)
        .await
        .is_err()
    {
        return;
    }
    let mut ping =
        tokio::time::interval_at(Instant::now() + opts.ping_interval, opts.ping_interval);
    let mut heard = Instant::now();
    let why = loop {
        tokio::select! {
            biased;
            _ = hub.cancel().cancelled() => break Some(GOING_AWAY),
            out = rx.recv() => match out {
                Some(first) if closed.get().is_none() => {
                    if write(&mut sink, first, &mut rx, opts.write_timeout).await.is_err() {
                        // A client that cannot take a write in time is gone
                        // or too slow; a close frame would not get through.
                        metrics::counter!("cotalk_stream_write_timeouts_total").increment(1);
                        break None;
                    }
                }
                _ => break Some(closed.get().copied().unwrap_or(TOO_SLOW)),
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
                    break None;
                }
                // Clients have nothing to say; anything counts as alive.
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(e)) => {
                    debug!(error = %e, "stream read failed");
                    break None;
                }
                None => break None,
            },
            _ = ping.tick() => {
                if heard.elapsed() > opts.pong_timeout {
                    break Some(NO_PONG);
                }
                let ping = sink.send(Message::Ping(Default::default()));
                if !matches!(tokio::time::timeout(opts.write_timeout, ping).await, Ok(Ok(()))) {
                    break None;
                }
            }
        }
    };
    if let Some(why) = why {
        let _ = send_close(&mut sink, why).await;
    }
    drop(registration);
}

/// Join the hub, reading the initial state again if the hub's ring no longer
/// covers the first read. `None` when the stream cannot start now.
async fn join(
    hub: &StreamHub,
    me: UserId,
    after: Option<i64>,
    mut loaded: Loaded,
    tx: &mpsc::Sender<Utf8Bytes>,
    closed: &Arc<OnceLock<Close>>,
) -> Option<(Registration, Vec<Utf8Bytes>)> {
    for _ in 0..=STALE_RETRIES {
        let out = Outbox {
            tx: tx.clone(),
            closed: closed.clone(),
        };
        match hub.activate(me, loaded.rooms, loaded.baseline, loaded.since, out) {
            Ok(r) => return Some((r, loaded.replay)),
            Err(Refused::Stale) => {
                loaded = load(hub.state(), me, after).await.ok()?;
            }
            Err(Refused::NotReady | Refused::TooSlow) => return None,
        }
    }
    None
}

/// Write `frames` with one flush, within `limit`.
async fn write_all(
    sink: &mut Sink,
    frames: impl IntoIterator<Item = Utf8Bytes>,
    limit: Duration,
) -> Result<(), ()> {
    let mut n = 0u64;
    let all = async {
        for text in frames {
            sink.feed(Message::Text(text)).await?;
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        sink.flush().await
    };
    match tokio::time::timeout(limit, all).await {
        Ok(Ok(())) => {
            metrics::counter!("cotalk_stream_frames_sent_total").increment(n);
            Ok(())
        }
        _ => Err(()),
    }
}

/// Write `first` and whatever else is queued (up to [`WRITE_BATCH`]) with
/// one flush.
async fn write(
    sink: &mut Sink,
    first: Utf8Bytes,
    rx: &mut mpsc::Receiver<Utf8Bytes>,
    limit: Duration,
) -> Result<(), ()> {
    let queued = std::iter::from_fn(|| rx.try_recv().ok()).take(WRITE_BATCH - 1);
    write_all(sink, std::iter::once(first).chain(queued), limit).await
}

async fn send_close(sink: &mut Sink, why: Close) -> Result<(), ()> {
    metrics::counter!("cotalk_stream_closed_total", "code" => why.code.to_string()).increment(1);
    let frame = CloseFrame {
        code: why.code,
        reason: Utf8Bytes::from_static(why.reason),
    };
    match tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
