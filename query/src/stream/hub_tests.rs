//! Routing, activation and closing rules of the hub, without NATS.

use super::*;
use chrono::Utc;
use domain::frame::FrameBody;
use uuid::Uuid;

fn hub(queue: usize, ring_age: Duration) -> StreamHub {
    let redis = redis::Client::open("redis://127.0.0.1:1").unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    let keys = Arc::new(api::TokenKeys::new(
        b"0123456789abcdef0123456789abcdef",
        chrono::Duration::hours(1),
    ));
    let state = QueryState::from_parts(redis, pool, "t", keys);
    let hub = StreamHub {
        shared: Arc::new(Shared {
            state,
            opts: StreamOptions {
                queue,
                ring_age,
                ..StreamOptions::default()
            },
            cancel: CancellationToken::new(),
            table: Mutex::new(Table::default()),
            nats: OnceLock::new(),
        }),
    };
    hub.set_ready(true, "test");
    hub
}

fn live(position: i64, room: RoomId, body: FrameBody) -> Arc<Live> {
    let frame = Frame {
        position,
        room_id: room,
        body,
    };
    let text = Text::from(serde_json::to_string(&frame).unwrap());
    Arc::new(Live { frame, text })
}

fn renamed(position: i64, room: RoomId) -> Arc<Live> {
    let by = UserId(Uuid::from_u128(99));
    live(
        position,
        room,
        FrameBody::RoomRenamed {
            name: format!("n{position}"),
            by,
            at: Utc::now(),
        },
    )
}

fn outbox(queue: usize) -> (Outbox, queue::Receiver, Arc<OnceLock<Close>>) {
    let (tx, rx) = queue::channel(queue);
    let closed = Arc::new(OnceLock::new());
    let out = Outbox {
        tx,
        closed: closed.clone(),
        blocks: Blocks::default(),
        withheld: HashSet::new(),
    };
    (out, rx, closed)
}

fn positions(rx: &mut queue::Receiver) -> Vec<i64> {
    let mut got = Vec::new();
    while let Some(text) = rx.try_recv() {
        let f: Frame = serde_json::from_str(&text).unwrap();
        got.push(f.position);
    }
    got
}

const PUBLISHER: Uuid = Uuid::from_u128(7);

#[tokio::test]
async fn a_full_queue_closes_the_connection_as_too_slow() {
    let hub = hub(2, Duration::from_secs(10));
    let (me, room) = (UserId(Uuid::from_u128(1)), RoomId(Uuid::from_u128(2)));
    let (out, mut rx, closed) = outbox(2);
    let _reg = hub
        .activate(me, [room].into(), 0, Instant::now(), out)
        .unwrap();
    hub.dispatch(
        PUBLISHER,
        1,
        Covers::default(),
        vec![renamed(1, room), renamed(2, room)],
    );
    assert!(closed.get().is_none());
    hub.dispatch(PUBLISHER, 2, Covers::default(), vec![renamed(3, room)]);
    assert_eq!(closed.get().map(|c| c.code), Some(close::TOO_SLOW));
    assert_eq!(hub.connections(), 0);
    assert_eq!(
        positions(&mut rx),
        vec![1, 2],
        "what was queued still drains"
    );
}

#[tokio::test]
async fn activation_takes_the_frames_received_since_the_read_then_routes_live() {
    let hub = hub(64, Duration::from_secs(10));
    let me = UserId(Uuid::from_u128(1));
    let (old, new) = (RoomId(Uuid::from_u128(2)), RoomId(Uuid::from_u128(3)));
    let by = UserId(Uuid::from_u128(99));
    hub.dispatch(PUBLISHER, 1, Covers::default(), vec![renamed(5, old)]);
    tokio::time::sleep(Duration::from_millis(2)).await;
    let since = Instant::now();
    let joined = FrameBody::MemberJoined {
        user_id: me,
        by,
        at: Utc::now(),
    };
    hub.dispatch(PUBLISHER, 2, Covers::default(), vec![renamed(6, old)]);
    hub.dispatch(
        PUBLISHER,
        3,
        Covers::default(),
        vec![live(7, new, joined), renamed(8, new)],
    );
    // Read at checkpoint 6: frame 6 is in the state, 7 and 8 are not.
    let (out, mut rx, _) = outbox(64);
    let _reg = hub.activate(me, [old].into(), 6, since, out).unwrap();
    assert_eq!(positions(&mut rx), vec![7, 8]);

    let kicked = FrameBody::MemberKicked {
        user_id: me,
        by,
        at: Utc::now(),
    };
    hub.dispatch(
        PUBLISHER,
        4,
        Covers::default(),
        vec![renamed(9, new), live(10, new, kicked)],
    );
    hub.dispatch(
        PUBLISHER,
        5,
        Covers::default(),
        vec![renamed(11, new), renamed(12, old)],
    );
    // A duplicate (another applier published it too) is routed once.
    hub.dispatch(PUBLISHER, 6, Covers::default(), vec![renamed(12, old)]);
    assert_eq!(positions(&mut rx), vec![9, 10, 12]);
}

