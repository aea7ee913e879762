//! The WebSocket side of `cotalk bench push`: connecting clients and timing
//! every frame they receive against the send time stamped in its body.

use anyhow::{bail, Result};
use futures::StreamExt;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Per-phase latency histograms of everything received.
pub(super) type Phases = Arc<Mutex<HashMap<u32, Histogram<u64>>>>;

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn connect(ws_base: &str, token: &str) -> Result<Socket> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = format!("{ws_base}/v1/stream").into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => return Ok(ws),
            Err(e) if Instant::now() > deadline => bail!("cannot connect a stream: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The phase and scheduled send time (µs since `t0`) stamped in a body.
fn stamp(text: &str) -> Option<(u32, u64)> {
    let at = text.find("\"body\":\"push ")? + "\"body\":\"push ".len();
    let rest = &text[at..];
    let end = rest.find('"')?;
    let mut parts = rest[..end].split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

pub(super) async fn read_frames(
    mut ws: Socket,
    t0: Instant,
    phases: Phases,
    received: Arc<AtomicU64>,
    closed: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let mut local: HashMap<u32, Histogram<u64>> = HashMap::new();
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(text))) => {
                let now = t0.elapsed().as_micros() as u64;
                if let Some((phase, sent)) = stamp(&text) {
                    received.fetch_add(1, Ordering::Relaxed);
                    let h = local.entry(phase).or_insert_with(|| {
                        Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
                    });
                    let _ = h.record(now.saturating_sub(sent).max(1));
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    let _ = ws.close(None).await;
    if let Ok(mut all) = phases.lock() {
        for (phase, h) in local {
            match all.get_mut(&phase) {
                Some(acc) => {
                    let _ = acc.add(h);
                }
                None => {
                    all.insert(phase, h);
                }
            }
        }
    }
}
