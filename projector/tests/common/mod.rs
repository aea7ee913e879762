//! Shared test support: writing events to the log and a scripted conversation.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::event::*;
use domain::ids::{MessageId, RoomId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

pub mod harness;

/// Appends events through the real event store, in order: one commit per
/// run of consecutive events on the same stream, expected versions tracked
/// from the log.
pub async fn append(pool: &PgPool, events: &[DomainEvent]) -> i64 {
    use eventlog::{BatchConfig, Commit, EventStore, StreamAppend};
    let store = EventStore::connect(pool.clone(), BatchConfig::default()).await;
    let mut last = 0;
    let mut i = 0;
    while i < events.len() {
        let stream = events[i].stream_id();
        let mut j = i + 1;
        while j < events.len() && events[j].stream_id() == stream {
            j += 1;
        }
        let version: i64 =
            sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1")
                .bind(stream.0)
                .fetch_one(pool)
                .await
                .unwrap();
        let committed = store
            .append(Commit {
                streams: vec![StreamAppend {
                    stream_id: stream,
                    stream_type: events[i].stream_type(),
                    expected_version: version,
                    events: events[i..j].to_vec(),
                    epoch: None,
                }],
                metadata: EventMetadata::default(),
                side_writes: Vec::new(),
            })
            .await
            .unwrap();
        last = committed.position;
        i = j;
    }
    store.shutdown().await;
    last
}

/// Burn a position in a rolled-back transaction (a legitimate hole).
pub async fn burn_position(pool: &PgPool) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT nextval('events_position_seq')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
}

/// Fixed time `s` seconds after an epoch, so rebuilds are deterministic.
pub fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap() + Duration::seconds(s)
}

/// The people and rooms of the scripted conversation.
pub struct Cast {
    pub alice: UserId,
    pub bob: UserId,
    pub carol: UserId,
    pub dave: UserId,
    pub group: RoomId,
    pub direct: RoomId,
    /// Message ids by (room, seq).
    pub messages: std::collections::HashMap<(RoomId, u64), MessageId>,
}

impl Cast {
    pub fn new() -> Self {
        let alice = UserId(Uuid::now_v7());
        let bob = UserId(Uuid::now_v7());
        Self {
            alice,
            bob,
            carol: UserId(Uuid::now_v7()),
            dave: UserId(Uuid::now_v7()),
            group: RoomId(Uuid::now_v7()),
            direct: RoomId::direct(alice, bob),
            messages: Default::default(),
        }
    }

    pub fn register(&self, u: UserId, name: &str, at: i64) -> Vec<DomainEvent> {
        vec![
            DomainEvent::Username(UsernameEvent::Claimed(UsernameClaimed {
                username: Some(name.into()),
                name_key: None,
                user_id: u,
                at: t(at),
            })),
            DomainEvent::User(UserEvent::Registered(UserRegistered {
                user_id: u,
                username: name.into(),
                display_name: name.to_uppercase().into(),
                at: t(at),
            })),
        ]
    }

