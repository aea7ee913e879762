//! Every command route of API.md through HTTP: its success and each of its
//! error codes, idempotent retries, and request limits.

mod support;

use contract::commands::{
    LoginResponse, MessagePostedResponse, RegisterResponse, RoomCreatedResponse,
};
use domain::RoomId;
use reqwest::Method;
use serde_json::json;
use support::{start, Server, User};

const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// Post as `u`: the message id (as in paths) and its seq.
async fn post(s: &Server, u: &User, room: RoomId, body: &str) -> (String, u64) {
    let posted = s.post(u, room, body).await;
    (posted.message_id.to_string(), posted.seq)
}

#[tokio::test]
async fn accounts() {
    let s = start().await;
    let reg = |body| s.call(POST, "/v1/users").json(body);
    let a = reg(json!({"username": "minsu", "display_name": "김민수", "password": "password-1"}))
        .send()
        .await;
    a.expect(201, None);
    assert!(a.json::<RegisterResponse>().position > 0);
    reg(json!({"username": "minsu", "display_name": "x", "password": "password-1"}))
        .send()
        .await
        .expect(409, Some("username_taken"));
    reg(json!({"username": "Minsu!", "display_name": "x", "password": "password-1"}))
        .send()
        .await
        .expect(422, Some("invalid_username"));
    reg(json!({"username": "bora", "display_name": " ", "password": "password-1"}))
        .send()
        .await
        .expect(422, Some("invalid_display_name"));
    reg(json!({"username": "bora", "display_name": "보라", "password": "short"}))
        .send()
        .await
        .expect(422, Some("weak_password"));
    reg(json!({"username": "bora", "display_name": "보라", "password": "password-1", "admin": true}))
        .send()
        .await
        .expect(400, Some("invalid_request"));

    let login = |u: &str, p: &str| {
        s.call(POST, "/v1/sessions")
            .json(json!({"username": u, "password": p}))
    };
    let ok = login("minsu", "password-1").send().await;
    ok.expect(201, None);
    let ok: LoginResponse = ok.json();
    let wrong = login("minsu", "password-2").send().await;
    let unknown = login("nobody", "password-1").send().await;
    wrong.expect(401, Some("invalid_credentials"));
    unknown.expect(401, Some("invalid_credentials"));
    assert_eq!(
        wrong.body, unknown.body,
        "unknown user and wrong password look the same"
    );

    let me = support::User {
        id: ok.user_id,
        token: ok.token,
        position: 0,
    };
    s.call(PATCH, "/v1/me")
        .auth(&me)
        .json(json!({"display_name": "민수"}))
        .send()
        .await
        .expect(200, None);
    s.call(PATCH, "/v1/me")
        .auth(&me)
        .json(json!({"display_name": ""}))
        .send()
        .await
        .expect(422, Some("invalid_display_name"));
    s.call(PATCH, "/v1/me")
        .json(json!({"display_name": "민수"}))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
    s.call(PATCH, "/v1/me")
        .header("authorization", "Bearer not.a.token")
        .json(json!({"display_name": "민수"}))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

#[tokio::test]
async fn friends() {
    let s = start().await;
    let (a, b, c) = (
        s.user("alice").await,
        s.user("bob").await,
        s.user("carol").await,
    );
    let ask = |from: &User, to: &str| {
        s.call(POST, "/v1/friends")
            .auth(from)
            .json(json!({ "user_id": to }))
    };
    ask(&a, &b.id.to_string()).send().await.expect(201, None);
    ask(&a, &a.id.to_string())
        .send()
        .await
        .expect(422, Some("cannot_befriend_self"));
    ask(&a, "00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .expect(404, Some("user_not_found"));
    s.call(POST, &format!("/v1/friends/{}/accept", c.id))
        .auth(&a)
        .send()
        .await
        .expect(404, Some("friend_request_not_found"));
    s.call(POST, &format!("/v1/friends/{}/accept", a.id))
        .auth(&b)
        .send()
        .await
        .expect(200, None);
    ask(&a, &b.id.to_string())
        .send()
        .await
        .expect(409, Some("already_friends"));
    s.call(DELETE, &format!("/v1/friends/{}", b.id))
        .auth(&a)
        .send()
        .await
        .expect(200, None);
    s.call(DELETE, &format!("/v1/friends/{}", b.id))
        .auth(&a)
        .send()
        .await
        .expect(404, Some("friend_not_found"));
    // Crossing requests make friends.
    ask(&a, &c.id.to_string()).send().await.expect(201, None);
    ask(&c, &a.id.to_string()).send().await.expect(201, None);
    ask(&a, &c.id.to_string())
        .send()
        .await
        .expect(409, Some("already_friends"));
}

#[tokio::test]
async fn rooms_and_members() {
    let s = start().await;
    let (owner, bora, chul, dan) = (
        s.user("owner").await,
        s.user("bora").await,
        s.user("chul").await,
        s.user("dan").await,
    );
    let r = s.room(&owner, "주간 회의", &[&bora]).await.room_id;
    s.call(POST, "/v1/rooms")
        .auth(&owner)
        .json(json!({"name": ""}))
        .send()
        .await
        .expect(422, Some("invalid_room_name"));
    s.call(POST, "/v1/rooms")
        .auth(&owner)
        .json(json!({"name": "x", "members": ["00000000-0000-0000-0000-000000000001"]}))
        .send()
        .await
        .expect(404, Some("user_not_found"));

    let rename = |u: &User, room: &str| {
        s.call(PATCH, &format!("/v1/rooms/{room}"))
            .auth(u)
            .json(json!({"name": "새 이름"}))
    };
    rename(&owner, &r.to_string())
        .send()
        .await
        .expect(200, None);
    rename(&bora, &r.to_string())
        .send()
        .await
        .expect(403, Some("not_room_owner"));
    rename(&chul, &r.to_string())
        .send()
        .await
        .expect(404, Some("room_not_found"));
    rename(&owner, "00000000-0000-0000-0000-000000000002")
        .send()
        .await
        .expect(404, Some("room_not_found"));
    rename(&owner, "not-a-uuid").send().await.expect(404, None);

    let add = |u: &User, who: &str| {
        s.call(POST, &format!("/v1/rooms/{r}/members"))
            .auth(u)
            .json(json!({ "user_id": who }))
    };
    add(&bora, &chul.id.to_string())
        .send()
        .await
        .expect(201, None);
    add(&bora, &chul.id.to_string())
        .send()
        .await
        .expect(409, Some("already_member"));
    add(&dan, &dan.id.to_string())
        .send()
        .await
        .expect(404, Some("room_not_found"));
    add(&bora, "00000000-0000-0000-0000-000000000003")
        .send()
        .await
        .expect(404, Some("user_not_found"));

    let remove = |u: &User, who: &str| {
        s.call(DELETE, &format!("/v1/rooms/{r}/members/{who}"))
            .auth(u)
    };
    remove(&bora, &chul.id.to_string())
        .send()
        .await
        .expect(403, Some("not_room_owner"));
    remove(&owner, &dan.id.to_string())
        .send()
        .await
        .expect(404, Some("member_not_found"));
    remove(&owner, &chul.id.to_string())
        .send()
        .await
        .expect(200, None);
    remove(&bora, &bora.id.to_string())
        .send()
        .await
        .expect(200, None);
    remove(&bora, &bora.id.to_string())
        .send()
        .await
        .expect(404, Some("room_not_found"));

    // Direct rooms: one per pair, 201 then 200 with the same id.
    let direct = |u: &User, other: &str| {
        s.call(POST, "/v1/rooms/direct")
            .auth(u)
            .json(json!({ "user_id": other }))
    };
    let first = direct(&owner, &bora.id.to_string()).send().await;
    first.expect(201, None);
    let again = direct(&bora, &owner.id.to_string()).send().await;
    again.expect(200, None);
    assert_eq!(
        first.json::<RoomCreatedResponse>().room_id,
        again.json::<RoomCreatedResponse>().room_id
    );
    direct(&owner, "00000000-0000-0000-0000-000000000004")
        .send()
        .await
        .expect(404, Some("user_not_found"));
}

#[tokio::test]
async fn messages_and_read_markers() {
    let s = start().await;
    let (owner, bora, chul) = (
        s.user("owner").await,
        s.user("bora").await,
        s.user("chul").await,
    );
    let r = s.room(&owner, "주간 회의", &[&bora]).await.room_id;
    let (m1, seq1) = post(&s, &bora, r, "회의는 3시에 시작합니다").await;
    let (_, seq2) = post(&s, &owner, r, "네 알겠습니다").await;
    assert_eq!((seq1, seq2), (1, 2));
    let msgs = format!("/v1/rooms/{r}/messages");
    s.call(POST, &msgs)
        .auth(&bora)
        .json(json!({"body": "   "}))
        .send()
        .await
        .expect(422, Some("invalid_message_body"));
    s.call(POST, &msgs)
        .auth(&bora)
        .json(json!({"body": "가".repeat(4001)}))
        .send()
        .await
        .expect(422, Some("invalid_message_body"));
    s.call(POST, &msgs)
        .auth(&chul)
        .json(json!({"body": "hi"}))
        .send()
        .await
        .expect(404, Some("room_not_found"));
    let reply = s
        .call(POST, &msgs)
        .auth(&owner)
        .json(json!({"body": "답장", "reply_to": m1}))
        .send()
        .await;
    reply.expect(201, None);

    let edit = |u: &User, m: &str| {
        s.call(PATCH, &format!("/v1/rooms/{r}/messages/{m}"))
            .auth(u)
            .json(json!({"body": "회의는 4시로 변경"}))
    };
    edit(&bora, &m1).send().await.expect(200, None);
    edit(&owner, &m1)
        .send()
        .await
        .expect(403, Some("not_message_author"));
    edit(&bora, "00000000-0000-0000-0000-000000000005")
        .send()
        .await
        .expect(404, Some("message_not_found"));
    edit(&chul, &m1)
        .send()
        .await
        .expect(404, Some("room_not_found"));

    let del = |u: &User, m: &str| {
        s.call(DELETE, &format!("/v1/rooms/{r}/messages/{m}"))
            .auth(u)
    };
    let (m3, _) = post(&s, &owner, r, "지울 메시지").await;
    del(&bora, &m3)
        .send()
        .await
        .expect(403, Some("not_message_author"));
    del(&owner, &m1).send().await.expect(200, None); // the owner may delete any message
    edit(&bora, &m1)
        .send()
        .await
        .expect(409, Some("message_deleted"));
    del(&owner, "00000000-0000-0000-0000-000000000006")
        .send()
        .await
        .expect(404, Some("message_not_found"));

    let read = |u: &User, seq: u64| {
        s.call(POST, &format!("/v1/rooms/{r}/read"))
            .auth(u)
            .json(json!({ "seq": seq }))
    };
    read(&bora, 2).send().await.expect(200, None);
    read(&bora, 1).send().await.expect(200, None);
    read(&chul, 1)
        .send()
        .await
        .expect(404, Some("room_not_found"));
    read(&bora, u64::MAX).send().await.expect(200, None);
    s.call(POST, &format!("/v1/rooms/{r}/read"))
        .auth(&bora)
        .json(json!({"seq": -1}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
}

#[tokio::test]
async fn idempotent_retries_return_the_identical_answer() {
    let s = start().await;
    let u = s.user("minsu").await;
    let r = s.room(&u, "주간 회의", &[]).await.room_id;
    let send = |body: &str, key: &str| {
        s.call(POST, &format!("/v1/rooms/{r}/messages"))
            .auth(&u)
            .header("idempotency-key", key)
            .json(json!({ "body": body }))
    };
    let first = send("안녕하세요", "k-1").send().await;
    first.expect(201, None);
    let retry = send("안녕하세요", "k-1").send().await;
    retry.expect(201, None);
    assert_eq!(first.body, retry.body, "identical body");
    send("다른 내용", "k-1")
        .send()
        .await
        .expect(422, Some("idempotency_key_reused"));
    // Appended once: the next message gets seq 2.
    let next = send("두번째", "k-2").send().await;
    assert_eq!(next.json::<MessagePostedResponse>().seq, 2);
    send("x", "")
        .send()
        .await
        .expect(400, Some("invalid_request"));
    send("x", &"k".repeat(129))
        .send()
        .await
        .expect(400, Some("invalid_request"));

    // Concurrent retries with one key append once.
    let answers = futures::future::join_all((0..8).map(|_| send("동시에", "k-3").send())).await;
    let bodies: std::collections::HashSet<String> =
        answers.iter().map(|a| a.body.to_string()).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let after = send("마지막", "k-4").send().await;
    assert_eq!(after.json::<MessagePostedResponse>().seq, 4);

    // Registration is idempotent too (scoped by the username).
    let reg = || {
        s.call(POST, "/v1/users")
            .header("idempotency-key", "signup-1")
            .json(json!({"username": "newbie", "display_name": "뉴비", "password": "password-1"}))
    };
    let one = reg().send().await;
    one.expect(201, None);
    let two = reg().send().await;
    assert_eq!(one.body, two.body);
}

#[tokio::test]
async fn limits_and_malformed_requests() {
    let s = start().await;
    let u = s.user("minsu").await;
    let r = s.room(&u, "주간 회의", &[]).await.room_id;
    let big = format!(r#"{{"body": "{}"}}"#, "a".repeat(70 * 1024));
    s.call(POST, &format!("/v1/rooms/{r}/messages"))
        .auth(&u)
        .raw_body(big.into_bytes())
        .send()
        .await
        .expect(413, Some("payload_too_large"));
    s.call(POST, &format!("/v1/rooms/{r}/messages"))
        .auth(&u)
        .raw_body(b"{not json".to_vec())
        .send()
        .await
        .expect(400, Some("invalid_request"));
    let a = s.call(POST, "/v1/nowhere").send().await;
    a.expect(404, Some("not_found"));
    assert_eq!(a.headers["content-type"], "application/problem+json");
}
