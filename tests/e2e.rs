//! End to end through HTTP: a command's effect is visible in every read model
//! that shows it, as soon as the query passes the command's position.

mod support;

use contract::queries::UserResponse;

use reqwest::Method;
use serde_json::json;
use support::start;

#[tokio::test]
async fn posted_edited_deleted_messages_show_everywhere_with_read_your_writes() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let created = s
        .call(Method::POST, "/v1/rooms")
        .auth(&minsu)
        .json(json!({"name": "프로젝트", "members": [bora.id]}))
        .send()
        .await;
    created.expect(201, None);
    let room = created.body["room_id"].as_str().unwrap().to_owned();

    let mut last = 0;
    let mut ids = Vec::new();
    for body in [
        "회의는 3시에 시작합니다",
        "자료 공유 부탁드려요",
        "Deploy at 5pm",
    ] {
        let a = s
            .call(Method::POST, &format!("/v1/rooms/{room}/messages"))
            .auth(&minsu)
            .json(json!({ "body": body }))
            .send()
            .await;
        a.expect(201, None);
        last = a.position();
        ids.push(a.body["message_id"].as_str().unwrap().to_owned());
    }

    // History (read tables) at the last position.
    let history = s
        .call(Method::GET, &format!("/v1/rooms/{room}/messages"))
        .auth(&bora)
        .at(last)
        .send()
        .await;
    history.expect(200, None);
    assert!(history.position() >= last);
    let msgs = history.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["seq"], 3, "newest first");
    assert_eq!(msgs[2]["body"], "회의는 3시에 시작합니다");

    // Room list: last message preview, unread counts per reader.
    let rooms = s
        .call(Method::GET, "/v1/me/rooms")
        .auth(&bora)
        .at(last)
        .send()
        .await;
    rooms.expect(200, None);
    let r = &rooms.body["rooms"][0];
    assert_eq!(r["room_id"], room.to_string());
    assert_eq!(r["unread_count"], 3);
    assert_eq!(r["member_count"], 2);
    assert_eq!(r["last_message"]["body_preview"], "Deploy at 5pm");
    let mine = s
        .call(Method::GET, "/v1/me/rooms")
        .auth(&minsu)
        .at(last)
        .send()
        .await;
    assert_eq!(
        mine.body["rooms"][0]["unread_count"], 0,
        "own messages are never unread"
    );

    // Read marker, edit and delete.
    let read = s
        .call(Method::POST, &format!("/v1/rooms/{room}/read"))
        .auth(&bora)
        .json(json!({"seq": 2}))
        .send()
        .await;
    let edit = s
        .call(
            Method::PATCH,
            &format!("/v1/rooms/{room}/messages/{}", ids[0]),
        )
        .auth(&minsu)
        .json(json!({"body": "회의는 4시로 변경"}))
        .send()
        .await;
    edit.expect(200, None);
    let del = s
        .call(
            Method::DELETE,
            &format!("/v1/rooms/{room}/messages/{}", ids[2]),
        )
        .auth(&minsu)
        .send()
        .await;
    del.expect(200, None);
    let at = read.position().max(edit.position()).max(del.position());
    let rooms = s
        .call(Method::GET, "/v1/me/rooms")
        .auth(&bora)
        .at(at)
        .send()
        .await;
    assert_eq!(
        rooms.body["rooms"][0]["unread_count"], 0,
        "seq 3 was deleted and 1-2 read"
    );
    let history = s
        .call(Method::GET, &format!("/v1/rooms/{room}/messages?after=0"))
        .auth(&bora)
        .at(at)
        .send()
        .await;
    let msgs = history.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["body"], "회의는 4시로 변경");
    assert!(msgs[0]["edited_at"].is_string());
    assert_eq!(msgs[2]["deleted"], true);
    assert_eq!(msgs[2]["body"], "");

    // Leaving takes effect at once for every room-scoped read.
    let left = s
        .call(
            Method::DELETE,
            &format!("/v1/rooms/{room}/members/{}", bora.id),
        )
        .auth(&bora)
        .send()
        .await;
    left.expect(200, None);
    for path in [
        format!("/v1/rooms/{room}"),
        format!("/v1/rooms/{room}/messages"),
    ] {
        s.call(Method::GET, &path)
            .auth(&bora)
            .at(left.position())
            .send()
            .await
            .expect(404, Some("room_not_found"));
    }
    let rooms = s
        .call(Method::GET, "/v1/me/rooms")
        .auth(&bora)
        .at(left.position())
        .send()
        .await;
    assert_eq!(rooms.body["rooms"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn profiles_friends_and_lagging_answers() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let me = s
        .call(Method::GET, "/v1/me")
        .auth(&minsu)
        .at(bora.position)
        .send()
        .await;
    me.expect(200, None);
    assert_eq!(me.body["username"], "minsu");
    let ask = s
        .call(Method::POST, "/v1/friends")
        .auth(&minsu)
        .json(json!({"user_id": bora.id}))
        .send()
        .await;
    let friends = s
        .call(Method::GET, "/v1/me/friends")
        .auth(&bora)
        .at(ask.position())
        .send()
        .await;
    assert_eq!(friends.body["incoming"][0]["username"], "minsu");
    let found = s
        .call(Method::GET, "/v1/users?username=bora")
        .auth(&minsu)
        .at(ask.position())
        .send()
        .await;
    assert_eq!(found.json::<UserResponse>().user_id, bora.id.0);
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
    let paths = doc.body["paths"].as_object().expect("paths");
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
        assert_eq!(res.status(), 200, "{path}");
    }
    // `/metrics` is the operator's (the admin token, like `/ops/status`).
    let anonymous = s.call(Method::GET, "/metrics").send().await;
    anonymous.expect(401, Some("unauthenticated"));
    assert!(anonymous.headers.contains_key("www-authenticate"));
}
