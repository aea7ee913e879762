//! The WebSocket side of `cotalk bench e2e`: many connected clients, each
//! timing every frame it receives against the send time stamped in the
//! message body.
//!
//! Posts carry `e2e <step> <µs since t0 of the scheduled send>` at the start
//! of their body, so a frame is timed from when the post *should* have been
//! sent (open loop), whatever the poster or the server did meanwhile.

use anyhow::{bail, Result};
use futures::StreamExt;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// What every client records, shared: one histogram per step (a lock per
/// frame is cheap next to parsing it, and one histogram per client and step
/// would cost a thousand times the memory).
pub struct Received {
    /// Frame latency per step, microseconds.
    pub steps: Vec<Mutex<Histogram<u64>>>,
    /// Stamped frames received so far (any step).
    pub frames: AtomicU64,
    /// Streams the server closed (or that failed) before the end.
    pub closed: AtomicU64,
    /// When the stamps count from.
    pub t0: Instant,
}

impl Received {
    /// Histograms for `steps` steps (step 0 is the warm-up).
    pub fn new(steps: usize) -> Result<Arc<Self>> {
        let mut hs = Vec::with_capacity(steps);
        for _ in 0..steps {
            hs.push(Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?));
        }
        Ok(Arc::new(Self {
            steps: hs,
            frames: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            t0: Instant::now(),
        }))
    }

    /// The body of a post of `step` scheduled at `due`.
    pub fn stamp(&self, step: usize, due: Instant, text: &str) -> String {
        format!(
            "e2e {step} {} {text}",
            due.saturating_duration_since(self.t0).as_micros()
        )
    }

    /// A copy of one step's histogram.
    pub fn step(&self, step: usize) -> Option<Histogram<u64>> {
        let h = self.steps.get(step)?;
        Some(h.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    fn record(&self, text: &str) {
        let now = self.t0.elapsed().as_micros() as u64;
        let Some((step, sent)) = parse_stamp(text) else {
            return;
        };
        self.frames.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = self.steps.get(step) {
            let mut h = h.lock().unwrap_or_else(|e| e.into_inner());
            let _ = h.record(now.saturating_sub(sent).max(1));
        }
    }

    /// Wait until no frame has arrived for `quiet` or `expected` frames
    /// arrived in all, at most `limit`.
    pub async fn settle(&self, expected: u64, quiet: Duration, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut last = self.frames.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.frames.load(Ordering::Relaxed);
            if now >= expected {
                return;
            }
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() >= quiet {
                return;
            }
        }
    }
}

/// The step and scheduled send time (µs since `t0`) stamped in a frame.
fn parse_stamp(text: &str) -> Option<(usize, u64)> {
    const MARK: &str = "\"body\":\"e2e ";
    let at = text.find(MARK)? + MARK.len();
    let mut parts = text[at..].splitn(3, ' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open `GET /v1/stream` with `token`, retrying for up to 30 s.
pub async fn connect(ws_base: &str, token: &str) -> Result<Socket> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = format!("{ws_base}/v1/stream").into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        // tungstenite zero-fills its whole read buffer (128 KiB by default)
        // before every read: keep it near the size of a burst of frames.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        match tokio_tungstenite::connect_async_with_config(req, Some(config), false).await {
            Ok((ws, _)) => return Ok(ws),
            Err(e) if Instant::now() > deadline => bail!("cannot connect a stream: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Connect one client per token, 50 at a time, each reading until `stop`.
pub async fn connect_all(
    ws_base: &str,
    tokens: impl Iterator<Item = &str>,
    received: &Arc<Received>,
    stop: &CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let tokens: Vec<&str> = tokens.collect();
    let mut readers = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(50) {
        let sockets = futures::future::join_all(chunk.iter().map(|t| connect(ws_base, t))).await;
        for ws in sockets {
            readers.push(tokio::spawn(read_frames(
                ws?,
                received.clone(),
                stop.clone(),
            )));
        }
    }
    Ok(readers)
}

async fn read_frames(mut ws: Socket, received: Arc<Received>, stop: CancellationToken) {
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(text))) => received.record(&text),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                received.closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    let _ = ws.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::parse_stamp;

    #[test]
    fn stamps_are_read_back_from_a_frame() {
        let frame = r#"{"type":"message_posted","position":7,"body":"e2e 3 1234567 메시지 9"}"#;
        assert_eq!(parse_stamp(frame), Some((3, 1_234_567)));
        assert_eq!(parse_stamp(r#"{"body":"hello"}"#), None);
    }
}