#[tokio::test]
async fn a_hole_in_a_publishers_sequence_closes_every_connection() {
    let hub = hub(64, Duration::from_secs(10));
    let (me, room) = (UserId(Uuid::from_u128(1)), RoomId(Uuid::from_u128(2)));
    hub.dispatch(PUBLISHER, 1, Covers::default(), vec![renamed(1, room)]);
    let (out, _rx, closed) = outbox(64);
    let _reg = hub
        .activate(me, [room].into(), 1, Instant::now(), out)
        .unwrap();
    hub.dispatch(PUBLISHER, 3, Covers::default(), vec![renamed(3, room)]);
    assert_eq!(closed.get().map(|c| c.code), Some(close::RESUME));
    assert_eq!(hub.connections(), 0);
}

/// What a message covers, as a projection publishes it.
fn covers(after: i64, upto: i64) -> Covers {
    Covers { after, upto }
}

#[tokio::test]
async fn a_message_past_the_positions_received_closes_every_connection() {
    let hub = hub(64, Duration::from_secs(10));
    let (me, room) = (UserId(Uuid::from_u128(1)), RoomId(Uuid::from_u128(2)));
    let next = Uuid::from_u128(8);
    hub.dispatch(PUBLISHER, 1, covers(0, 4), vec![renamed(4, room)]);
    let (out, mut rx, closed) = outbox(64);
    let _reg = hub
        .activate(me, [room].into(), 4, Instant::now(), out)
        .unwrap();
    // A batch without frames, then another publisher taking over where the
    // first stopped: nothing is missing.
    hub.dispatch(PUBLISHER, 2, covers(4, 6), vec![]);
    hub.dispatch(next, 1, covers(6, 7), vec![renamed(7, room)]);
    // An older batch again (a generation re-applying): not a hole either.
    hub.dispatch(next, 2, covers(2, 7), vec![]);
    assert_eq!(positions(&mut rx), vec![7]);
    assert!(closed.get().is_none());
    // The first publisher applied (7, 9] and died before sending it; its
    // successor starts at 9.
    let third = Uuid::from_u128(9);
    hub.dispatch(third, 1, covers(9, 10), vec![renamed(10, room)]);
    assert_eq!(closed.get().map(|c| c.code), Some(close::RESUME));
    assert_eq!(hub.connections(), 0);
}

#[tokio::test]
async fn notifications_chain_on_their_own_and_a_batch_never_published_closes_every_connection() {
    let hub = hub(64, Duration::from_secs(10));
    let (me, room) = (UserId(Uuid::from_u128(1)), RoomId(Uuid::from_u128(2)));
    hub.dispatch(PUBLISHER, 1, covers(0, 10), vec![renamed(10, room)]);
    let (out, _rx, closed) = outbox(64);
    let _reg = hub
        .activate(me, [room].into(), 10, Instant::now(), out)
        .unwrap();
    // The history projection runs behind the redis one, then ahead of it,
    // and another publisher takes over where the first stopped.
    hub.dispatch_notified(PUBLISHER, 2, covers(0, 4));
    hub.dispatch_notified(Uuid::from_u128(8), 1, covers(4, 20));
    hub.dispatch(PUBLISHER, 3, covers(10, 12), vec![]);
    assert!(closed.get().is_none());
    // The history projector committed (20, 25] and died before publishing
    // its notifications; its successor starts at 25.
    hub.dispatch_notified(Uuid::from_u128(9), 1, covers(25, 26));
    assert_eq!(closed.get().map(|c| c.code), Some(close::RESUME));
    // Room frames keep their own chain: a hole there is seen although
    // notifications went past it.
    let (out, _rx, closed) = outbox(64);
    let _reg = hub
        .activate(me, [room].into(), 12, Instant::now(), out)
        .unwrap();
    hub.dispatch(PUBLISHER, 4, covers(14, 15), vec![]);
    assert_eq!(closed.get().map(|c| c.code), Some(close::RESUME));
}

