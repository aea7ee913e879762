//! Each writer's value is read back by the matching reader, against a real
//! Redis (one fresh namespace per test).

use chrono::{DateTime, TimeZone, Utc};
use domain::frame::{Frame, FrameBody};
use domain::ids::{MessageId, RoomId, UserId};
use domain::views::{
    FriendEntryView, FriendState, LastMessageView, MemberView, MessageView, ProfileView, Role,
    RoomView,
};
use readmodel::{
    frames, friends, generation, profiles, rooms, timeline, unread, RedisKeys, Replies, FRAMES_LEN,
    TIMELINE_LEN,
};
use redis::aio::MultiplexedConnection;
use testkit::TestEnv;
use uuid::Uuid;

struct Fx {
    _env: TestEnv,
    namespace: String,
    conn: MultiplexedConnection,
    keys: RedisKeys,
}

impl Fx {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let conn = redis::Client::open(env.redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("redis (is it up? run scripts/services)");
        let keys = RedisKeys::new(&env.namespace, 1);
        Self {
            namespace: env.namespace.clone(),
            _env: env,
            conn,
            keys,
        }
    }

    /// Remove this test's keys.
    async fn cleanup(mut self) {
        let prefix = format!("{}:", self.namespace);
        for key in generation::scan_keys(&mut self.conn, &prefix)
            .await
            .unwrap()
        {
            let _: () = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut self.conn)
                .await
                .unwrap();
        }
    }

    /// Run `write` as one transaction, as the projector does.
    async fn write(&mut self, write: impl FnOnce(&RedisKeys, &mut redis::Pipeline)) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        write(&self.keys, &mut pipe);
        let _: () = pipe.query_async(&mut self.conn).await.unwrap();
    }

    /// Run the reads `queue` adds, as one transaction, as query does.
    async fn read(&mut self, queue: impl FnOnce(&RedisKeys, &mut redis::Pipeline)) -> Replies {
        let mut pipe = redis::pipe();
        pipe.atomic();
        queue(&self.keys, &mut pipe);
        Replies::new(pipe.query_async(&mut self.conn).await.unwrap())
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x1000 + n))
}

fn room(n: u128) -> RoomId {
    RoomId(Uuid::from_u128(0x2000 + n))
}

fn message(room: RoomId, seq: u64) -> MessageView {
    MessageView {
        message_id: MessageId(Uuid::from_u128(0x3000 + seq as u128)),
        room_id: room,
        seq,
        author_id: user(1),
        body: format!("m{seq} \"quoted\" 안녕"),
        reply_to: None,
        created_at: at(seq as i64),
        edited_at: None,
        deleted: false,
    }
}

#[tokio::test]
async fn profiles_and_usernames() {
    let mut fx = Fx::new().await;
    let p = ProfileView {
        user_id: user(1),
        username: "alice".into(),
        display_name: "Alice \"A\"".into(),
        created_at: at(0),
    };
    fx.write(|k, pipe| {
        profiles::put(pipe, k, &p);
        profiles::put_username(pipe, k, &p.username, p.user_id);
    })
    .await;
    let mut r = fx
        .read(|k, pipe| {
            profiles::queue_get(pipe, k, user(1));
            profiles::queue_get(pipe, k, user(2));
            profiles::queue_owner(pipe, k, "alice");
            profiles::queue_owner(pipe, k, "bob");
            profiles::queue_many(pipe, k, &[user(2), user(1)]);
        })
        .await;
    assert_eq!(profiles::take(&mut r).unwrap(), Some(p.clone()));
    assert_eq!(profiles::take(&mut r).unwrap(), None);
    assert_eq!(profiles::take_owner(&mut r).unwrap(), Some(user(1)));
    assert_eq!(profiles::take_owner(&mut r).unwrap(), None);
    assert_eq!(profiles::take_many(&mut r).unwrap(), vec![None, Some(p)]);
    fx.cleanup().await;
}

