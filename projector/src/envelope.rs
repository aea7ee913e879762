//! The JSON envelope a [`StoredEvent`] travels in over NATS.
//!
//! The relay sends a run of consecutive events as one message, a JSON array
//! of envelopes ([`encode_chunks`]): one JetStream message per event was
//! most of nats-server's work per post (issue 20). [`decode_all`] also reads
//! a single envelope, as relays before that sent and tests still publish.
//!
//! The envelope carries the event exactly as the log stores it (type name,
//! schema version, payload), not a re-serialised Rust value, so a consumer
//! built from an older or newer release decodes it through the same
//! [`DomainEvent::decode_json`] (and its upcasters) as a reader of the log.

use chrono::{DateTime, Utc};
use domain::event::{DecodeError, DomainEvent, EventMetadata, PayloadRef, StoredEvent, StreamType};
use domain::ids::{EventId, StreamId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
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

/// An envelope as it is read: strings and the payload borrowed from the
/// message body, the payload decoded once, straight into its event type
/// ([`DomainEvent::decode_json`]), with no `serde_json::Value` in between.
#[derive(Deserialize)]
struct Envelope<'a> {
    position: i64,
    event_id: EventId,
    stream_id: StreamId,
    #[serde(borrow)]
    stream_type: Cow<'a, str>,
    version: i64,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    schema_version: u16,
    #[serde(borrow)]
    payload: &'a RawValue,
    metadata: EventMetadata,
    recorded_at: DateTime<Utc>,
}

/// The same fields as written: borrowed from the event, the payload
/// serialised in place ([`DomainEvent::payload_ref`]).
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    position: i64,
    event_id: EventId,
    stream_id: StreamId,
    stream_type: &'a str,
    version: i64,
    event_type: &'a str,
    schema_version: u16,
    payload: PayloadRef<'a>,
    metadata: &'a EventMetadata,
    recorded_at: DateTime<Utc>,
}

/// Serialise an event for the bus.
pub fn encode(event: &StoredEvent) -> Vec<u8> {
    let envelope = EnvelopeRef {
        position: event.position,
        event_id: event.event_id,
        stream_id: event.stream_id,
        stream_type: event.stream_type.as_str(),
        version: event.version,
        event_type: event.event.event_type(),
        schema_version: event.event.schema_version(),
        payload: event.event.payload_ref(),
        metadata: &event.metadata,
        recorded_at: event.recorded_at,
    };
    // Plain data (strings, numbers, uuids, the event's fields): serialising
    // cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// A run of consecutive events encoded as one message body.
#[derive(Debug)]
pub struct Chunk {
    /// Position of its first event.
    pub first: i64,
    /// Position of its last event.
    pub last: i64,
    /// A JSON array of envelopes.
    pub body: Vec<u8>,
}

/// Encode `events` as chunks of at most `max_bytes` each (an event larger
/// than that alone makes a chunk of its own), in order.
pub fn encode_chunks(events: &[StoredEvent], max_bytes: usize) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    for event in events {
        let one = encode(event);
        match chunks.last_mut() {
            Some(chunk) if chunk.body.len() + one.len() < max_bytes => {
                // Replace the closing bracket by a comma and this envelope.
                chunk.body.pop();
                chunk.body.push(b',');
                chunk.body.extend_from_slice(&one);
                chunk.body.push(b']');
                chunk.last = event.position;
            }
            _ => {
                let mut body = Vec::with_capacity(max_bytes.min(one.len() * 64) + 2);
                body.push(b'[');
                body.extend_from_slice(&one);
                body.push(b']');
                chunks.push(Chunk {
                    first: event.position,
                    last: event.position,
                    body,
                });
            }
        }
    }
    chunks
}

/// Parse a message body: an array of envelopes, or a single one. An error
/// for the whole body when it is not JSON of that shape; otherwise one
/// result per event, so an event this build cannot decode (a newer type)
/// does not take its neighbours down with it.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Result<StoredEvent, EnvelopeError>>, EnvelopeError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return Ok(vec![decode(bytes)]);
    }
    let envelopes: Vec<Envelope> = serde_json::from_slice(bytes)?;
    Ok(envelopes.into_iter().map(open).collect())
}

/// Parse a message body back into the event, upcasting old payloads.
pub fn decode(bytes: &[u8]) -> Result<StoredEvent, EnvelopeError> {
    open(serde_json::from_slice(bytes)?)
}

fn open(e: Envelope<'_>) -> Result<StoredEvent, EnvelopeError> {
    let stream_type = StreamType::parse(&e.stream_type)
        .ok_or_else(|| EnvelopeError::StreamType(e.stream_type.into_owned()))?;
    let event = DomainEvent::decode_json(&e.event_type, e.schema_version, e.payload.get())?;
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
pub(crate) mod tests {
    use super::*;
    use domain::event::{RoomEvent, RoomRenamed};
    use domain::ids::{RoomId, UserId};
    use uuid::Uuid;

    /// A small room event at `position` (shared with other modules' tests).
    pub(crate) fn renamed(position: i64) -> StoredEvent {
        let at = Utc::now();
        StoredEvent {
            position,
            event_id: EventId(Uuid::now_v7()),
            stream_id: StreamId(Uuid::from_u128(7)),
            stream_type: StreamType::Room,
            version: position,
            metadata: EventMetadata::default(),
            recorded_at: at,
            event: DomainEvent::Room(RoomEvent::Renamed(RoomRenamed {
                room_id: RoomId(Uuid::from_u128(7)),
                name: format!("모임 {position}"),
                by: UserId(Uuid::from_u128(1)),
                at,
            })),
        }
    }

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
    fn chunks_carry_every_event_once_in_order_within_their_size() {
        let events: Vec<StoredEvent> = (1..=50).map(renamed).collect();
        let one = encode(&events[0]).len();
        let chunks = encode_chunks(&events, one * 7);
        assert!(chunks.len() > 1, "{} chunks", chunks.len());
        let mut positions = Vec::new();
        for chunk in &chunks {
            assert!(
                chunk.body.len() <= one * 7,
                "chunk of {} bytes",
                chunk.body.len()
            );
            let decoded: Vec<StoredEvent> = decode_all(&chunk.body)
                .unwrap()
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(decoded.first().unwrap().position, chunk.first);
            assert_eq!(decoded.last().unwrap().position, chunk.last);
            positions.extend(decoded.iter().map(|e| e.position));
        }
        assert_eq!(positions, (1..=50).collect::<Vec<i64>>());
        let whole: Vec<StoredEvent> = decode_all(&encode_chunks(&events, usize::MAX)[0].body)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(whole, events);
        // A single envelope, as older relays sent, reads as a run of one.
        let single = decode_all(&encode(&events[3])).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].as_ref().unwrap(), &events[3]);
    }

    #[test]
    fn an_event_this_build_cannot_read_leaves_its_neighbours() {
        let events: Vec<StoredEvent> = (1..=3).map(renamed).collect();
        let body = String::from_utf8(encode_chunks(&events, usize::MAX).remove(0).body).unwrap();
        let body = body.replacen("\"room.renamed\"", "\"room.from_the_future\"", 1);
        let decoded = decode_all(body.as_bytes()).unwrap();
        assert!(decoded[0].is_err());
        assert_eq!(decoded[1].as_ref().unwrap().position, 2);
        assert_eq!(decoded[2].as_ref().unwrap().position, 3);
        assert!(decode_all(b"[{}]").is_err());
        assert!(decode_all(b"[not json").is_err());
    }

    #[test]
    fn refuses_garbage() {
        assert!(decode(b"{}").is_err());
        assert!(decode(b"not json").is_err());
    }
}
