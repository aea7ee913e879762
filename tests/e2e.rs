//! End to end through HTTP: a command's effect is visible in every read model
//! that shows it, as soon as the query passes the command's position.

mod support;

use contract::commands::{
    CreateRoomRequest, EditMessageRequest, FriendRequest, PostMessageRequest, ReadMarkerRequest,
};
use reqwest::{Method, StatusCode};
use support::{assert_refused, start};

#[tokio::test]
async fn posted_edited_deleted_messages_show_everywhere_with_read_your_writes() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let (as_minsu, as_bora) = (s.as_user(&minsu), s.as_user(&bora));
    let room = as_minsu
        .create_room(&CreateRoomRequest {
            name: "프로젝트".into(),
            members: vec![bora.id],
        })
        .await
        .expect("create a room")
        .room_id;

    let mut last = 0;
    let mut ids = Vec::new();
    for body in [
        "회의는 3시에 시작합니다",
        "자료 공유 부탁드려요",
        "Deploy at 5pm",
    ] {
        let posted = as_minsu
            .post_message(room, &PostMessageRequest::text(body))
            .await
            .expect("post");
        last = posted.position;
        ids.push(posted.message_id);
    }

    // History (read tables) at the last position.
    let history = as_bora.at(last).messages(room, &[]).await.expect("history");
    assert!(history.position >= last);
    let msgs = &history.messages;
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0].seq, 3, "newest first");
    assert_eq!(msgs[2].body, "회의는 3시에 시작합니다");

    // Room list: last message preview, unread counts per reader.
    let rooms = as_bora.at(last).my_rooms(&[]).await.expect("room list");
    let r = &rooms.rooms[0];
    assert_eq!(r.room_id, room.0);
    assert_eq!(r.unread_count, 3);
    assert_eq!(r.member_count, 2);
    let preview = r.last_message.as_ref().map(|m| m.body_preview.as_str());
    assert_eq!(preview, Some("Deploy at 5pm"));
    let mine = as_minsu.at(last).my_rooms(&[]).await.expect("room list");
    assert_eq!(
        mine.rooms[0].unread_count, 0,
        "own messages are never unread"
    );

    // Read marker, edit and delete.
    let read = as_bora
        .mark_read(room, &ReadMarkerRequest { seq: 2 })
        .await
        .expect("mark read");
    let edit = as_minsu
        .edit_message(
            room,
            ids[0],
            &EditMessageRequest {
                body: "회의는 4시로 변경".into(),
            },
        )
        .await
        .expect("edit");
    let del = as_minsu.delete_message(room, ids[2]).await.expect("delete");
    let at = read.position.max(edit.position).max(del.position);
    let rooms = as_bora.at(at).my_rooms(&[]).await.expect("room list");
    assert_eq!(
        rooms.rooms[0].unread_count, 0,
        "seq 3 was deleted and 1-2 read"
    );
    let history = as_bora
        .at(at)
        .messages(room, &[("after", "0")])
        .await
        .expect("history");
    let msgs = &history.messages;
    assert_eq!(msgs[0].body, "회의는 4시로 변경");
    assert!(msgs[0].edited_at.is_some());
    assert!(msgs[2].deleted);
    assert_eq!(msgs[2].body, "");

    // Leaving takes effect at once for every room-scoped read.
    let left = as_bora
        .remove_member(room, bora.id)
        .await
        .expect("leave")
        .position;
    let as_bora = as_bora.at(left);
    assert_refused(as_bora.room(room).await, 404, "room_not_found");
    assert_refused(as_bora.messages(room, &[]).await, 404, "room_not_found");
    let rooms = as_bora.my_rooms(&[]).await.expect("room list");
    assert_eq!(rooms.rooms.len(), 0);
}

#[tokio::test]
async fn profiles_friends_and_lagging_answers() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let (as_minsu, as_bora) = (s.as_user(&minsu), s.as_user(&bora));
    let me = as_minsu.at(bora.position).me().await.expect("me");
    assert_eq!(me.username, "minsu");
    let ask = as_minsu
        .request_friend(&FriendRequest { user_id: bora.id })
        .await
        .expect("ask");
    let friends = as_bora.at(ask.position).friends().await.expect("friends");
    assert_eq!(friends.incoming[0].username, "minsu");
    let found = as_minsu
        .at(ask.position)
        .find_user("bora")
        .await
        .expect("find");
    assert_eq!(found.user_id, bora.id.0);
    // A position nobody will reach in time: 503 with Retry-After, never a 500.
    let lag = s
        .call(Method::GET, "/v1/me")
        .auth(&minsu)
        .header("x-min-position", 1_000_000_000)
        .header("x-max-wait-ms", 50)
        .send()
        .await;
    lag.expect(503, Some("projection_lagging"));
    assert!(lag.headers.contains_key("retry-after"));
}

/// API.md: `/openapi.json` documents every operation, the operational routes
/// included, and `/docs` browses it offline.
#[tokio::test]
async fn the_openapi_document_covers_the_operational_routes_and_the_stream() {
    let s = start().await;
    let doc = s.call(Method::GET, "/openapi.json").send().await;
    doc.expect(200, None);
    let paths = doc.json::<utoipa::openapi::OpenApi>().paths.paths;
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/v1/stream",
        "/v1/users",
        "/v1/sessions",
        "/v1/rooms/{room_id}/messages",
        "/v1/search/messages",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    for path in ["/healthz", "/readyz", "/metrics", "/docs"] {
        let res = s
            .http
            .get(format!("{}{path}", s.base))
            .bearer_auth(support::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    // `/metrics` is the operator's (the admin token, like `/ops/status`).
    let anonymous = s.call(Method::GET, "/metrics").send().await;
    anonymous.expect(401, Some("unauthenticated"));
    assert!(anonymous.headers.contains_key("www-authenticate"));
}
