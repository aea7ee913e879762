//! The messenger routes of issue 15 through HTTP: mentions and the post's
//! attachment rules, reactions per viewer, "hide for me", the notice, the
//! delete window, and `unread_by` (KakaoTalk's "1").

mod support;

use contract::commands::{PostMessageRequest, SetNoticeRequest};
use contract::queries::{MessageResponse, MessagesResponse};
use domain::{MessageId, RoomId, UserId};
use reqwest::Method;
use serde_json::json;
use support::{assert_refused, Server, User};

/// `u`'s newest page of `room`, read at `at`.
async fn page(s: &Server, u: &User, room: RoomId, at: i64) -> MessagesResponse {
    s.as_user(u)
        .at(at)
        .messages(room, &[])
        .await
        .expect("messages")
        .body
}

/// Message `id` as `u` sees it (it must be there).
async fn seen(s: &Server, u: &User, room: RoomId, id: MessageId, at: i64) -> MessageResponse {
    page(s, u, room, at)
        .await
        .messages
        .into_iter()
        .find(|m| m.message_id == id.0)
        .expect("message in the page")
}

#[tokio::test]
async fn mentions_and_the_rules_of_a_post() {
    let s = support::start().await;
    let (a, b, c) = (
        s.user("mina").await,
        s.user("jun").await,
        s.user("seo").await,
    );
    let room = s.room(&a, "팀", &[&b]).await.room_id;
    let api = s.as_user(&a);
    let req = PostMessageRequest {
        mentions: vec![b.id, b.id],
        ..PostMessageRequest::text("@jun 안녕")
    };
    let posted = api.post_message(room, &req).await.unwrap();
    let m = seen(&s, &b, room, posted.message_id, posted.position).await;
    assert_eq!(m.mentions, vec![b.id.0], "mentions, each once");
    assert!(m.attachments.is_empty() && m.reactions.is_empty());

    let not_member = PostMessageRequest {
        mentions: vec![c.id],
        ..PostMessageRequest::text("@seo?")
    };
    assert_refused(
        api.post_message(room, &not_member).await,
        422,
        "invalid_mention",
    );
    let too_many = PostMessageRequest {
        mentions: (0..51).map(|i| UserId(uuid::Uuid::from_u128(i))).collect(),
        ..PostMessageRequest::text("everyone")
    };
    assert_refused(
        api.post_message(room, &too_many).await,
        422,
        "invalid_mention",
    );
    let unknown_file = PostMessageRequest {
        attachments: vec![domain::AttachmentId(uuid::Uuid::now_v7())],
        ..PostMessageRequest::text("")
    };
    assert_refused(
        api.post_message(room, &unknown_file).await,
        422,
        "invalid_attachment",
    );
    assert_refused(
        api.post_message(room, &PostMessageRequest::text("  "))
            .await,
        422,
        "invalid_message_body",
    );
    // Not a member: the room is not found, whatever the body says.
    assert_refused(
        s.as_user(&c).post_message(room, &req).await,
        404,
        "room_not_found",
    );
}

#[tokio::test]
async fn reactions_count_per_emoji_and_know_the_viewer() {
    let s = support::start().await;
    let (a, b, c) = (
        s.user("mina").await,
        s.user("jun").await,
        s.user("seo").await,
    );
    let room = s.room(&a, "팀", &[&b]).await.room_id;
    let m = s.post(&a, room, "점심 뭐 먹지").await.message_id;
    let (ua, ub) = (s.as_user(&a), s.as_user(&b));
    let first = ua.react(room, m, "👍").await.unwrap();
    let again = ua.react(room, m, "👍").await.unwrap();
    assert_eq!(again.position, first.position, "again: no new event");
    ub.react(room, m, "👍").await.unwrap();
    // "❤" and "❤️" are one reaction.
    let last = ub.react(room, m, "❤").await.unwrap();
    let mine = seen(&s, &a, room, m, last.position).await.reactions;
    let theirs = seen(&s, &b, room, m, last.position).await.reactions;
    let v = |r: &[contract::messenger::ReactionResponse]| {
        r.iter()
            .map(|r| (r.emoji.clone(), r.count, r.me))
            .collect::<Vec<_>>()
    };
    assert_eq!(v(&mine), [("👍".into(), 2, true), ("❤️".into(), 1, false)]);
    assert_eq!(v(&theirs), [("👍".into(), 2, true), ("❤️".into(), 1, true)]);

    let gone = ub.unreact(room, m, "❤️").await.unwrap();
    assert_eq!(
        v(&seen(&s, &a, room, m, gone.position).await.reactions),
        [("👍".into(), 2, true)]
    );
    assert_refused(ub.unreact(room, m, "❤️").await, 404, "reaction_not_found");

    for bad in ["👍👍", "a", "ㅋ", "👍 "] {
        assert_refused(ua.react(room, m, bad).await, 422, "invalid_reaction");
    }
    let path = format!("/v1/rooms/{room}/messages/{m}/reactions/%F0%9F%91%8D");
    s.call(Method::PUT, &path)
        .auth(&b)
        .send()
        .await
        .expect(200, None);
    assert_refused(
        ua.react(room, MessageId(uuid::Uuid::now_v7()), "👍").await,
        404,
        "message_not_found",
    );
    assert_refused(
        s.as_user(&c).react(room, m, "👍").await,
        404,
        "room_not_found",
    );
    ua.delete_message(room, m).await.unwrap();
    assert_refused(ua.react(room, m, "😂").await, 409, "message_deleted");
}

