//! `unread_by` (KakaoTalk's "1") through HTTP, exactly as API.md defines it:
//! members other than the author, who were members when the message was
//! posted and still are, whose read marker is below its `seq`.

mod support;

use contract::commands::ReadMarkerRequest;
use domain::RoomId;
use support::{Server, User};

/// `unread_by` of each message of `room` as `u` sees it, oldest first.
async fn counts(s: &Server, u: &User, room: RoomId, at: i64) -> Vec<(u64, u32)> {
    let page = s.as_user(u).at(at).messages(room, &[]).await.unwrap().body;
    let mut out: Vec<_> = page.messages.iter().map(|m| (m.seq, m.unread_by)).collect();
    out.reverse();
    out
}

#[tokio::test]
async fn counts_down_as_markers_move_and_members_leave() {
    let s = support::start().await;
    let (a, b, c) = (
        s.user("mina").await,
        s.user("jun").await,
        s.user("seo").await,
    );
    let room = s.room(&a, "팀", &[&b, &c]).await.room_id;
    let p = s.post(&a, room, "one").await.position;
    assert_eq!(
        counts(&s, &a, room, p).await,
        [(1, 2)],
        "the author is not counted"
    );
    assert_eq!(
        counts(&s, &b, room, p).await,
        [(1, 2)],
        "the same for every viewer"
    );

    let read = |u: &User, seq| {
        let api = s.as_user(u);
        async move {
            api.mark_read(room, &ReadMarkerRequest { seq })
                .await
                .unwrap()
                .position
        }
    };
    let p = read(&b, 1).await;
    assert_eq!(counts(&s, &a, room, p).await, [(1, 1)], "a marker moved");
    let p = s
        .as_user(&c)
        .remove_member(room, c.id)
        .await
        .unwrap()
        .position;
    assert_eq!(counts(&s, &a, room, p).await, [(1, 0)], "a member left");

    // Who joins later is not waited for by earlier messages.
    s.post(&a, room, "two").await;
    let d = s.user("dan").await;
    s.as_user(&a)
        .add_member(
            room,
            &contract::commands::AddMemberRequest { user_id: d.id },
        )
        .await
        .unwrap();
    let p = s.post(&a, room, "three").await.position;
    assert_eq!(counts(&s, &a, room, p).await, [(1, 0), (2, 1), (3, 2)]);
    // Posting moves the poster's marker: b has read everything before.
    let p = s.post(&b, room, "four").await.position;
    assert_eq!(
        counts(&s, &d, room, p).await,
        [(1, 0), (2, 0), (3, 1), (4, 2)]
    );
    let p = read(&d, 4).await;
    assert_eq!(
        counts(&s, &b, room, p).await,
        [(1, 0), (2, 0), (3, 0), (4, 1)]
    );
}
