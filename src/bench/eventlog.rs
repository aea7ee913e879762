//! A synthetic but realistic event log, written straight into the `events`
//! table (with `event_ids` and `streams`, as the event store writes them) in
//! large multi-row inserts: users, friendships, group and direct rooms, then
//! mostly message posts with Korean and English bodies, some edits, deletes,
//! read markers, joins and renames. Used by `cotalk bench replay` and by the
//! rebuild tests, which need many events quickly.
//!
//! Every batch takes the event store's append lock and draws its positions
//! from `events_position_seq` under it, so the log keeps its ordering
//! guarantee even while a live server appends beside the generator.

use chrono::{DateTime, Duration, Utc};
use domain::event::*;
use domain::{EventMetadata, MessageId, RoomId, StreamId, UserId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// Events per insert transaction.
const BATCH: usize = 5_000;

/// What was generated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generated {
    /// Events written.
    pub events: u64,
    /// Of which `room.message_posted`.
    pub messages: u64,
    /// Position of the last one.
    pub head: i64,
}

const KO: &[&str] = &[
    "오늘 회의는 3시에 시작합니다",
    "점심 뭐 먹을까요",
    "회의록 공유드립니다",
    "내일 발표 자료 확인 부탁드려요",
    "배포는 금요일 오후에 진행합니다",
    "주말 잘 보내세요",
    "서버 점검 일정이 변경되었습니다",
    "고객 문의에 답변했습니다",
    "새 디자인 시안 올렸어요",
    "회의실 예약 완료했습니다",
    "커피 한잔 하실 분",
    "이번 분기 목표를 정리했어요",
    "버그 수정했습니다 확인해주세요",
    "다음 주 일정 조율해요",
];

const EN: &[&str] = &[
    "meeting moved to 3pm",
    "can you review the pull request",
    "deploying to staging now",
    "lunch at the usual place?",
    "the build is green again",
    "shared the quarterly report",
    "customer asked about the search feature",
    "let's sync tomorrow morning",
    "notes from today's standup",
    "the new release looks good",
];

/// A room as the generator tracks it.
struct Room {
    id: RoomId,
    members: Vec<UserId>,
    next_seq: u64,
    /// Recent messages: (seq, id, author, deleted).
    recent: VecDeque<(u64, MessageId, UserId, bool)>,
}

/// The generator's state between batches.
struct Gen {
    rng: StdRng,
    at: DateTime<Utc>,
    users: Vec<UserId>,
    rooms: Vec<Room>,
    versions: HashMap<Uuid, i64>,
    out: Vec<(StreamId, DomainEvent, DateTime<Utc>, Option<UserId>)>,
    messages: u64,
}

impl Gen {
    fn tick(&mut self) -> DateTime<Utc> {
        self.at += Duration::milliseconds(self.rng.gen_range(1..4000));
        self.at
    }

    fn push(&mut self, stream: StreamId, event: DomainEvent, actor: Option<UserId>) {
        let at = self.at;
        self.out.push((stream, event, at, actor));
    }

    fn body(&mut self) -> String {
        let mut s = String::new();
        for i in 0..self.rng.gen_range(1..4) {
            if i > 0 {
                s.push_str(if self.rng.gen_bool(0.5) { ". " } else { " " });
            }
            let pool = if self.rng.gen_bool(0.7) { KO } else { EN };
            s.push_str(pool[self.rng.gen_range(0..pool.len())]);
        }
        if self.rng.gen_bool(0.2) {
            s.push_str(&format!(" #{}", self.rng.gen_range(1..1000)));
        }
        s
    }

    fn user(&mut self, i: usize) {
        let user_id = UserId(Uuid::from_u64_pair(self.rng.gen(), self.rng.gen()));
        let username = format!("bench_{i:06}");
        let at = self.tick();
        self.users.push(user_id);
        self.push(
            StreamId::for_username(&username),
            DomainEvent::Username(UsernameEvent::Claimed(UsernameClaimed {
                // A synthetic log: names in the clear, as before issue 18.
                username: Some(username.clone()),
                name_key: None,
                user_id,
                at,
            })),
            None,
        );
        let registered = UserRegistered {
            user_id,
            username: username.into(),
            display_name: format!("사용자 {i}").into(),
            at,
        };
        self.push(
            user_id.into(),
            DomainEvent::User(UserEvent::Registered(registered)),
            Some(user_id),
        );
    }