    pub fn post(
        &mut self,
        room: RoomId,
        seq: u64,
        author: UserId,
        body: &str,
        at: i64,
    ) -> DomainEvent {
        let id = MessageId(Uuid::now_v7());
        self.messages.insert((room, seq), id);
        DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
            room_id: room,
            message_id: id,
            seq,
            author_id: author,
            body: body.into(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![],
            at: t(at),
        }))
    }

    pub fn edit(&self, room: RoomId, seq: u64, body: &str, at: i64) -> DomainEvent {
        DomainEvent::Room(RoomEvent::MessageEdited(MessageEdited {
            room_id: room,
            message_id: self.messages[&(room, seq)],
            seq,
            // As logged before v2: frames and projections must not need it.
            author_id: None,
            body: body.into(),
            at: t(at),
        }))
    }

    pub fn delete(
        &self,
        room: RoomId,
        seq: u64,
        author: UserId,
        by: UserId,
        at: i64,
    ) -> DomainEvent {
        DomainEvent::Room(RoomEvent::MessageDeleted(MessageDeleted {
            room_id: room,
            message_id: self.messages[&(room, seq)],
            seq,
            author_id: author,
            by,
            at: t(at),
        }))
    }

    pub fn read(&self, room: RoomId, user: UserId, seq: u64, at: i64) -> DomainEvent {
        DomainEvent::Room(RoomEvent::ReadMarkerMoved(ReadMarkerMoved {
            room_id: room,
            user_id: user,
            seq,
            at: t(at),
        }))
    }

    /// The scripted conversation (see the test module docs for what it must produce).
    pub fn conversation(&mut self) -> Vec<DomainEvent> {
        let (a, b, c, d) = (self.alice, self.bob, self.carol, self.dave);
        let (g, dm) = (self.group, self.direct);
        let mut ev = Vec::new();
        ev.extend(self.register(a, "alice", 1));
        ev.extend(self.register(b, "bob", 2));
        ev.extend(self.register(c, "carol", 3));
        ev.extend(self.register(d, "dave", 4));
        ev.push(DomainEvent::User(UserEvent::DisplayNameChanged(
            DisplayNameChanged {
                user_id: b,
                display_name: "Bobby".into(),
                at: t(5),
            },
        )));
        let fr = |from, to, at| {
            DomainEvent::Friendship(FriendshipEvent::Requested(FriendRequested {
                from,
                to,
                at: t(at),
            }))
        };
        ev.push(fr(a, b, 6));
        ev.push(DomainEvent::Friendship(FriendshipEvent::Accepted(
            FriendRequestAccepted {
                by: b,
                requester: a,
                at: t(7),
            },
        )));
        ev.push(fr(a, c, 8));
        ev.push(fr(d, a, 9));
        ev.push(DomainEvent::Friendship(FriendshipEvent::Ended(
            FriendshipEnded {
                by: a,
                other: d,
                reason: FriendshipEndReason::Declined,
                at: t(9),
            },
        )));
        ev.push(DomainEvent::Room(RoomEvent::Created(RoomCreated {
            room_id: g,
            name: "점심".into(),
            owner_id: a,
            direct: false,
            members: vec![a, b, c],
            at: t(10),
        })));
        ev.push(DomainEvent::Room(RoomEvent::Created(RoomCreated {
            room_id: dm,
            name: String::new(),
            owner_id: a,
            direct: true,
            members: vec![a, b],
            at: t(11),
        })));
        ev.push(self.post(g, 1, a, "회의는 3시에", 12));
        ev.push(self.post(g, 2, b, "ok", 13));
        ev.push(self.post(g, 3, c, "hello", 14));
        ev.push(self.post(g, 4, b, "bye", 15));
        ev.push(self.post(dm, 1, b, "안녕", 16));
        ev.push(self.read(g, a, 2, 17));
        ev.push(self.edit(g, 2, "ok!", 18));
        ev.push(self.delete(g, 3, c, a, 19));
        ev.push(DomainEvent::Room(RoomEvent::MemberAdded(MemberAdded {
            room_id: g,
            user_id: d,
            by: b,
            via_invite: None,
            at: t(20),
        })));
        ev.push(self.post(g, 5, d, "hi all", 21));
        ev.push(DomainEvent::Room(RoomEvent::MemberLeft(MemberLeft {
            room_id: g,
            user_id: a,
            new_owner: Some(b),
            at: t(22),
        })));
        ev.push(DomainEvent::Room(RoomEvent::MemberKicked(MemberKicked {
            room_id: g,
            user_id: c,
            by: b,
            at: t(23),
        })));
        ev.push(DomainEvent::Room(RoomEvent::Renamed(RoomRenamed {
            room_id: g,
            name: "저녁".into(),
            by: b,
            at: t(24),
        })));
        // Behind bob's marker (he posted seq 4): must not move it back.
        ev.push(self.read(g, b, 3, 25));
        ev
    }

    /// Alice and Bob sign up (at 1 and 2 s) and Alice creates the group
    /// room `name` with both (at 3 s).
    pub fn pair_in_group(&self, name: &str) -> Vec<DomainEvent> {
        let (a, b) = (self.alice, self.bob);
        let mut ev = self.register(a, "alice", 1);
        ev.extend(self.register(b, "bob", 2));
        ev.push(DomainEvent::Room(RoomEvent::Created(RoomCreated {
            room_id: self.group,
            name: name.into(),
            owner_id: a,
            direct: false,
            members: vec![a, b],
            at: t(3),
        })));
        ev
    }

    /// A busy room: more posts than a timeline keeps, with edits and
    /// deletions of old and new messages.
    pub fn busy_room(&mut self, posts: u64) -> Vec<DomainEvent> {
        let (a, b) = (self.alice, self.bob);
        let g = self.group;
        let mut deleted = std::collections::HashSet::new();
        let mut ev = self.pair_in_group("busy");
        for seq in 1..=posts {
            let author = if seq % 3 == 0 { b } else { a };
            let at = 10 + seq as i64;
            ev.push(self.post(g, seq, author, &format!("메시지 {seq} message"), at));
            if seq % 17 == 0 && !deleted.contains(&(seq - 10)) {
                ev.push(self.edit(g, seq - 10, &format!("고침 {seq}"), at));
            }
            if seq % 23 == 0 {
                let victim = seq - 5;
                deleted.insert(victim);
                let author = if victim % 3 == 0 { b } else { a };
                ev.push(self.delete(g, victim, author, author, at));
            }
            if seq % 31 == 0 {
                ev.push(self.read(g, b, seq - 1, at));
            }
        }
        // An edit of a message long gone from the timeline.
        ev.push(self.edit(g, 2, "아주 오래된 메시지 고침", 10_000));
        ev
    }
}
