//! The client side of `cotalk bench connections`: one worker process (the
//! hidden `cotalk bench connections-client`) holding its share of the
//! WebSockets, so that no process of the bench holds more sockets than its
//! open-file limit allows.
//!
//! The bench talks to each worker in JSON lines: [`Order`]s on the
//! worker's stdin, [`Report`]s on its stdout (each line starts with
//! [`MARK`]; anything else there is not the protocol's). A worker connects
//! what it is told to, reads every frame on every socket, and times each
//! stamped post (`conn <room> <seq> <µs since the epoch at the send>`) from
//! the wall clock, which every process of the machine shares.

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The start of every protocol line a worker writes.
pub const MARK: &str = "@conn ";

/// Sockets a worker opens at once.
const PARALLEL_CONNECTS: usize = 64;

/// What the bench tells a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Order {
    /// Open one stream per entry of `conns`: (node index into `urls`, user
    /// index into `tokens`, the user's room).
    Connect {
        urls: Vec<String>,
        tokens: Vec<String>,
        conns: Vec<(u16, u32, u32)>,
    },
    /// Posts were acknowledged: `per_room[r]` into room `r`. Wait until
    /// every connection has them (at most `limit_ms`, or `quiet_ms` without
    /// a new frame), then report.
    Expect {
        per_room: Vec<u64>,
        quiet_ms: u64,
        limit_ms: u64,
    },
    /// Close everything and exit.
    Stop,
}

/// What a worker tells the bench.
#[derive(Debug, Serialize, Deserialize)]
pub enum Report {
    /// Streams open per node, and those that could not be opened.
    Connected {
        per_node: Vec<u64>,
        failed: u64,
        error: Option<String>,
    },
    /// Post → frame latencies (µs, as `(value, count)`) and the tally.
    Received {
        latency_us: Vec<(u64, u64)>,
        frames: u64,
        missing: u64,
        duplicates: u64,
        unexpected: u64,
        closed: u64,
    },
}

/// The µs since the epoch now (the stamps' clock).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The body of post `seq` into room `room`, sent at `sent_us`.
pub fn stamp(room: usize, seq: usize, sent_us: u64) -> String {
    format!("conn {room} {seq} {sent_us} 오늘 회의는 3시에 시작합니다")
}

/// The room, sequence number and send time stamped in a frame's text.
fn parse_stamp(text: &str) -> Option<(u32, u32, u64)> {
    const BODY: &str = "\"body\":\"conn ";
    let at = text.find(BODY)? + BODY.len();
    let mut parts = text[at..].splitn(4, ' ');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// What every socket of the worker records.
struct Tally {
    /// Per connection: its room and the sequence numbers it received.
    seen: Vec<(u32, Mutex<Vec<u32>>)>,
    latency: Mutex<Histogram<u64>>,
    frames: AtomicU64,
    unexpected: AtomicU64,
    closed: AtomicU64,
}

impl Tally {
    fn record(&self, conn: usize, text: &str) {
        let now = now_us();
        let Some((room, seq, sent)) = parse_stamp(text) else {
            return;
        };
        self.frames.fetch_add(1, Ordering::Relaxed);
        let (mine, seqs) = &self.seen[conn];
        if *mine != room {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        seqs.lock().unwrap_or_else(|e| e.into_inner()).push(seq);
        let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let _ = h.record(now.saturating_sub(sent).max(1));
    }

    /// Frames still missing and duplicates received, given the posts per room.
    fn missing(&self, per_room: &[u64]) -> (u64, u64) {
        let (mut missing, mut duplicates) = (0, 0);
        for (room, seqs) in &self.seen {
            let seqs = seqs.lock().unwrap_or_else(|e| e.into_inner());
            let distinct = seqs.iter().collect::<HashSet<_>>().len() as u64;
            duplicates += seqs.len() as u64 - distinct;
            let expected = per_room.get(*room as usize).copied().unwrap_or(0);
            missing += expected.saturating_sub(distinct);
        }
        (missing, duplicates)
    }
}

/// Run a worker: obey the orders on stdin until `Stop` or its end.
pub async fn run() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let stop = CancellationToken::new();
    let mut tally: Option<Arc<Tally>> = None;
    let mut readers = Vec::new();
    while let Some(line) = lines.next_line().await? {
        match serde_json::from_str::<Order>(&line).context("a worker order")? {
            Order::Connect {
                urls,
                tokens,
                conns,
            } => {
                let t = Arc::new(Tally {
                    seen: conns
                        .iter()
                        .map(|(_, _, room)| (*room, Mutex::new(Vec::new())))
                        .collect(),
                    latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
                    frames: AtomicU64::new(0),
                    unexpected: AtomicU64::new(0),
                    closed: AtomicU64::new(0),
                });
                let report = connect_all(&urls, &tokens, &conns, &t, &stop, &mut readers).await;
                tally = Some(t);
                send(&report).await?;
            }
            Order::Expect {
                per_room,
                quiet_ms,
                limit_ms,
            } => {
                let Some(t) = &tally else {
                    bail!("expect before connect");
                };
                settle(t, &per_room, quiet_ms, limit_ms).await;
                let (missing, duplicates) = t.missing(&per_room);
                let h = t.latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
                send(&Report::Received {
                    latency_us: h
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect(),
                    frames: t.frames.load(Ordering::Relaxed),
                    missing,
                    duplicates,
                    unexpected: t.unexpected.load(Ordering::Relaxed),
                    closed: t.closed.load(Ordering::Relaxed),
                })
                .await?;
            }
            Order::Stop => break,
        }
    }
    stop.cancel();
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
    }
    Ok(())
}

