//! Each writer's value is read back by the matching reader, against a real
//! Redis (one fresh namespace per test): timelines, frame windows,
//! checkpoints and the generation pointer.

mod common;

use common::{at, message, room, user, Fx};
use domain::frame::{Frame, FrameBody};
use domain::ids::{MessageId, RoomId};
use domain::views::MessageView;
use readmodel::{frames, generation, timeline, RedisKeys, FRAMES_LEN, TIMELINE_LEN};
use uuid::Uuid;

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
            attachments: Vec::new(),
            mentions: Vec::new(),
            reactions: Vec::new(),
            unread_by: 0,
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