#[tokio::test]
async fn hiding_is_for_the_hider_only() {
    let s = support::start().await;
    let (a, b) = (s.user("mina").await, s.user("jun").await);
    let room = s.room(&a, "팀", &[&b]).await.room_id;
    s.post(&a, room, "first words").await;
    let secret = s.post(&a, room, "embarrassing typo").await;
    let (secret, posted_at) = (secret.message_id, secret.position);
    let ub = s.as_user(&b);
    let before = ub.at(posted_at).my_rooms(&[]).await.unwrap();
    assert_eq!(before.rooms[0].unread_count, 2);
    let hid = ub.hide_message(room, secret).await.unwrap();
    assert_eq!(
        ub.hide_message(room, secret).await.unwrap().position,
        hid.position
    );

    let hers = page(&s, &b, room, hid.position).await;
    assert!(hers.messages.iter().all(|m| m.message_id != secret.0));
    assert_eq!(hers.messages.len(), 1);
    let his = page(&s, &a, room, hid.position).await;
    assert!(
        his.messages.iter().any(|m| m.message_id == secret.0),
        "nobody else's"
    );

    let list = ub.at(hid.position).my_rooms(&[]).await.unwrap();
    let summary = &list.rooms[0];
    assert_eq!(summary.unread_count, 1, "a hidden message is not unread");
    let preview = summary.last_message.as_ref().expect("an earlier preview");
    assert_eq!(preview.body_preview, "first words");
    let theirs = s.as_user(&a).at(hid.position).my_rooms(&[]).await.unwrap();
    assert_eq!(
        theirs.rooms[0].last_message.as_ref().unwrap().body_preview,
        "embarrassing typo"
    );

    let found = |u: &User| {
        let api = s.as_user(u).at(hid.position);
        async move {
            api.search(&[("q", "embarrassing")])
                .await
                .unwrap()
                .body
                .hits
                .len()
        }
    };
    assert_eq!(found(&b).await, 0, "not found by the hider");
    assert_eq!(found(&a).await, 1);

    assert_refused(
        ub.hide_message(room, MessageId(uuid::Uuid::now_v7())).await,
        404,
        "message_not_found",
    );
    let outsider = s.user("seo").await;
    assert_refused(
        s.as_user(&outsider).hide_message(room, secret).await,
        404,
        "room_not_found",
    );
}

#[tokio::test]
async fn one_notice_per_room_cleared_with_its_message() {
    let s = support::start().await;
    let (a, b) = (s.user("mina").await, s.user("jun").await);
    let room = s.room(&a, "팀", &[&b]).await.room_id;
    let m1 = s.post(&a, room, "회의는 3시").await.message_id;
    let m2 = s.post(&a, room, "회의는 4시로 변경").await.message_id;
    let ub = s.as_user(&b);
    let p = ub
        .set_notice(room, &SetNoticeRequest { message_id: m1 })
        .await
        .unwrap();
    let notice = ub
        .at(p.position)
        .room(room)
        .await
        .unwrap()
        .body
        .notice
        .expect("notice");
    assert_eq!((notice.message_id, notice.seq), (m1.0, 1));
    assert_eq!(
        (notice.body_preview.as_str(), notice.set_by),
        ("회의는 3시", b.id.0)
    );
    // The newest wins.
    let p = s
        .as_user(&a)
        .set_notice(room, &SetNoticeRequest { message_id: m2 })
        .await
        .unwrap();
    let notice = ub
        .at(p.position)
        .room(room)
        .await
        .unwrap()
        .body
        .notice
        .unwrap();
    assert_eq!(notice.message_id, m2.0);
    // Deleting its message clears it.
    let p = s.as_user(&a).delete_message(room, m2).await.unwrap();
    assert!(ub
        .at(p.position)
        .room(room)
        .await
        .unwrap()
        .body
        .notice
        .is_none());
    assert_refused(ub.clear_notice(room).await, 404, "notice_not_found");
    assert_refused(
        ub.set_notice(room, &SetNoticeRequest { message_id: m2 })
            .await,
        409,
        "message_deleted",
    );
    assert_refused(
        ub.set_notice(
            room,
            &SetNoticeRequest {
                message_id: MessageId(uuid::Uuid::now_v7()),
            },
        )
        .await,
        404,
        "message_not_found",
    );
    ub.set_notice(room, &SetNoticeRequest { message_id: m1 })
        .await
        .unwrap();
    let p = ub.clear_notice(room).await.unwrap();
    assert!(ub
        .at(p.position)
        .room(room)
        .await
        .unwrap()
        .body
        .notice
        .is_none());
    s.call(Method::PUT, &format!("/v1/rooms/{room}/notice"))
        .auth(&b)
        .json(json!({"message_id": m1, "pinned": true}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
}

#[tokio::test]
async fn authors_delete_within_the_window_moderators_any_time() {
    let args = cotalk::config::ServeArgs {
        delete_window_secs: 0,
        ..support::serve_args(cotalk::config::Role::All)
    };
    let s = support::start_args(testkit::TestEnv::new().await, args, None).await;
    let (a, b) = (s.user("mina").await, s.user("jun").await);
    let room = s.room(&a, "팀", &[&b]).await.room_id;
    let m = s.post(&b, room, "oops").await.message_id;
    // A window of 0 s has passed by the time the delete is decided.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_refused(
        s.as_user(&b).delete_message(room, m).await,
        403,
        "delete_window_passed",
    );
    s.as_user(&a).delete_message(room, m).await.unwrap();
    let own = s.post(&a, room, "the owner's own").await.message_id;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s.as_user(&a).delete_message(room, own).await.unwrap();
}

#[tokio::test]
async fn the_default_window_lets_authors_delete() {
    let s = support::start().await;
    let (a, b) = (s.user("mina").await, s.user("jun").await);
    let room = s.room(&a, "팀", &[&b]).await.room_id;
    let m = s.post(&b, room, "oops").await.message_id;
    s.as_user(&b).delete_message(room, m).await.unwrap();
}