#[tokio::test]
async fn friends() {
    let mut fx = Fx::new().await;
    let e = FriendEntryView {
        state: FriendState::Incoming,
        since: at(5),
    };
    let f = FriendEntryView {
        state: FriendState::Friend,
        since: at(6),
    };
    fx.write(|k, pipe| {
        friends::write(pipe, k, user(1), [(user(2), Some(&e)), (user(3), Some(&f))])
    })
    .await;
    fx.write(|k, pipe| friends::write(pipe, k, user(1), [(user(3), None)]))
        .await;
    let mut r = fx
        .read(|k, pipe| friends::queue_list(pipe, k, user(1)))
        .await;
    assert_eq!(friends::take_list(&mut r).unwrap(), vec![(user(2), e)]);
    fx.cleanup().await;
}

#[tokio::test]
async fn rooms_members_and_lists() {
    let mut fx = Fx::new().await;
    let view = RoomView {
        room_id: room(1),
        name: "general".into(),
        owner_id: user(1),
        direct: false,
        created_at: at(0),
        last_seq: 3,
        last_message: Some(LastMessageView {
            message_id: MessageId(Uuid::from_u128(9)),
            seq: 3,
            author_id: user(2),
            body_preview: "hi".into(),
            created_at: at(3),
        }),
        last_activity_at: at(3),
    };
    let owner = MemberView {
        user_id: user(1),
        role: Role::Owner,
        joined_at: at(0),
    };
    let member = MemberView {
        user_id: user(2),
        role: Role::Member,
        joined_at: at(1),
    };
    fx.write(|k, pipe| {
        rooms::put(pipe, k, &view);
        rooms::write_members(
            pipe,
            k,
            room(1),
            [(user(1), Some(&owner)), (user(2), Some(&member))],
        );
        rooms::write_list(
            pipe,
            k,
            user(1),
            [(room(1), Some(3_000)), (room(2), Some(2_000))],
        );
        rooms::write_list(pipe, k, user(1), [(room(3), Some(3_000))]);
    })
    .await;
    let mut r = fx
        .read(|k, pipe| {
            rooms::queue_get(pipe, k, room(1));
            rooms::queue_members(pipe, k, room(1));
            rooms::queue_member_count(pipe, k, room(1));
            rooms::queue_is_member(pipe, k, room(1), user(2));
            rooms::queue_is_member(pipe, k, room(1), user(3));
            rooms::queue_list(pipe, k, user(1));
            rooms::queue_page(pipe, k, user(1), None, 2);
        })
        .await;
    assert_eq!(rooms::take(&mut r).unwrap(), Some(view));
    let members = rooms::take_members(&mut r).unwrap();
    assert_eq!(
        members.values().cloned().collect::<Vec<_>>(),
        vec![owner, member]
    );
    assert_eq!(rooms::take_count(&mut r).unwrap(), 2);
    assert!(rooms::take_is_member(&mut r).unwrap());
    assert!(!rooms::take_is_member(&mut r).unwrap());
    assert_eq!(
        rooms::take_list(&mut r).unwrap(),
        vec![room(2), room(1), room(3)]
    );
    let first = rooms::take_page(&mut r, None).unwrap();
    // Equal scores: room id descending.
    assert_eq!(
        first.iter().map(|e| e.room).collect::<Vec<_>>(),
        vec![room(3), room(1)]
    );
    let after = first[0].clone();
    let mut r = fx
        .read(|k, pipe| rooms::queue_page(pipe, k, user(1), Some(&after), 2))
        .await;
    let rest = rooms::take_page(&mut r, Some(&after)).unwrap();
    assert_eq!(
        rest.iter().map(|e| (e.room, e.score)).collect::<Vec<_>>(),
        vec![(room(1), 3_000.0), (room(2), 2_000.0)]
    );
    // A member leaves: gone from the hash and from their list.
    fx.write(|k, pipe| {
        rooms::write_members(pipe, k, room(1), [(user(2), None)]);
        rooms::write_list(pipe, k, user(1), [(room(2), None)]);
    })
    .await;
    let mut r = fx
        .read(|k, pipe| {
            rooms::queue_member_count(pipe, k, room(1));
            rooms::queue_list(pipe, k, user(1));
        })
        .await;
    assert_eq!(rooms::take_count(&mut r).unwrap(), 1);
    assert_eq!(rooms::take_list(&mut r).unwrap(), vec![room(1), room(3)]);
    fx.cleanup().await;
}

