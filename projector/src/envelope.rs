//! The JSON envelope a [`StoredEvent`] travels in over NATS.
//!
//! The envelope carries the event exactly as the log stores it (type name,
//! schema version, payload), not a re-serialised Rust value, so a consumer
//! built from an older or newer release decodes it through the same
//! [`DomainEvent::decode`] (and its upcasters) as a reader of the log.

use chrono::{DateTime, Utc};
use domain::event::{DecodeError, DomainEvent, EventMetadata, StoredEvent, StreamType};
use domain::ids::{EventId, StreamId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A message body was not a valid envelope.
#[derive(Debug, Error)]
pub enum EnvelopeError {
    /// Not JSON of the envelope's shape.
    #[error("malformed envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// The stream type is not one this build knows.
    #[error("unknown stream type {0}")]
    StreamType(String),
    /// The payload does not decode as its event type and version.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    position: i64,
    event_id: EventId,
    stream_id: StreamId,
    stream_type: String,
    version: i64,
    event_type: String,
    schema_version: u16,
    payload: serde_json::Value,
    metadata: EventMetadata,
    recorded_at: DateTime<Utc>,
}

/// Serialise an event for the bus.
pub fn encode(event: &StoredEvent) -> Vec<u8> {
    let envelope = Envelope {
        position: event.position,
        event_id: event.event_id,
        stream_id: event.stream_id,
        stream_type: event.stream_type.as_str().to_owned(),
        version: event.version,
        event_type: event.event.event_type().to_owned(),
        schema_version: event.event.schema_version(),
        payload: event.event.payload(),
        metadata: event.metadata.clone(),
        recorded_at: event.recorded_at,
    };
    // Plain data (strings, numbers, uuids, a JSON value): serialising cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// Parse a message body back into the event, upcasting old payloads.
pub fn decode(bytes: &[u8]) -> Result<StoredEvent, EnvelopeError> {
    let e: Envelope = serde_json::from_slice(bytes)?;
    let stream_type =
        StreamType::parse(&e.stream_type).ok_or(EnvelopeError::StreamType(e.stream_type))?;
    let event = DomainEvent::decode(&e.event_type, e.schema_version, e.payload)?;
    Ok(StoredEvent {
        position: e.position,
        event_id: e.event_id,
        stream_id: e.stream_id,
        stream_type,
        version: e.version,
        metadata: e.metadata,
        recorded_at: e.recorded_at,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::event::{RoomEvent, RoomRenamed};
    use domain::ids::{RoomId, UserId};
    use uuid::Uuid;

    #[test]
    fn round_trips() {
        let at = Utc::now();
        let e = StoredEvent {
            position: 42,
            event_id: EventId(Uuid::now_v7()),
            stream_id: StreamId(Uuid::from_u128(7)),
            stream_type: StreamType::Room,
            version: 3,
            metadata: EventMetadata {
                actor: Some(UserId(Uuid::from_u128(1))),
                ..Default::default()
            },
            recorded_at: at,
            event: DomainEvent::Room(RoomEvent::Renamed(RoomRenamed {
                room_id: RoomId(Uuid::from_u128(7)),
                name: "점심 모임".into(),
                by: UserId(Uuid::from_u128(1)),
                at,
            })),
        };
        assert_eq!(decode(&encode(&e)).unwrap(), e);
    }

    #[test]
    fn refuses_garbage() {
        assert!(decode(b"{}").is_err());
        assert!(decode(b"not json").is_err());
    }
}
