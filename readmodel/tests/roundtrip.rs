//! Each writer's value is read back by the matching reader, against a real
//! Redis (one fresh namespace per test): profiles, friends, rooms, members,
//! room lists, unread bookkeeping.

mod common;

use common::{at, room, user, Fx};
use domain::ids::MessageId;
use domain::views::{
    FriendEntryView, FriendState, LastMessageView, MemberView, ProfileView, Role, RoomView,
};
use readmodel::{friends, profiles, rooms, unread, Replies};
use uuid::Uuid;

#[tokio::test]
async fn profiles_and_usernames() {
    let mut fx = Fx::new().await;
    let p = ProfileView {
        user_id: user(1),
        username: "alice".into(),
        display_name: "Alice \"A\"".into(),
        created_at: at(0),
        status_message: String::new(),
        show_presence: true,
        deleted_user: false,
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
            rooms::queue_page(pipe, k, user(1));
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
    let first = rooms::take_page(&mut r, None, 2).unwrap();
    // Equal scores: room id descending.
    assert_eq!(
        first.iter().map(|e| e.room).collect::<Vec<_>>(),
        vec![room(3), room(1)]
    );
    let after = first[0].clone();
    let mut r = fx.read(|k, pipe| rooms::queue_page(pipe, k, user(1))).await;
    let rest = rooms::take_page(&mut r, Some(&after), 2).unwrap();
    assert_eq!(
        rest.iter().map(|e| (e.room, e.score)).collect::<Vec<_>>(),
        vec![(room(1), 3_000.0), (room(2), 2_000.0)]
    );
    // A room's activity, where there is one, orders it in every member's
    // list; the list's own score stands in where there is none.
    fx.write(|k, pipe| rooms::write_activity(pipe, k, [(room(2), 4_000), (room(9), 9_000)]))
        .await;
    let mut r = fx.read(|k, pipe| rooms::queue_page(pipe, k, user(1))).await;
    assert_eq!(
        rooms::take_page(&mut r, None, 10)
            .unwrap()
            .iter()
            .map(|e| (e.room, e.score))
            .collect::<Vec<_>>(),
        vec![(room(2), 4_000.0), (room(3), 3_000.0), (room(1), 3_000.0)]
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
