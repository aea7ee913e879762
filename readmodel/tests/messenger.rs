//! The messenger read models (issue 15) written with their writers and read
//! back with their readers on a real Redis: reactions, the notice, hidden
//! seqs (and what they do to the unread count), joined seqs with markers.

mod common;

use common::{at, room, user, Fx};
use domain::unread::ReadingMember;
use domain::views::{NoticeView, ReactionSet};
use domain::MessageId;
use readmodel::{hidden, notice, reactions, readers, unread};

#[tokio::test]
async fn reactions_notice_hidden_and_readers_round_trip() {
    let mut fx = Fx::new().await;
    let (r1, a, b) = (room(1), user(1), user(2));
    let thumbs = vec![ReactionSet {
        emoji: "👍".into(),
        users: vec![a, b],
    }];
    let n = NoticeView {
        message_id: MessageId(uuid::Uuid::from_u128(7)),
        seq: 2,
        body_preview: "공지".into(),
        set_by: a,
        set_at: at(5),
    };
    fx.write(|k, pipe| {
        reactions::write(pipe, k, r1, [(1, &thumbs[..]), (2, &thumbs[..])]);
        notice::write(pipe, k, r1, Some(&n));
        hidden::write(pipe, k, r1, b, &[3, 1]);
        readers::write_joined(pipe, k, r1, [(a, Some(1)), (b, Some(3))]);
        unread::write_markers(pipe, k, r1, [(a, Some(4))]);
        unread::write_live(pipe, k, r1, (1..=4).map(|s| (s, true)));
        unread::write_own(pipe, k, r1, a, (1..=4).map(|s| (s, true)));
    })
    .await;
    let mut r = fx
        .read(|k, pipe| {
            reactions::queue_many(pipe, k, r1, &[2, 9, 1]);
            notice::queue_get(pipe, k, r1);
            hidden::queue_range(pipe, k, r1, b, "(1", "+inf");
            hidden::queue_newest(pipe, k, r1, b, 1);
            hidden::queue_is_hidden(pipe, k, r1, b, 1);
            hidden::queue_is_hidden(pipe, k, r1, a, 1);
            readers::queue(pipe, k, r1);
            unread::queue_script(pipe);
            unread::queue_count(pipe, k, r1, b);
        })
        .await;
    let got = reactions::take_many(&mut r, 3).unwrap();
    assert_eq!(got, [thumbs.clone(), vec![], thumbs.clone()]);
    assert_eq!(notice::take(&mut r).unwrap(), Some(n));
    assert_eq!(hidden::take(&mut r).unwrap(), [3]);
    assert_eq!(hidden::take(&mut r).unwrap(), [3]);
    assert!(hidden::take_is_hidden(&mut r).unwrap());
    assert!(!hidden::take_is_hidden(&mut r).unwrap());
    let mut members = readers::take(&mut r).unwrap();
    members.sort_by_key(|m| m.joined_seq);
    let reading = |user_id, joined_seq, read_seq| ReadingMember {
        user_id,
        joined_seq,
        read_seq,
    };
    assert_eq!(members, [reading(a, 1, 4), reading(b, 3, 0)]);
    // b has no marker: 4 live messages of others, 2 of them hidden.
    assert_eq!(unread::take_count(&mut r).unwrap(), 2);

    // Emptied reactions, the notice taken down, b gone.
    fx.write(|k, pipe| {
        reactions::write(pipe, k, r1, [(1, &[][..])]);
        notice::write(pipe, k, r1, None);
        readers::write_joined(pipe, k, r1, [(b, None)]);
    })
    .await;
    let mut r = fx
        .read(|k, pipe| {
            reactions::queue_many(pipe, k, r1, &[1]);
            notice::queue_get(pipe, k, r1);
            readers::queue(pipe, k, r1);
        })
        .await;
    assert_eq!(reactions::take_many(&mut r, 1).unwrap(), [vec![]]);
    assert_eq!(notice::take(&mut r).unwrap(), None);
    assert_eq!(readers::take(&mut r).unwrap(), [reading(a, 1, 4)]);
    fx.cleanup().await;
}