#[tokio::test]
async fn activation_is_refused_when_not_ready_or_the_ring_moved_past_the_read() {
    let hub = hub(64, Duration::ZERO);
    let (me, room) = (UserId(Uuid::from_u128(1)), RoomId(Uuid::from_u128(2)));
    let since = Instant::now();
    hub.dispatch(PUBLISHER, 1, Covers::default(), vec![renamed(1, room)]);
    tokio::time::sleep(Duration::from_millis(2)).await;
    hub.dispatch(PUBLISHER, 2, Covers::default(), vec![renamed(2, room)]);
    let (out, _rx, _) = outbox(64);
    assert_eq!(
        hub.activate(me, [room].into(), 0, since, out).err(),
        Some(Refused::Stale)
    );
    hub.set_ready(false, "test");
    let (out, _rx, _) = outbox(64);
    assert_eq!(
        hub.activate(me, [room].into(), 0, Instant::now(), out)
            .err(),
        Some(Refused::NotReady)
    );
}

#[tokio::test]
async fn frames_received_during_set_up_are_a_view_of_now_too() {
    use crate::stream::test_frames::{deleted, framed, kicked, posted, row, summary};
    let hub = hub(64, Duration::from_secs(10));
    let me = UserId(Uuid::from_u128(3));
    let (stay, gone) = (RoomId(Uuid::from_u128(2)), RoomId(Uuid::from_u128(4)));
    let since = Instant::now();
    let frames = [
        framed(2, stay, posted(1, "TOPSECRET")),
        framed(3, gone, posted(2, "in the room left")),
        framed(4, stay, deleted(1)),
        framed(5, gone, kicked(me)),
        framed(6, stay, posted(3, "fine")),
    ];
    for (seq, (frame, text)) in (1..).zip(frames) {
        let text = Text::from(text);
        hub.dispatch(
            PUBLISHER,
            seq,
            Covers::default(),
            vec![Arc::new(Live { frame, text })],
        );
    }
    let (out, mut rx, _) = outbox(64);
    let _reg = hub
        .activate(me, [stay, gone].into(), 1, since, out)
        .unwrap();
    let sent: Vec<Text> = std::iter::from_fn(|| rx.try_recv()).collect();
    assert_eq!(
        summary(&sent),
        [
            row("message_posted", 2, ""),
            row("message_deleted", 4, "-"),
            row("member_kicked", 5, "-"),
            row("message_posted", 6, "fine"),
        ]
    );
}

#[tokio::test]
async fn a_user_over_the_cap_is_refused_and_a_freed_slot_taken() {
    let hub = hub(64, Duration::from_secs(10));
    let (me, room) = (UserId(Uuid::from_u128(1)), RoomId(Uuid::from_u128(2)));
    let other = UserId(Uuid::from_u128(3));
    let cap = StreamOptions::default().max_per_user;
    let mut held = Vec::new();
    for _ in 0..cap {
        let (out, _rx, _) = outbox(8);
        held.push(
            hub.activate(me, [room].into(), 0, Instant::now(), out)
                .unwrap(),
        );
    }
    let (out, _rx, _) = outbox(8);
    assert_eq!(
        hub.activate(me, [room].into(), 0, Instant::now(), out)
            .err(),
        Some(Refused::TooMany)
    );
    assert_eq!(hub.connections_of(me), cap);
    // Per user: others are not affected.
    let (out, _rx, _) = outbox(8);
    let _theirs = hub
        .activate(other, [room].into(), 0, Instant::now(), out)
        .unwrap();
    held.pop();
    let (out, _rx, _) = outbox(8);
    assert!(hub
        .activate(me, [room].into(), 0, Instant::now(), out)
        .is_ok());
}