#[tokio::test]
async fn unread_counts() {
    let mut fx = Fx::new().await;
    let (r1, reader, author) = (room(1), user(1), user(2));
    fx.write(|k, pipe| {
        unread::write_live(pipe, k, r1, (1..=5).map(|s| (s, true)));
        unread::write_own(pipe, k, r1, reader, [(4, true)]);
        unread::write_own(
            pipe,
            k,
            r1,
            author,
            [(1, true), (2, true), (3, true), (5, true)],
        );
        unread::write_markers(pipe, k, r1, [(reader, Some(1)), (author, Some(5))]);
    })
    .await;
    let count = |fx: &mut Fx| {
        let mut pipe = redis::pipe();
        pipe.atomic();
        unread::queue_script(&mut pipe);
        unread::queue_count(&mut pipe, &fx.keys, r1, reader);
        unread::queue_count(&mut pipe, &fx.keys, r1, author);
        unread::queue_marker(&mut pipe, &fx.keys, r1, reader);
        unread::queue_marker(&mut pipe, &fx.keys, r1, user(9));
        pipe
    };
    let pipe = count(&mut fx);
    let mut r = Replies::new(pipe.query_async(&mut fx.conn).await.unwrap());
    // 2, 3, 5 (4 is the reader's own).
    assert_eq!(unread::take_count(&mut r).unwrap(), 3);
    assert_eq!(unread::take_count(&mut r).unwrap(), 0);
    assert_eq!(unread::take_marker(&mut r).unwrap(), Some(1));
    assert_eq!(unread::take_marker(&mut r).unwrap(), None);
    // Message 3 is deleted; the reader read up to 2; the author left.
    fx.write(|k, pipe| {
        unread::write_live(pipe, k, r1, [(3, false)]);
        unread::write_own(pipe, k, r1, author, [(3, false)]);
        unread::write_markers(pipe, k, r1, [(reader, Some(2)), (author, None)]);
    })
    .await;
    let pipe = count(&mut fx);
    let mut r = Replies::new(pipe.query_async(&mut fx.conn).await.unwrap());
    assert_eq!(unread::take_count(&mut r).unwrap(), 1);
    // Without a marker every live message of others counts.
    assert_eq!(unread::take_count(&mut r).unwrap(), 1);
    assert_eq!(unread::take_marker(&mut r).unwrap(), Some(2));
    fx.cleanup().await;
}

#[tokio::test]
async fn timeline_keeps_the_newest() {
    let mut fx = Fx::new().await;
    let r1 = room(1);
    let n = TIMELINE_LEN as u64 + 10;
    let all: Vec<MessageView> = (1..=n).map(|s| message(r1, s)).collect();
    let entries: Vec<(u64, &MessageView)> = all.iter().map(|m| (m.seq, m)).collect();
    fx.write(|k, pipe| timeline::write(pipe, k, r1, &entries, Some((1, n))))
        .await;
    // A deletion replaces the stored message at its seq.
    let mut gone = all[n as usize - 2].clone();
    gone.deleted = true;
    gone.body.clear();
    fx.write(|k, pipe| timeline::write(pipe, k, r1, &[(gone.seq, &gone)], None))
        .await;
    let newest = timeline::Range {
        min: "-inf".into(),
        max: "+inf".into(),
        ascending: false,
        count: 3,
    };
    let mut r = fx
        .read(|k, pipe| {
            timeline::queue_at(pipe, k, r1, gone.seq);
            timeline::queue_at(pipe, k, r1, 1);
            timeline::queue_slice(pipe, k, r1, &newest);
            timeline::queue_slice(pipe, k, r1, &newest);
        })
        .await;
    assert_eq!(timeline::take_at(&mut r).unwrap(), Some(gone.clone()));
    assert_eq!(timeline::take_at(&mut r).unwrap(), None);
    let slice = timeline::take_slice(&mut r, true).unwrap();
    assert_eq!(slice.extent, Some((11, n as i64)));
    assert_eq!(slice.len, TIMELINE_LEN as i64);
    assert_eq!(
        slice.page,
        vec![
            all[n as usize - 1].clone(),
            gone,
            all[n as usize - 3].clone()
        ]
    );
    assert!(timeline::take_slice(&mut r, false).unwrap().page.is_empty());
    fx.cleanup().await;
}

fn posted(position: i64, r: RoomId, id: u128, body: &str) -> Frame {
    Frame {
        position,
        room_id: r,
        body: FrameBody::MessagePosted {
            message_id: MessageId(Uuid::from_u128(id)),
            seq: position as u64,
            author_id: user(1),
            body: body.into(),
            reply_to: None,
            at: at(position),
        },
    }
}

