//! The view of now, given frames: what a replay sends.

use super::*;
use crate::stream::test_frames::*;

/// A room of users 1 (owner), 2 and 3 where 1 posts two messages, kicks 3,
/// deletes the first and edits the second.
fn history() -> Vec<(Frame, String)> {
    let r = room(1);
    vec![
        framed(1, r, created(&[user(1), user(2), user(3)])),
        framed(2, r, posted(1, "TOPSECRET")),
        framed(3, r, posted(2, "ORIGINALX")),
        framed(4, r, kicked(user(3))),
        framed(5, r, deleted(1)),
        framed(6, r, edited(2, "now")),
    ]
}

#[test]
fn a_member_gets_every_frame_each_message_as_it_reads_now() {
    let sent = replay(user(2), &[room(1)].into(), history());
    assert_eq!(
        summary(&sent),
        [
            row("room_created", 1, "-"),
            row("message_posted", 2, ""),
            row("message_posted", 3, "now"),
            row("member_kicked", 4, "-"),
            row("message_deleted", 5, "-"),
            row("message_edited", 6, "now"),
        ]
    );
}

#[test]
fn a_kicked_user_gets_their_kick_and_nothing_else_of_the_room() {
    let sent = replay(user(3), &HashSet::new(), history());
    assert_eq!(summary(&sent), [row("member_kicked", 4, "-")]);
    // Someone else's departure from a room one is not in says nothing.
    assert!(replay(user(2), &HashSet::new(), history()).is_empty());
}

#[test]
fn a_user_back_in_the_room_gets_it_all_including_what_came_while_away() {
    let r = room(1);
    let frames = vec![
        framed(1, r, created(&[user(1), user(2)])),
        framed(2, r, left(user(2))),
        framed(3, r, posted(1, "while away")),
        framed(4, r, joined(user(2))),
        // The same frame from the user's membership window: sent once.
        framed(4, r, joined(user(2))),
    ];
    let sent = replay(user(2), &[r].into(), frames);
    assert_eq!(
        summary(&sent),
        [
            row("room_created", 1, "-"),
            row("member_left", 2, "-"),
            row("message_posted", 3, "while away"),
            row("member_joined", 4, "-"),
        ]
    );
}

#[test]
fn the_newest_edit_or_deletion_decides_whatever_the_order() {
    let r = room(1);
    let mut frames = vec![
        framed(9, r, edited(1, "third")),
        framed(2, r, posted(1, "first")),
        framed(5, r, edited(1, "second")),
        framed(3, r, posted(2, "kept")),
    ];
    frames.reverse();
    let sent = replay(user(1), &[r].into(), frames);
    assert_eq!(
        summary(&sent),
        [
            row("message_posted", 2, "third"),
            row("message_posted", 3, "kept"),
            row("message_edited", 5, "third"),
            row("message_edited", 9, "third"),
        ]
    );
    // Unchanged frames go out as they were read, byte for byte.
    let kept = framed(3, r, posted(2, "kept")).1;
    assert_eq!(&*sent[1], kept.as_str());
}
