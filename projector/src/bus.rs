//! JetStream names and setup shared by the relay and the projection runtime.
//!
//! One stream per namespace, `{ns}-events`, on `{ns}.events.>`; the relay
//! publishes runs of consecutive events on `{ns}.events.log`. The stream is
//! a transport with a bounded size: Postgres keeps every event, so the
//! stream only has to hold what consumers have not read yet.

use crate::error::{ProjectorError, Result};
use async_nats::jetstream::{self, stream};
use domain::event::StoredEvent;
use domain::ids::EventId;
use std::time::Duration;

/// Header carrying the global position of the message's last event.
pub const POSITION_HEADER: &str = "Cotalk-Position";

/// The [`POSITION_HEADER`] of a received message, when it has a valid one.
pub fn last_position(message: &jetstream::Message) -> Option<i64> {
    message
        .headers
        .as_ref()?
        .get(POSITION_HEADER)?
        .as_str()
        .parse()
        .ok()
}

/// Limits of the JetStream stream.
#[derive(Clone, Debug)]
pub struct StreamLimits {
    /// Keep at most this many messages (oldest dropped first); `None` = no limit.
    pub max_messages: Option<i64>,
    /// Keep at most this many bytes (oldest dropped first); `None` = no
    /// limit. JetStream reserves the limit from the account's storage when
    /// the stream is created, so a byte limit on every namespace's stream
    /// can refuse new streams; the default has none (age and message count
    /// bound the stream).
    pub max_bytes: Option<i64>,
    /// Drop messages older than this; `None` = no limit.
    pub max_age: Option<Duration>,
    /// `Nats-Msg-Id` de-duplication window.
    pub duplicate_window: Duration,
    /// Copies the stream keeps (one per NATS node, at most the node count).
    pub replicas: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_messages: Some(1_000_000),
            max_bytes: None,
            max_age: Some(Duration::from_secs(24 * 3600)),
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }
}

/// The stream of a namespace.
pub fn stream_name(namespace: &str) -> String {
    format!("{namespace}-events")
}

/// The subject the relay publishes runs of events on.
pub fn events_subject(namespace: &str) -> String {
    format!("{namespace}.events.log")
}

/// A subject of one event's own (tests publish single events on it).
pub fn subject(namespace: &str, event: &StoredEvent) -> String {
    format!(
        "{namespace}.events.{}.{}",
        event.stream_type.as_str(),
        event.stream_id
    )
}

/// The durable consumer of one projection generation.
pub fn consumer_name(namespace: &str, projection: &str, generation: i64) -> String {
    format!("{namespace}-{projection}-g{generation}")
}

/// Connect to NATS. The client reconnects by itself forever; the first
/// connect is retried too, so a projector may start before NATS does.
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .connect(readmodel::subjects::servers(url))
        .await
        .map_err(ProjectorError::nats)
}

/// A JetStream context whose API calls and publish acks time out quickly, so
/// a dead server is noticed in seconds rather than hanging the loops.
pub fn context(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .max_ack_inflight(10_000)
        .build(client)
}

/// The stream's configuration.
pub fn stream_config(namespace: &str, limits: &StreamLimits) -> stream::Config {
    stream::Config {
        name: stream_name(namespace),
        subjects: vec![format!("{namespace}.events.>")],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: limits.duplicate_window,
        max_messages: limits.max_messages.unwrap_or(-1),
        max_bytes: limits.max_bytes.unwrap_or(-1),
        max_age: limits.max_age.unwrap_or_default(),
        num_replicas: limits.replicas.max(1),
        ..Default::default()
    }
}

/// The stream, if it exists (`None` when it was deleted or never created).
pub async fn stream_info(js: &jetstream::Context, namespace: &str) -> Result<Option<stream::Info>> {
    match js.get_stream(stream_name(namespace)).await {
        Ok(s) => Ok(Some(s.cached_info().clone())),
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(ProjectorError::nats(e)),
        },
    }
}

/// Create the stream if missing; returns its state.
pub async fn ensure_stream(
    js: &jetstream::Context,
    namespace: &str,
    limits: &StreamLimits,
) -> Result<stream::Info> {
    let s = js
        .get_or_create_stream(stream_config(namespace, limits))
        .await
        .map_err(ProjectorError::nats)?;
    Ok(s.cached_info().clone())
}

/// The position and id of the last event the stream holds, if it holds any
/// this build can read. Relays publish in log order, so everything up to it
/// is in the stream.
pub async fn tail(
    js: &jetstream::Context,
    namespace: &str,
    info: &stream::Info,
) -> Result<Option<(i64, EventId)>> {
    if info.state.messages == 0 {
        return Ok(None);
    }
    let stream = js
        .get_stream(stream_name(namespace))
        .await
        .map_err(ProjectorError::nats)?;
    let last = match stream.get_raw_message(info.state.last_sequence).await {
        Ok(m) => m,
        // Gone since the info was read (age, limits): nothing to go by.
        Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => {
            return Ok(None)
        }
        Err(e) => return Err(ProjectorError::nats(e)),
    };
    let events = crate::envelope::decode_all(&last.payload).unwrap_or_default();
    Ok(events
        .into_iter()
        .rev()
        .find_map(|e| e.ok())
        .map(|e| (e.position, e.event_id)))
}