#[tokio::test]
async fn frame_windows_and_redaction() {
    let mut fx = Fx::new().await;
    let r1 = room(1);
    let frames: Vec<Frame> = (1..=FRAMES_LEN as i64 + 4)
        .map(|p| posted(p, r1, p as u128, "x \"y\""))
        .collect();
    let refs: Vec<&Frame> = frames.iter().collect();
    let joined = Frame {
        position: 3,
        room_id: r1,
        body: FrameBody::MemberJoined {
            user_id: user(2),
            by: user(1),
            at: at(3),
        },
    };
    let last = frames.last().unwrap().clone();
    let id = MessageId(Uuid::from_u128(last.position as u128));
    fx.write(|k, pipe| {
        frames::add_to_room(pipe, k, r1, &refs);
        frames::add_to_user(pipe, k, user(2), &[&joined]);
        frames::redact(pipe, k, r1, id, "");
    })
    .await;
    let after = last.position - 2;
    let mut r = fx
        .read(|k, pipe| {
            frames::queue_room_window(pipe, k, r1, after);
            frames::queue_user_window(pipe, k, user(2), 0);
        })
        .await;
    let room_window = frames::take_room_window(&mut r).unwrap();
    assert_eq!(room_window.full_from, Some(5));
    let got: Vec<Frame> = room_window.frames.into_iter().map(|(f, _)| f).collect();
    let mut redacted = last.clone();
    if let FrameBody::MessagePosted { body, .. } = &mut redacted.body {
        body.clear();
    }
    assert_eq!(got, vec![frames[frames.len() - 2].clone(), redacted]);
    let user_window = frames::take_user_window(&mut r).unwrap();
    assert_eq!(user_window.full_from, None);
    assert_eq!(user_window.frames.len(), 1);
    assert_eq!(user_window.frames[0].0, joined);
    fx.cleanup().await;
}

#[tokio::test]
async fn generations_and_checkpoints() {
    let mut fx = Fx::new().await;
    let ns = fx.namespace.clone();
    assert_eq!(
        generation::peek_current(&mut fx.conn, &ns).await.unwrap(),
        1
    );
    assert_eq!(generation::current(&mut fx.conn, &ns).await.unwrap(), 1);
    assert_eq!(
        generation::checkpoint(&mut fx.conn, &fx.keys)
            .await
            .unwrap(),
        None
    );
    fx.write(|k, pipe| generation::set_checkpoint(pipe, k, 42))
        .await;
    let mut r = fx
        .read(|k, pipe| generation::queue_stand(pipe, &ns, k))
        .await;
    assert_eq!(
        generation::take_stand(&mut r).unwrap(),
        generation::Stand {
            generation: 1,
            checkpoint: 42
        }
    );
    // Generation 2 behind generation 1: no switch; caught up: switched.
    let g2 = RedisKeys::new(&ns, 2);
    let mut pipe = redis::pipe();
    generation::set_checkpoint(&mut pipe, &g2, 41);
    let _: () = pipe.query_async(&mut fx.conn).await.unwrap();
    assert!(!generation::switch_if_caught_up(&mut fx.conn, &ns, 1, 2)
        .await
        .unwrap());
    let mut pipe = redis::pipe();
    generation::set_checkpoint(&mut pipe, &g2, 42);
    let _: () = pipe.query_async(&mut fx.conn).await.unwrap();
    assert!(generation::switch_if_caught_up(&mut fx.conn, &ns, 1, 2)
        .await
        .unwrap());
    assert_eq!(generation::current(&mut fx.conn, &ns).await.unwrap(), 2);
    generation::set_current(&mut fx.conn, &ns, 3).await.unwrap();
    assert_eq!(
        generation::peek_current(&mut fx.conn, &ns).await.unwrap(),
        3
    );
    // Dropping generation 1 leaves 2 and the pointer.
    assert_eq!(generation::drop(&mut fx.conn, &ns, 1).await.unwrap(), 1);
    assert_eq!(
        generation::checkpoint(&mut fx.conn, &fx.keys)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        generation::checkpoint(&mut fx.conn, &g2).await.unwrap(),
        Some(42)
    );
    fx.cleanup().await;
}