    fn friendship(&mut self) {
        let a = self.users[self.rng.gen_range(0..self.users.len())];
        let b = self.users[self.rng.gen_range(0..self.users.len())];
        let stream = StreamId::for_friendship(a, b);
        if a == b || self.versions.contains_key(&stream.0) || self.out.iter().any(|o| o.0 == stream)
        {
            return;
        }
        let at = self.tick();
        let req = FriendRequested { from: a, to: b, at };
        self.push(
            stream,
            DomainEvent::Friendship(FriendshipEvent::Requested(req)),
            Some(a),
        );
        if self.rng.gen_bool(0.7) {
            let at = self.tick();
            let acc = FriendRequestAccepted {
                by: b,
                requester: a,
                at,
            };
            self.push(
                stream,
                DomainEvent::Friendship(FriendshipEvent::Accepted(acc)),
                Some(b),
            );
        }
    }

    fn room(&mut self, i: usize) {
        let owner = self.users[self.rng.gen_range(0..self.users.len())];
        let direct = i % 5 == 4;
        let size = if direct {
            2
        } else {
            self.rng.gen_range(3..=12)
        };
        let mut members = vec![owner];
        while members.len() < size.min(self.users.len()) {
            let u = self.users[self.rng.gen_range(0..self.users.len())];
            if !members.contains(&u) {
                members.push(u);
            }
        }
        // Direct rooms of a pair have a derived id; a repeated pair gets a
        // random one instead (the generator does not model rejoining).
        let id = if direct
            && !self
                .rooms
                .iter()
                .any(|r| r.id == RoomId::direct(members[0], members[1]))
        {
            RoomId::direct(members[0], members[1])
        } else {
            RoomId(Uuid::from_u64_pair(self.rng.gen(), self.rng.gen()))
        };
        let at = self.tick();
        let created = RoomCreated {
            room_id: id,
            name: if direct {
                String::new()
            } else {
                format!("프로젝트 방 {i}")
            },
            owner_id: owner,
            direct: direct && members.len() == 2,
            members: members.clone(),
            at,
        };
        self.push(
            id.into(),
            DomainEvent::Room(RoomEvent::Created(created)),
            Some(owner),
        );
        self.rooms.push(Room {
            id,
            members,
            next_seq: 1,
            recent: VecDeque::new(),
        });
    }

    /// One room-level action; the room is picked with a skew towards the
    /// first rooms (a few busy rooms, a long tail of quiet ones).
    fn activity(&mut self) {
        let u: f64 = self.rng.gen();
        let r = ((u * u) * self.rooms.len() as f64) as usize;
        let r = r.min(self.rooms.len() - 1);
        let roll: f64 = self.rng.gen();
        let at = self.tick();
        let room = &mut self.rooms[r];
        let id = room.id;
        let member = room.members[self.rng.gen_range(0..room.members.len())];
        let live: Vec<usize> = room
            .recent
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.3)
            .map(|(i, _)| i)
            .collect();
        let event = if roll < 0.03 && !live.is_empty() {
            let k = live[self.rng.gen_range(0..live.len())];
            let (seq, message_id, author, _) = room.recent[k];
            let body = self.body();
            RoomEvent::MessageEdited(MessageEdited {
                room_id: id,
                message_id,
                seq,
                author_id: Some(author),
                body,
                at,
            })
        } else if roll < 0.05 && !live.is_empty() {
            let k = live[self.rng.gen_range(0..live.len())];
            room.recent[k].3 = true;
            let (seq, message_id, author, _) = room.recent[k];
            RoomEvent::MessageDeleted(MessageDeleted {
                room_id: id,
                message_id,
                seq,
                author_id: author,
                by: author,
                at,
            })
        } else if roll < 0.09 && room.next_seq > 1 {
            let last = room.next_seq - 1;
            let seq = self.rng.gen_range(last.saturating_sub(20).max(1)..=last);
            RoomEvent::ReadMarkerMoved(ReadMarkerMoved {
                room_id: id,
                user_id: member,
                seq,
                at,
            })
        } else if roll < 0.094 && room.members.len() < 30 {
            let user = self.users[self.rng.gen_range(0..self.users.len())];
            if room.members.contains(&user) {
                return;
            }
            room.members.push(user);
            RoomEvent::MemberAdded(MemberAdded {
                room_id: id,
                user_id: user,
                by: member,
                via_invite: None,
                at,
            })
        } else if roll < 0.096 {
            let name = format!("방 이름 {}", self.rng.gen_range(0..10_000));
            RoomEvent::Renamed(RoomRenamed {
                room_id: id,
                name,
                by: member,
                at,
            })
        } else {
            let seq = room.next_seq;
            room.next_seq += 1;
            let reply_to = if self.rng.gen_bool(0.05) {
                room.recent.back().map(|m| m.1)
            } else {
                None
            };
            let message_id = MessageId(Uuid::from_u64_pair(self.rng.gen(), self.rng.gen()));
            room.recent.push_back((seq, message_id, member, false));
            if room.recent.len() > 64 {
                room.recent.pop_front();
            }
            self.messages += 1;
            let body = self.body();
            RoomEvent::MessagePosted(MessagePosted {
                room_id: id,
                message_id,
                seq,
                author_id: member,
                body,
                reply_to,
                attachments: vec![],
                mentions: vec![],
                at,
            })
        };
        self.push(id.into(), DomainEvent::Room(event), Some(member));
    }
}

