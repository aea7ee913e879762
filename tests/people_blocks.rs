//! Blocks, mutes, status messages and user search (issue 16) through HTTP:
//! every route, answer and error code, and the privacy rules of blocking on
//! the read paths served so far (timeline, room list preview, friend
//! requests, user search).

mod support;

use contract::commands::{FriendRequest, UpdateMeRequest};
use contract::people::MuteRequest;
use domain::UserId;
use reqwest::Method;
use serde_json::json;
use support::{assert_refused, start};

#[tokio::test]
async fn block_unblock_list_and_errors() {
    let s = start().await;
    let (a, b) = (s.user("alice").await, s.user("bob").await);
    let api = s.as_user(&a);
    let p = api.block(b.id).await.unwrap();
    let again = api.block(b.id).await.unwrap();
    assert!(again.position >= p.position);
    let list = api.at(p.position).blocks().await.unwrap();
    assert_eq!(list.blocks.len(), 1);
    assert_eq!(
        (
            UserId(list.blocks[0].user_id),
            list.blocks[0].username.as_str()
        ),
        (b.id, "bob")
    );
    assert_refused(api.block(a.id).await, 422, "cannot_block_self");
    assert_refused(
        api.block(UserId(uuid::Uuid::now_v7())).await,
        404,
        "user_not_found",
    );
    s.call(Method::PUT, "/v1/me/blocks/not-a-uuid")
        .auth(&a)
        .send()
        .await
        .expect(404, None);
    // Nothing in bob's own lists says so.
    assert!(s
        .as_user(&b)
        .at(p.position)
        .blocks()
        .await
        .unwrap()
        .blocks
        .is_empty());
    let p = api.unblock(b.id).await.unwrap();
    assert!(api.at(p.position).blocks().await.unwrap().blocks.is_empty());
    assert_refused(api.unblock(b.id).await, 404, "block_not_found");
}

#[tokio::test]
async fn blocking_ends_friendship_and_shadows_requests() {
    let s = start().await;
    let (a, b, c) = (
        s.user("alice").await,
        s.user("bob").await,
        s.user("carol").await,
    );
    let req = |u: UserId| FriendRequest { user_id: u };
    s.as_user(&a).request_friend(&req(b.id)).await.unwrap();
    s.as_user(&b).accept_friend(a.id).await.unwrap();
    // The block ends the friendship, for both, in the same commit.
    let p = s.as_user(&a).block(b.id).await.unwrap();
    assert!(s
        .as_user(&a)
        .at(p.position)
        .friends()
        .await
        .unwrap()
        .friends
        .is_empty());
    assert!(s
        .as_user(&b)
        .at(p.position)
        .friends()
        .await
        .unwrap()
        .friends
        .is_empty());

    // bob asks alice (who blocked him): 201, he sees it pending, she never does.
    let p = s.as_user(&b).request_friend(&req(a.id)).await.unwrap();
    let bob = s.as_user(&b).at(p.position).friends().await.unwrap();
    assert_eq!(bob.outgoing.len(), 1);
    let alice = s.as_user(&a).at(p.position).friends().await.unwrap();
    assert!(
        alice.incoming.is_empty() && alice.friends.is_empty(),
        "{alice:?}"
    );
    // The blocker's own request across her block is shadowed too.
    s.as_user(&c).block(a.id).await.unwrap();
    let p = s.as_user(&a).request_friend(&req(c.id)).await.unwrap();
    assert!(s
        .as_user(&c)
        .at(p.position)
        .friends()
        .await
        .unwrap()
        .incoming
        .is_empty());
}

#[tokio::test]
async fn blocked_messages_leave_the_timeline_and_room_list_of_the_blocker_only() {
    let s = start().await;
    let (a, b, c) = (
        s.user("alice").await,
        s.user("bob").await,
        s.user("carol").await,
    );
    let room = s.room(&a, "room", &[&b, &c]).await.room_id;
    s.post(&a, room, "from alice").await;
    s.as_user(&a).block(b.id).await.unwrap();
    let last = s.post(&b, room, "from bob").await;
    let ma = s
        .as_user(&a)
        .at(last.position)
        .messages(room, &[])
        .await
        .unwrap();
    let bodies: Vec<&str> = ma.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["from alice"]);
    // Others (bob included) see everything.
    for u in [&b, &c] {
        let m = s
            .as_user(u)
            .at(last.position)
            .messages(room, &[])
            .await
            .unwrap();
        assert_eq!(m.messages.len(), 2);
    }
    let list = s.as_user(&a).at(last.position).my_rooms(&[]).await.unwrap();
    assert!(list.rooms[0].last_message.is_none(), "{:?}", list.rooms[0]);
    // Unread counts leave the blocked user's messages out, for the blocker only.
    assert_eq!(list.rooms[0].unread_count, 0, "{:?}", list.rooms[0]);
    let list = s.as_user(&c).at(last.position).my_rooms(&[]).await.unwrap();
    assert_eq!(
        list.rooms[0].last_message.as_ref().unwrap().body_preview,
        "from bob"
    );
    assert_eq!(list.rooms[0].unread_count, 2);
    // Search: the blocker finds only her own message, the others both.
    let hits = |u| {
        let api = s.as_user(u).at(last.position);
        async move { api.search(&[("q", "from")]).await.unwrap().hits.len() }
    };
    assert_eq!(hits(&a).await, 1);
    assert_eq!(hits(&c).await, 2);
}

