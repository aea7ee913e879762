//! Live frames leave the projector as one NATS message per applied batch,
//! every room's frames together in position order: a connection following
//! two rooms then gets them in position order, which resuming with
//! `after=<last position>` relies on (a message per room let a later
//! position of one room arrive before an earlier one of the other). Every
//! applied batch is published, frames or not, with the positions it covers,
//! so a subscriber can tell a message nobody sent from a quiet stretch.

use chrono::Utc;
use domain::frame::{Frame, FrameBatch, FrameBody};
use domain::{RoomId, UserId};
use futures::StreamExt;
use projector::FramePublisher;
use std::time::Duration;
use uuid::Uuid;

fn renamed(position: i64, room: RoomId) -> Frame {
    Frame {
        position,
        room_id: room,
        body: FrameBody::RoomRenamed {
            name: format!("name {position}"),
            by: UserId(Uuid::from_u128(1)),
            at: Utc::now(),
        },
    }
}

/// A publisher, and a subscription to every frame subject it publishes on,
/// confirmed by the server.
async fn subscribed(env: &testkit::TestEnv) -> (FramePublisher, async_nats::Subscriber) {
    let client = async_nats::connect(&env.nats_url).await.expect("nats");
    let sub = client
        .subscribe(readmodel::subjects::all_frames(&env.namespace))
        .await
        .unwrap();
    client.flush().await.unwrap();
    (FramePublisher::new(client, &env.namespace), sub)
}

/// The next message on `sub`, within 10 s.
async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a message in time")
        .expect("subscribed")
}

#[tokio::test]
async fn a_batch_of_interleaved_rooms_is_published_in_position_order() {
    let env = testkit::TestEnv::new().await;
    let (publisher, mut sub) = subscribed(&env).await;
    publisher.observe(10);
    let (a, b) = (RoomId(Uuid::from_u128(7)), RoomId(Uuid::from_u128(8)));
    // 10 was published already: skipped.
    let batch = vec![
        renamed(10, a),
        renamed(11, a),
        renamed(12, b),
        renamed(13, a),
        renamed(14, b),
    ];
    publisher.publish(9, 14, batch);
    // A batch that changed nothing live, then one re-applied (a generation
    // being rebuilt): the first is published, the second is not.
    publisher.publish(14, 15, Vec::new());
    publisher.publish(8, 12, vec![renamed(12, b)]);
    publisher.publish(15, 17, vec![renamed(16, b), renamed(17, a)]);
    // (17, 20] was applied and never published (the apply failed after
    // its commit): the next batch says where it starts, not where the last
    // one published ended.
    publisher.publish(20, 21, Vec::new());

    let mut got = Vec::new();
    while got.len() < 4 {
        let m = next(&mut sub).await;
        let batch: FrameBatch = serde_json::from_slice(&m.payload).unwrap();
        got.push((
            batch.seq,
            (batch.after, batch.upto),
            batch.frames.iter().map(|f| f.position).collect::<Vec<_>>(),
        ));
    }
    assert_eq!(
        got,
        [
            (1, (9, 14), vec![11, 12, 13, 14]),
            (2, (14, 15), vec![]),
            (3, (15, 17), vec![16, 17]),
            (4, (20, 21), vec![]),
        ]
    );
}

/// A batch larger than NATS takes in one message (1 MiB by default) reaches
/// subscribers whole, as several chained messages (one message failed to
/// publish, and every connection lost those frames).
#[tokio::test]
async fn a_batch_over_the_nats_payload_limit_arrives_whole() {
    let env = testkit::TestEnv::new().await;
    let (publisher, mut sub) = subscribed(&env).await;
    publisher.observe(100);
    let room = RoomId(Uuid::from_u128(7));
    let frames: Vec<Frame> = (101..=900)
        .map(|p| {
            let mut f = renamed(p, room);
            f.body = FrameBody::RoomRenamed {
                name: "이름".repeat(400),
                by: UserId(Uuid::from_u128(1)),
                at: Utc::now(),
            };
            f
        })
        .collect();
    publisher.publish(100, 900, frames.clone());

    let (mut got, mut upto, mut messages) = (Vec::new(), 100, 0);
    while upto < 900 {
        let m = next(&mut sub).await;
        let batch: FrameBatch = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(batch.after, upto, "parts chain");
        upto = batch.upto;
        messages += 1;
        got.extend(batch.frames);
    }
    assert!(messages > 1);
    assert_eq!(got, frames);
}

/// The `notification` frame of `user` at `position`.
fn notified(position: i64, user: UserId) -> projector::history_projection::Created {
    use domain::notification::{
        NotificationFrame, NotificationId, NotificationKind, NotificationView,
    };
    projector::history_projection::Created {
        user,
        frame: NotificationFrame {
            position,
            notification: NotificationView {
                notification_id: NotificationId(Uuid::from_u128(position as u128)),
                kind: NotificationKind::Mention,
                room_id: None,
                message_id: None,
                actor_id: UserId(Uuid::from_u128(1)),
                at: Utc::now(),
                read: false,
            },
        },
    }
}

/// Every committed batch of notifications is followed by what it covered,
/// with or without notifications, so that query nodes see a batch a
/// history projector committed and died before publishing.
#[tokio::test]
async fn every_batch_of_notifications_says_what_it_covers_after_its_frames() {
    use domain::notification::{NotificationBatch, NotificationsCovered};
    let env = testkit::TestEnv::new().await;
    let (publisher, mut sub) = subscribed(&env).await;
    publisher.observe_notified(10);
    let (a, b) = (UserId(Uuid::from_u128(7)), UserId(Uuid::from_u128(8)));
    publisher.publish_notifications(
        9,
        14,
        vec![notified(10, a), notified(12, b), notified(13, a)],
    );
    publisher.publish_notifications(14, 15, Vec::new());
    // (15, 18] committed and never published (the answer to its commit was
    // lost): the next batch starts at 18, and says so.
    publisher.publish_notifications(18, 19, Vec::new());
    // Re-applied (a generation being rebuilt): nothing.
    publisher.publish_notifications(8, 12, vec![notified(12, b)]);

    let mut got = Vec::new();
    while got.len() < 5 {
        let m = next(&mut sub).await;
        got.push(
            if m.subject.as_str() == readmodel::subjects::notified(&env.namespace) {
                let c: NotificationsCovered = serde_json::from_slice(&m.payload).unwrap();
                format!("{} covers {}..{}", c.seq, c.after, c.upto)
            } else {
                let n: NotificationBatch = serde_json::from_slice(&m.payload).unwrap();
                let positions: Vec<i64> = n.frames.iter().map(|f| f.position).collect();
                assert_eq!(
                    m.subject.as_str(),
                    readmodel::subjects::user_frames(&env.namespace, n.user_id)
                );
                format!("{} {:?}", n.seq, positions)
            },
        );
    }
    assert_eq!(
        got,
        [
            "1 [13]",
            "2 [12]",
            "3 covers 9..14",
            "4 covers 14..15",
            "5 covers 18..19"
        ]
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.next())
            .await
            .is_err(),
        "nothing for a re-applied batch"
    );
}
