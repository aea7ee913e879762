//! Shared helpers of the search tests: an event log builder.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use domain::attachment::Attachment;
use domain::event::{
    MessageDeleted, MessageEdited, MessageHidden, MessagePosted, RoomEvent, RoomRenamed,
};
use domain::{
    DomainEvent, EventId, EventMetadata, MessageId, RoomId, StoredEvent, StreamId, StreamType,
    UserId,
};
use search::{IndexOptions, SearchIndex, SearchRequest};
use std::collections::HashMap;
use std::path::Path;
use uuid::Uuid;

/// A room id from a number.
pub fn room(n: u128) -> RoomId {
    RoomId(Uuid::from_u128(0xA000 + n))
}

/// A user id from a number.
pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0xB000 + n))
}

/// Builds a log of room events with positions 1, 2, 3 … and one minute
/// between events.
#[derive(Default)]
pub struct Log {
    pub events: Vec<StoredEvent>,
    seqs: HashMap<RoomId, u64>,
    messages: HashMap<MessageId, (RoomId, u64, UserId)>,
    next_id: u128,
    pause: Duration,
}

impl Log {
    pub fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap()
    }

    /// The time of the next event.
    pub fn now(&self) -> DateTime<Utc> {
        Self::t0() + Duration::minutes(self.events.len() as i64) + self.pause
    }

    fn push(&mut self, room: RoomId, e: RoomEvent) {
        let position = self.events.len() as i64 + 1;
        self.events.push(StoredEvent {
            position,
            event_id: EventId(Uuid::from_u128(position as u128)),
            stream_id: StreamId::from(room),
            stream_type: StreamType::Room,
            version: position,
            metadata: EventMetadata::default(),
            recorded_at: self.now(),
            event: DomainEvent::Room(e),
        });
    }

    pub fn post(&mut self, room: RoomId, author: UserId, body: &str) -> MessageId {
        self.post_with(room, author, body, vec![], vec![])
    }

    /// A message with attachments and mentions.
    pub fn post_with(
        &mut self,
        room: RoomId,
        author: UserId,
        body: &str,
        attachments: Vec<Attachment>,
        mentions: Vec<UserId>,
    ) -> MessageId {
        self.next_id += 1;
        // Time-ordered like UUIDv7: later messages have greater ids.
        let id = MessageId(Uuid::from_u128((0x0190_0000u128 << 96) + self.next_id));
        let seq = self.seqs.entry(room).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.messages.insert(id, (room, seq, author));
        let at = self.now();
        self.push(
            room,
            RoomEvent::MessagePosted(MessagePosted {
                room_id: room,
                message_id: id,
                seq,
                author_id: author,
                body: body.into(),
                reply_to: None,
                attachments,
                mentions,
                at,
            }),
        );
        id
    }

    /// `user` hides a message for themselves.
    pub fn hide(&mut self, id: MessageId, user: UserId) {
        let (room, seq, _) = self.messages[&id];
        let at = self.now();
        self.push(
            room,
            RoomEvent::MessageHidden(MessageHidden {
                room_id: room,
                message_id: id,
                seq,
                user_id: user,
                at,
            }),
        );
    }

    /// Let `minutes` pass before the next event.
    pub fn wait(&mut self, minutes: i64) {
        self.pause += Duration::minutes(minutes);
    }

    pub fn edit(&mut self, id: MessageId, body: &str) {
        let (room, seq, author) = self.messages[&id];
        let at = self.now();
        self.push(
            room,
            RoomEvent::MessageEdited(MessageEdited {
                room_id: room,
                message_id: id,
                seq,
                author_id: Some(author),
                body: body.into(),
                at,
            }),
        );
    }

    pub fn delete(&mut self, id: MessageId) {
        let (room, seq, author) = self.messages[&id];
        let at = self.now();
        self.push(
            room,
            RoomEvent::MessageDeleted(MessageDeleted {
                room_id: room,
                message_id: id,
                seq,
                author_id: author,
                by: author,
                at,
            }),
        );
    }

    pub fn rename(&mut self, room: RoomId, name: &str) {
        let at = self.now();
        self.push(
            room,
            RoomEvent::Renamed(RoomRenamed {
                room_id: room,
                name: name.into(),
                by: user(0),
                at,
            }),
        );
    }
}

/// Open (or create) an index with small test settings.
pub fn open(dir: &Path) -> SearchIndex {
    SearchIndex::open(
        dir,
        IndexOptions {
            writer_threads: 1,
            memory_budget_bytes: 20 << 20,
            merge_threads: 1,
        },
    )
    .unwrap()
}

/// A request for `q` by a member of `rooms`.
pub fn req(q: &str, rooms: &[RoomId]) -> SearchRequest {
    SearchRequest {
        q: q.into(),
        member_rooms: rooms.to_vec(),
        limit: 200,
        ..Default::default()
    }
}

/// Ids of the hits of one page.
pub fn ids(index: &SearchIndex, r: &SearchRequest) -> Vec<MessageId> {
    index
        .search(r)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.message_id)
        .collect()
}
