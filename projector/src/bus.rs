//! JetStream names and setup shared by the relay and the projection runtime.
//!
//! One stream per namespace, `{ns}-events`, subjects
//! `{ns}.events.{stream_type}.{stream_id}`. The stream is a transport with a
//! bounded size: Postgres keeps every event, so the stream only has to hold
//! what consumers have not read yet.

use crate::error::{ProjectorError, Result};
use async_nats::jetstream::{self, stream};
use domain::event::StoredEvent;
use std::time::Duration;

/// Header carrying the event's global position.
pub const POSITION_HEADER: &str = "Cotalk-Position";
/// Header carrying the event type name.
pub const EVENT_TYPE_HEADER: &str = "Cotalk-Event-Type";

/// Limits of the JetStream stream.
#[derive(Clone, Debug)]
pub struct StreamLimits {
    /// Keep at most this many messages (oldest dropped first); `None` = no limit.
    pub max_messages: Option<i64>,
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

/// The subject an event is published on.
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
