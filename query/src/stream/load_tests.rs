//! The replay from windows as read: which frames, which resync frames.

use super::*;
use crate::stream::test_frames::*;
use domain::frame::Frame;

fn window(frames: Vec<(Frame, String)>, full_from: Option<i64>) -> Window {
    Window { frames, full_from }
}

#[test]
fn rooms_of_now_are_replayed_as_they_read_now_and_left_ones_give_the_departure() {
    let me = user(3);
    let (stay, gone, busy) = (room(1), room(2), room(3));
    let read = Read {
        blocks: Blocks::default(),
        rooms: [stay, busy].into(),
        user: window(
            vec![
                framed(11, gone, created(&[user(1), me])),
                framed(14, gone, kicked(me)),
            ],
            None,
        ),
        windows: [
            (
                stay,
                window(
                    vec![
                        framed(12, stay, posted(1, "TOPSECRET")),
                        framed(13, stay, posted(2, "ORIGINALX")),
                        framed(15, stay, deleted(1)),
                        framed(16, stay, edited(2, "now")),
                    ],
                    None,
                ),
            ),
            // Full, and its oldest frame is past `after`: reload it.
            (
                busy,
                window(vec![framed(17, busy, posted(9, "x"))], Some(12)),
            ),
        ]
        .into(),
    };
    let loaded = replay(me, 10, 20, read, Instant::now());
    assert_eq!(loaded.baseline, 20);
    assert_eq!(loaded.rooms, [stay, busy].into());
    let (frames, resyncs) = loaded.replay.split_at(loaded.replay.len() - 1);
    assert_eq!(
        summary(frames),
        [
            row("message_posted", 12, ""),
            row("message_posted", 13, "now"),
            row("member_kicked", 14, "-"),
            row("message_deleted", 15, "-"),
            row("message_edited", 16, "now"),
        ]
    );
    let resync: serde_json::Value = serde_json::from_str(&resyncs[0]).unwrap();
    assert_eq!(resync["type"], "resync_required");
    assert_eq!(resync["room_id"], busy.to_string());
    assert_eq!(resync["position"], 20);
}

#[test]
fn a_membership_window_that_does_not_reach_back_asks_to_reload_everything() {
    let me = user(3);
    let r = room(1);
    let read = Read {
        blocks: Blocks::default(),
        rooms: [r].into(),
        user: window(vec![framed(30, r, joined(me))], Some(30)),
        windows: [(r, window(vec![framed(31, r, posted(1, "hi"))], None))].into(),
    };
    let loaded = replay(me, 10, 40, read, Instant::now());
    assert_eq!(loaded.replay.len(), 1);
    let resync: serde_json::Value = serde_json::from_str(&loaded.replay[0]).unwrap();
    assert_eq!(resync["room_id"], serde_json::Value::Null);
}

#[test]
fn a_replay_withholds_what_a_blocked_user_posted_and_its_edits() {
    let me = user(3);
    let r = room(1);
    let read = Read {
        blocks: Blocks {
            blocked: [user(1)].into(),
            ..Blocks::default()
        },
        rooms: [r].into(),
        user: window(Vec::new(), None),
        windows: [(
            r,
            window(
                vec![
                    framed(11, r, created(&[user(1), me])),
                    framed(12, r, posted(1, "FROMBLOCKED")),
                    framed(13, r, edited(1, "EDITED")),
                ],
                None,
            ),
        )]
        .into(),
    };
    let loaded = replay(me, 10, 20, read, Instant::now());
    assert_eq!(
        summary(&loaded.replay),
        vec![("room_created".to_owned(), 11, "-".to_owned())]
    );
    assert!(loaded.withheld.contains(&message(1)));
}
