//! One WebSocket connection: join the hub, send the replayed frames, then
//! the live ones from the connection's bounded queue, ping, and close with
//! a code that says why, at the latest when the session token expires.
//!
//! Closing is orderly: after its close frame the server waits (briefly) for
//! the client's, and after a client broke the protocol (a message over the
//! size limit, say) it also reads and discards what the client still sends
//! before closing the socket, which would otherwise reset the connection
//! (see [`super::upgrade`]).

use super::hub::{Outbox, Refused, Registration, StreamHub};
use super::load::{load, Loaded};
use super::presence;
use super::queue;
use super::upgrade::Socket;
use super::{close, Close, Text};
use domain::UserId;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

/// Frames written per flush at most (the rest wait for the next round).
const WRITE_BATCH: usize = 256;
/// How long a close frame may take to go out, and how long the client's
/// close frame is waited for.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long, and for how many bytes at most, what a client still sends
/// after breaking the protocol is read and discarded before closing.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 16 << 20;
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
const EXPIRED: Close = Close {
    code: close::TOKEN_EXPIRED,
    reason: "token expired",
};
const REVOKED: Close = Close {
    code: close::SESSION_REVOKED,
    reason: "session revoked",
};
/// Sent to a connection over the user's cap.
pub(crate) const TOO_MANY: Close = Close {
    code: close::TOO_MANY_STREAMS,
    reason: "too many streams",
};
const TOO_BIG: Close = Close {
    code: close::TOO_BIG,
    reason: "message too big",
};
const PROTOCOL: Close = Close {
    code: close::PROTOCOL_ERROR,
    reason: "protocol error",
};
const NOT_UTF8: Close = Close {
    code: close::INVALID_DATA,
    reason: "text is not utf-8",
};

type Sink = SplitSink<Socket, Message>;
type Incoming = SplitStream<Socket>;

/// How a connection ends.
enum End {
    /// The client left (or is unreachable): nothing to send.
    Gone,
    /// The server closes with this code.
    Close(Close),
    /// The client broke the protocol: close with this code, then drain.
    Broken(Close),
}

/// Serve one upgraded connection of `me` until it ends, at the latest at
/// `expires` (the token's expiry) or when `session` is revoked.
///
/// This future is the connection's task for its whole life, so its state is
/// kept small (issue 20: memory per idle WebSocket): what runs once or
/// rarely (joining, presence, the heartbeat, the closing handshake) runs
/// boxed, its state allocated only while it runs, and one timer serves
/// both the pings and the expiry.
pub(crate) async fn run(
    socket: Socket,
    hub: StreamHub,
    me: UserId,
    after: Option<i64>,
    loaded: Loaded,
    expires: Instant,
    session: Option<uuid::Uuid>,
) {
    let (mut sink, mut incoming) = socket.split();
    let opts = hub.opts();
    let (tx, mut rx) = queue::channel(opts.queue);
    let closed = Arc::new(OnceLock::new());
    let joined = Box::pin(join(&hub, me, after, loaded, &tx, &closed)).await;
    let (registration, replay) = match joined {
        Ok(joined) => joined,
        Err(why) => return Box::pin(finish(sink, incoming, End::Close(why))).await,
    };
    // Only the hub sends from now on: when it drops this connection, the
    // queue ends after what it holds.
    drop(tx);
    // Online while in the hub (issue 16); the entry goes when this drops.
    let online = Box::pin(presence::Online::open(&hub, me)).await;
    if Box::pin(write_all(&mut sink, replay, opts.write_timeout))
        .await
        .is_err()
    {
        return;
    }
    let mut next_ping = Instant::now() + opts.ping_interval;
    let timer = tokio::time::sleep_until(next_ping.min(expires));
    tokio::pin!(timer);
    let mut heard = Instant::now();
    // Woken by every revocation the node learns of; checked for ours.
    let revoked = || session.is_some_and(|s| hub.state().revoked().contains(s));
    let mut revocations = hub.state().revoked().watch();
    if revoked() {
        drop(registration);
        return Box::pin(finish(sink, incoming, End::Close(REVOKED))).await;
    }
    let end = loop {
        tokio::select! {
            biased;
            _ = hub.cancel().cancelled() => break End::Close(GOING_AWAY),
            () = &mut timer => {
                let now = Instant::now();
                if now >= expires {
                    break End::Close(EXPIRED);
                }
                if now >= next_ping {
                    if heard.elapsed() > opts.pong_timeout {
                        break End::Close(NO_PONG);
                    }
                    if Box::pin(ping(&hub, me, &online.stream, &mut sink)).await.is_err() {
                        break End::Gone;
                    }
                    next_ping = Instant::now() + opts.ping_interval;
                }
                timer.as_mut().reset(next_ping.min(expires));
            },
            changed = revocations.changed(), if session.is_some() => match changed {
                Ok(()) if revoked() => break End::Close(REVOKED),
                Ok(()) => {}
                // The list is gone only with the process.
                Err(_) => break End::Close(GOING_AWAY),
            },
            out = rx.recv() => match out {
                Some(first) if closed.get().is_none() => {
                    if Box::pin(write(&mut sink, first, &mut rx, opts.write_timeout)).await.is_err() {
                        // A client that cannot take a write in time is gone
                        // or too slow; a close frame would not get through.
                        metrics::counter!("cotalk_stream_write_timeouts_total").increment(1);
                        break End::Gone;
                    }
                }
                _ => break End::Close(closed.get().copied().unwrap_or(TOO_SLOW)),
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) => {
                    // The reply is queued by the protocol; send it.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
                    break End::Gone;
                }
                // Clients have nothing to say; anything counts as alive.
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(e)) => match broken(&e) {
                    Some(why) => break End::Broken(why),
                    None => {
                        debug!(error = %e, "stream read failed");
                        break End::Gone;
                    }
                },
                None => break End::Gone,
            },
        }
    };
    // Out of the hub (and of the user's count) before the closing handshake.
    drop(registration);
    drop(online);
    Box::pin(finish(sink, incoming, end)).await;
}