async fn send(report: &Report) -> Result<()> {
    let line = format!("{MARK}{}\n", serde_json::to_string(report)?);
    let mut out = tokio::io::stdout();
    out.write_all(line.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}

/// Wait until every connection has its room's posts (counting frames), or
/// `quiet_ms` passed without a new one, or `limit_ms` in all.
async fn settle(t: &Tally, per_room: &[u64], quiet_ms: u64, limit_ms: u64) {
    let expected: u64 = t
        .seen
        .iter()
        .map(|(room, _)| per_room.get(*room as usize).copied().unwrap_or(0))
        .sum();
    let deadline = Instant::now() + Duration::from_millis(limit_ms);
    let (mut last, mut last_change) = (t.frames.load(Ordering::Relaxed), Instant::now());
    while Instant::now() < deadline {
        let now = t.frames.load(Ordering::Relaxed);
        if now >= expected {
            return;
        }
        if now != last {
            (last, last_change) = (now, Instant::now());
        } else if last_change.elapsed() >= Duration::from_millis(quiet_ms) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open `GET /v1/stream` on `url` as the holder of `token` (a few tries).
async fn connect(url: &str, token: &str) -> Result<Socket> {
    let mut tries = 0;
    loop {
        let mut req = format!("{url}/v1/stream").into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        // Frames are a few hundred bytes: a small read buffer keeps tens
        // of thousands of clients in one process cheap.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        match tokio_tungstenite::connect_async_with_config(req, Some(config), false).await {
            Ok((ws, _)) => return Ok(ws),
            Err(e) if tries >= 5 => bail!("cannot connect a stream: {e}"),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
        }
    }
}

/// Open every connection of `conns`, [`PARALLEL_CONNECTS`] at a time, each
/// read by its own task until `stop`.
async fn connect_all(
    urls: &[String],
    tokens: &[String],
    conns: &[(u16, u32, u32)],
    tally: &Arc<Tally>,
    stop: &CancellationToken,
    readers: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Report {
    let mut per_node = vec![0u64; urls.len()];
    let (mut failed, mut error) = (0, None);
    let opened = futures::stream::iter(conns.iter().enumerate())
        .map(|(i, (node, user, _))| async move {
            let url = &urls[usize::from(*node)];
            (i, *node, connect(url, &tokens[*user as usize]).await)
        })
        .buffer_unordered(PARALLEL_CONNECTS);
    tokio::pin!(opened);
    while let Some((i, node, ws)) = opened.next().await {
        match ws {
            Ok(ws) => {
                per_node[usize::from(node)] += 1;
                readers.push(tokio::spawn(read(ws, i, tally.clone(), stop.clone())));
            }
            Err(e) => {
                failed += 1;
                error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    Report::Connected {
        per_node,
        failed,
        error,
    }
}

async fn read(mut ws: Socket, conn: usize, tally: Arc<Tally>, stop: CancellationToken) {
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(text))) => tally.record(conn, &text),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                tally.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(Ok(_)) => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_read_back_from_a_frame() {
        let body = stamp(3, 17, 1_700_000_000_123_456);
        let frame = format!(r#"{{"type":"message_posted","position":7,"body":"{body}"}}"#);
        assert_eq!(parse_stamp(&frame), Some((3, 17, 1_700_000_000_123_456)));
        assert_eq!(parse_stamp(r#"{"body":"e2e 1 2 x"}"#), None);
    }

    #[test]
    fn missing_and_duplicate_frames_are_counted_per_connection() {
        let tally = Tally {
            seen: vec![
                (0, Mutex::new(vec![1, 2, 2])),
                (1, Mutex::new(vec![5])),
                (1, Mutex::new(Vec::new())),
            ],
            latency: Mutex::new(Histogram::new(3).unwrap()),
            frames: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        };
        // Room 0 had 3 posts (one missing), room 1 had 1 (one connection
        // missing it).
        assert_eq!(tally.missing(&[3, 1]), (2, 1));
    }
}