/// Append about `events` realistic events (deterministic for a `seed`) to
/// the log in `pool`; `progress` is called with the count after every batch.
pub async fn generate(
    pool: &PgPool,
    events: u64,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Generated> {
    let n_users = (events / 500).clamp(20, 5_000) as usize;
    let n_rooms = (events / 1_000).clamp(10, 2_000) as usize;
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        at: Utc::now() - Duration::seconds(events as i64 * 2) - Duration::days(1),
        users: Vec::new(),
        rooms: Vec::new(),
        versions: HashMap::new(),
        out: Vec::with_capacity(BATCH + 8),
        messages: 0,
    };
    let mut done = Generated::default();
    let mut made_users = 0;
    let mut made_rooms = 0;
    let mut friendships = 0;
    while done.events < events {
        while g.out.len() < BATCH && done.events + (g.out.len() as u64) < events {
            if made_users < n_users {
                g.user(made_users);
                made_users += 1;
            } else if friendships < n_users {
                g.friendship();
                friendships += 1;
            } else if made_rooms < n_rooms {
                g.room(made_rooms);
                made_rooms += 1;
            } else {
                g.activity();
            }
        }
        let batch = std::mem::take(&mut g.out);
        done.head = insert(pool, &mut g.versions, &batch).await?;
        done.events += batch.len() as u64;
        done.messages = g.messages;
        progress(done.events);
    }
    Ok(done)
}

/// Insert one batch in one transaction, as the event store would.
async fn insert(
    pool: &PgPool,
    versions: &mut HashMap<Uuid, i64>,
    batch: &[(StreamId, DomainEvent, DateTime<Utc>, Option<UserId>)],
) -> anyhow::Result<i64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(::eventlog::APPEND_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let mut positions: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('events_position_seq') FROM generate_series(1, $1)")
            .bind(batch.len() as i64)
            .fetch_all(&mut *tx)
            .await?;
    positions.sort_unstable();
    let n = batch.len();
    let (mut ids, mut streams, mut types, mut vers, mut names, mut schemas) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut payloads, mut metas, mut ats) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut finals: HashMap<Uuid, (&'static str, i64, i64)> = HashMap::new();
    for ((stream, event, at, actor), position) in batch.iter().zip(&positions) {
        let v = versions.entry(stream.0).or_insert(0);
        *v += 1;
        ids.push(Uuid::now_v7());
        streams.push(stream.0);
        types.push(event.stream_type().as_str());
        vers.push(*v);
        names.push(event.event_type());
        schemas.push(event.schema_version() as i16);
        payloads.push(event.payload());
        let meta = EventMetadata {
            actor: *actor,
            command_id: Some(Uuid::now_v7()),
            ..Default::default()
        };
        metas.push(serde_json::to_value(&meta)?);
        ats.push(*at);
        finals.insert(stream.0, (event.stream_type().as_str(), *v, *position));
    }
    sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, stream_type, version, event_type, \
                             schema_version, payload, metadata, recorded_at) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], \
                              $6::text[], $7::smallint[], $8::jsonb[], $9::jsonb[], $10::timestamptz[])",
    )
    .bind(&positions)
    .bind(&ids)
    .bind(&streams)
    .bind(&types)
    .bind(&vers)
    .bind(&names)
    .bind(&schemas)
    .bind(&payloads)
    .bind(&metas)
    .bind(&ats)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO event_ids (event_id, position) SELECT * FROM UNNEST($1::uuid[], $2::bigint[])",
    )
    .bind(&ids)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    let mut s_ids = Vec::with_capacity(finals.len());
    let mut s_types = Vec::with_capacity(finals.len());
    let mut s_vers = Vec::with_capacity(finals.len());
    let mut s_pos = Vec::with_capacity(finals.len());
    for (id, (t, v, p)) in finals {
        s_ids.push(id);
        s_types.push(t);
        s_vers.push(v);
        s_pos.push(p);
    }
    sqlx::query(
        "INSERT INTO streams (stream_id, stream_type, version, position) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::bigint[]) \
         ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, position = EXCLUDED.position, updated_at = now()",
    )
    .bind(&s_ids)
    .bind(&s_types)
    .bind(&s_vers)
    .bind(&s_pos)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(positions.last().copied().unwrap_or(0))
}