/// A heartbeat: keep the presence entry of `stream` alive, then ping the
/// client (within the write timeout). An error when the ping did not go out.
async fn ping(hub: &StreamHub, me: UserId, stream: &str, sink: &mut Sink) -> Result<(), ()> {
    presence::heartbeat(hub, me, stream).await;
    let ping = sink.send(Message::Ping(Default::default()));
    match tokio::time::timeout(hub.opts().write_timeout, ping).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Close a connection over the user's cap, without reading anything.
pub(crate) async fn refuse(socket: Socket, why: Close) {
    let (sink, incoming) = socket.split();
    Box::pin(finish(sink, incoming, End::Close(why))).await;
}

/// The close code for a read error the client caused, if it did.
fn broken(e: &WsError) -> Option<Close> {
    match e {
        WsError::Capacity(_) => Some(TOO_BIG),
        WsError::Utf8(_) => Some(NOT_UTF8),
        WsError::Protocol(_) => Some(PROTOCOL),
        _ => None,
    }
}

/// Join the hub, reading the initial state again if the hub's ring no longer
/// covers the first read. Why not, when the stream cannot start.
async fn join(
    hub: &StreamHub,
    me: UserId,
    after: Option<i64>,
    mut loaded: Loaded,
    tx: &queue::Sender,
    closed: &Arc<OnceLock<Close>>,
) -> Result<(Registration, Vec<Text>), Close> {
    for _ in 0..=STALE_RETRIES {
        let out = Outbox {
            tx: tx.clone(),
            closed: closed.clone(),
            blocks: loaded.blocks,
            withheld: loaded.withheld,
        };
        match hub.activate(me, loaded.rooms, loaded.baseline, loaded.since, out) {
            Ok(r) => return Ok((r, loaded.replay)),
            Err(Refused::Stale) => {
                loaded = load(hub.state(), me, after).await.map_err(|_| TRY_AGAIN)?;
            }
            Err(Refused::TooMany) => return Err(TOO_MANY),
            Err(Refused::NotReady | Refused::TooSlow) => return Err(TRY_AGAIN),
        }
    }
    Err(TRY_AGAIN)
}

/// Write `frames` with one flush, within `limit`.
async fn write_all(
    sink: &mut Sink,
    frames: impl IntoIterator<Item = Text>,
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
    first: Text,
    rx: &mut queue::Receiver,
    limit: Duration,
) -> Result<(), ()> {
    let queued = std::iter::from_fn(|| rx.try_recv()).take(WRITE_BATCH - 1);
    write_all(sink, std::iter::once(first).chain(queued), limit).await
}

/// End the connection as `end` says.
async fn finish(mut sink: Sink, mut incoming: Incoming, end: End) {
    let why = match end {
        End::Gone => return,
        End::Close(why) | End::Broken(why) => why,
    };
    metrics::counter!("cotalk_stream_closed_total", "code" => why.code.to_string()).increment(1);
    let frame = CloseFrame {
        code: why.code.into(),
        reason: Text::from_static(why.reason),
    };
    let sent = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    if let End::Broken(_) = end {
        // The message stream ended at the error: drain the transport.
        if let Ok(socket) = sink.reunite(incoming) {
            linger(socket).await;
        }
        return;
    }
    // The closing handshake: the client answers with its close frame (the
    // protocol ends the message stream after it).
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = incoming.next().await {}
    })
    .await;
}

/// Shut the sending side down and read and discard what the client still
/// sends (the rest of an oversized message, its close frame) until it
/// closes, for [`LINGER`] and [`LINGER_BYTES`] at most.
async fn linger(mut socket: Socket) {
    let io = socket.get_mut();
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
    let deadline = Instant::now() + LINGER;
    let mut left = LINGER_BYTES;
    let mut buf = vec![0u8; 8192];
    while left > 0 {
        match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}