#[tokio::test]
async fn mute_and_unmute() {
    let s = start().await;
    let (a, b) = (s.user("alice").await, s.user("bob").await);
    let room = s.room(&a, "room", &[]).await.room_id;
    let api = s.as_user(&a);
    let muted = |p: i64| {
        let api = api.at(p);
        async move { api.my_rooms(&[]).await.unwrap().rooms[0].muted }
    };
    let p = api.mute(room, &MuteRequest::default()).await.unwrap();
    assert!(muted(p.position).await);
    let until = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    let p = api
        .mute(room, &MuteRequest { until: Some(until) })
        .await
        .unwrap();
    assert!(muted(p.position).await);
    let past = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    assert_refused(
        api.mute(room, &MuteRequest { until: Some(past) }).await,
        422,
        "invalid_mute_until",
    );
    s.call(Method::PUT, &format!("/v1/rooms/{room}/mute"))
        .auth(&a)
        .json(json!({"until": "tomorrow"}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
    assert_refused(
        s.as_user(&b).mute(room, &MuteRequest::default()).await,
        404,
        "room_not_found",
    );
    assert_refused(s.as_user(&b).unmute(room).await, 404, "room_not_found");
    let p = api.unmute(room).await.unwrap();
    assert!(!muted(p.position).await);
    api.unmute(room).await.unwrap();
}

#[tokio::test]
async fn status_message_and_presence_setting() {
    let s = start().await;
    let (a, b) = (s.user("alice").await, s.user("bob").await);
    let api = s.as_user(&a);
    let p = api
        .update_me(&UpdateMeRequest {
            status_message: Some(" 출근 중 ".into()),
            show_presence: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    let me = api.at(p.position).me().await.unwrap();
    assert_eq!(
        (me.status_message.as_str(), me.show_presence),
        ("출근 중", false)
    );
    let seen = s.as_user(&b).at(p.position).user(a.id).await.unwrap();
    assert_eq!(seen.status_message, "출근 중");
    assert_eq!(me.display_name, "ALICE");
    assert_refused(
        api.update_me(&UpdateMeRequest {
            status_message: Some("가".repeat(61)),
            ..Default::default()
        })
        .await,
        422,
        "invalid_status_message",
    );
    // Nothing changed by the refused request, not even the valid part.
    let bad = s
        .call(Method::PATCH, "/v1/me")
        .auth(&a)
        .json(json!({"display_name": "New", "status_message": "x".repeat(61)}))
        .send()
        .await;
    bad.expect(422, Some("invalid_status_message"));
    let p = api
        .update_me(&UpdateMeRequest {
            status_message: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap();
    let me = api.at(p.position).me().await.unwrap();
    assert_eq!(
        (me.status_message.as_str(), me.display_name.as_str()),
        ("", "ALICE")
    );
}

#[tokio::test]
async fn user_search_by_prefix_and_initials() {
    let s = start().await;
    let caller = s.user("caller").await;
    let reg = |u: String, d: String| {
        let api = s.api.clone();
        async move { api.sign_up(&u, &d, "password-1").await.unwrap() }
    };
    let minji = reg("kimminji".into(), "김민지".into()).await;
    let minji2 = reg("minji".into(), "민지".into()).await;
    let bob = reg("bob".into(), "Bob".into()).await;
    let mut last = bob.position;
    for i in 0..21 {
        last = reg(format!("kk{i:02}"), format!("K {i}")).await.position;
    }
    let api = s.as_user(&caller).at(last);
    let ids = |r: &contract::people::UserSearchResponse| -> Vec<UserId> {
        r.users.iter().map(|u| UserId(u.user_id)).collect()
    };
    assert_eq!(ids(&api.search_users("ㄱㅁㅈ").await.unwrap()), [minji.id]);
    assert_eq!(ids(&api.search_users("ㅁ지").await.unwrap()), [minji2.id]);
    assert_eq!(ids(&api.search_users("김ㅁ").await.unwrap()), [minji.id]);
    assert_eq!(ids(&api.search_users("BO").await.unwrap()), [bob.id]);
    // Exact before prefix.
    let min = api.search_users("minji").await.unwrap();
    assert_eq!(ids(&min)[0], minji2.id);
    // At most 20.
    assert_eq!(api.search_users("kk").await.unwrap().users.len(), 20);
    assert!(api.search_users("zzz").await.unwrap().users.is_empty());
    // Users who blocked the caller are never listed.
    let p = s.as_user(&minji).block(caller.id).await.unwrap();
    assert!(s
        .as_user(&caller)
        .at(p.position)
        .search_users("ㄱㅁㅈ")
        .await
        .unwrap()
        .users
        .is_empty());
    // A rename moves the initials.
    let p = s
        .as_user(&bob)
        .update_me(&UpdateMeRequest {
            display_name: Some("박보검".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let api = s.as_user(&caller).at(p.position);
    assert_eq!(ids(&api.search_users("ㅂㅂ").await.unwrap()), [bob.id]);
    assert_eq!(ids(&api.search_users("bob").await.unwrap()), [bob.id]);
    // 422 invalid_query: absent, blank, too long.
    for q in [
        "/v1/users/search",
        "/v1/users/search?q=",
        "/v1/users/search?q=%20%20",
    ] {
        s.call(Method::GET, q)
            .auth(&caller)
            .send()
            .await
            .expect(422, Some("invalid_query"));
    }
    let long = format!("/v1/users/search?q={}", "a".repeat(65));
    s.call(Method::GET, &long)
        .auth(&caller)
        .send()
        .await
        .expect(422, Some("invalid_query"));
}
