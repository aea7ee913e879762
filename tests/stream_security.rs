//! `GET /v1/stream` refuses what the rest of the API refuses (issue 13),
//! with real WebSocket clients against a real server: the replay is a view
//! of the rooms as they are now (no room the user left, no text a delete or
//! an edit removed), a stream ends when its token does, a user's streams per
//! node are capped, foreign origins are refused before the upgrade, and an
//! oversized client message gets close code 1009 and an orderly close.

mod stream_support;
mod support;

use contract::commands::{AddMemberRequest, EditMessageRequest};
use contract::Problem;
use domain::RoomId;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::Value;
use stream_support::{connect, direct, is_post, Client, FRAME_WAIT};
use support::{assert_refused, start, Server, User};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// The texts a replay must never carry once they were deleted or replaced.
const SECRETS: [&str; 2] = ["TOPSECRET", "ORIGINALX"];

fn leaks(frames: &[Value]) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| SECRETS.iter().any(|s| f.to_string().contains(s)))
        .collect()
}

fn of_room(frames: &[Value], room: RoomId) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| f["room_id"] == room.to_string())
        .collect()
}

/// `(seq, body)` of the `message_posted` frames among `frames`.
fn posts(frames: &[&Value]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter(|f| f["type"] == "message_posted")
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["body"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn remove(s: &Server, by: &User, room: RoomId, who: &User) {
    s.as_user(by)
        .remove_member(room, who.id)
        .await
        .expect("remove a member");
}

#[tokio::test]
async fn a_replay_is_a_view_of_the_rooms_as_they_are_now() {
    let s = start().await;
    let (a, b, e, r) = (
        s.user("alice").await,
        s.user("bora").await,
        s.user("eve").await,
        s.user("rin").await,
    );
    let room = s.room(&a, "스트림", &[&b, &e, &r]).await.room_id;
    let posted = s.post(&a, room, "TOPSECRET launch code").await;
    let (secret, _) = (posted.message_id, posted.position);
    let posted = s.post(&a, room, "ORIGINALX wording").await;
    let (original, _) = (posted.message_id, posted.position);
    // rin leaves and comes back: joining again gives the whole history.
    remove(&s, &r, room, &r).await;
    s.post(&a, room, "while rin was away").await;
    remove(&s, &a, room, &e).await;
    let as_a = s.as_user(&a);
    as_a.delete_message(room, secret).await.expect("delete");
    let edit = EditMessageRequest {
        body: "current wording".into(),
    };
    as_a.edit_message(room, original, &edit)
        .await
        .expect("edit");
    let back = as_a
        .add_member(room, &AddMemberRequest { user_id: r.id })
        .await
        .expect("add rin back");
    // What the queries say to eve.
    let history = s.as_user(&e).at(back.position).messages(room, &[]).await;
    assert_refused(history, 404, "room_not_found");

    // eve, kicked: her own kick, nothing else of the room.
    let mut ce = connect(&s.base, &e, Some(0)).await;
    let (dm, _) = direct(&s, &a, &e).await;
    s.post(&a, dm, "sentinel").await;
    let frames = ce.until(is_post("sentinel")).await;
    assert!(leaks(&frames).is_empty(), "{:?}", leaks(&frames));
    let theirs = of_room(&frames, room);
    let types: Vec<&str> = theirs.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["member_kicked"], "{frames:?}");
    assert_eq!(theirs[0]["user_id"], e.id.to_string());

    // bora, a member throughout, and rin, back again: every frame of the
    // room, each message as it reads now.
    for user in [&b, &r] {
        let mut c = connect(&s.base, user, Some(0)).await;
        s.post(&a, room, &format!("sentinel {}", user.id)).await;
        let frames = c.until(is_post(&format!("sentinel {}", user.id))).await;
        assert!(leaks(&frames).is_empty(), "{:?}", leaks(&frames));
        let theirs = of_room(&frames, room);
        assert_eq!(
            posts(&theirs)[..3],
            [
                (1, String::new()),
                (2, "current wording".into()),
                (3, "while rin was away".into()),
            ],
            "{frames:?}"
        );
        let edit = theirs
            .iter()
            .find(|f| f["type"] == "message_edited")
            .expect("the edit frame");
        assert_eq!(edit["body"], "current wording");
        let deleted = theirs
            .iter()
            .position(|f| f["type"] == "message_deleted")
            .expect("the delete frame");
        let posted = theirs
            .iter()
            .position(|f| f["type"] == "message_posted" && f["seq"] == 1)
            .unwrap();
        assert!(posted < deleted, "posted, then deleted: {frames:?}");
        c.close().await;
    }
}

/// A token for `user` signed with the server's secret, expiring in `secs`.
fn short_token(s: &Server, user: &User, secs: i64) -> User {
    let secret = s.config.token_secret.clone().unwrap();
    let keys = api::TokenKeys::new(secret.as_bytes(), chrono::Duration::seconds(secs));
    let id = user.id;
    let (token, _) = keys.issue(id, chrono::Utc::now()).unwrap();
    User {
        token,
        ..user.clone()
    }
}

#[tokio::test]
async fn a_stream_closes_with_4001_when_its_token_expires() {
    let s = start().await;
    let (a, b) = (s.user("alice").await, s.user("bora").await);
    let room = s.room(&a, "스트림", &[&b]).await.room_id;
    let mut c = connect(&s.base, &short_token(&s, &b, 3), None).await;
    s.post(&a, room, "before expiry").await;
    c.until(is_post("before expiry")).await;
    assert_eq!(c.close_code().await, 4001, "closed at the token's expiry");
}

#[tokio::test]
async fn streams_over_the_per_user_cap_are_closed_with_4029() {
    let s = start().await;
    let (a, b) = (s.user("alice").await, s.user("bora").await);
    let room = s.room(&a, "스트림", &[&b]).await.room_id;
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(connect(&s.base, &b, None).await);
    }
    // All twenty have joined the node's table once they get a live frame.
    s.post(&a, room, "warm-up").await;
    for c in &mut open {
        c.until(is_post("warm-up")).await;
    }
    let mut over = connect(&s.base, &b, None).await;
    assert_eq!(over.close_code().await, 4029, "the newest one is refused");
    s.post(&a, room, "to all twenty").await;
    for c in &mut open {
        c.until(is_post("to all twenty")).await;
    }
    // A slot freed is a slot to take.
    open.pop().unwrap().close().await;
    let deadline = tokio::time::Instant::now() + FRAME_WAIT;
    loop {
        let mut again = connect(&s.base, &b, None).await;
        s.post(&a, room, "one more").await;
        match timeout(FRAME_WAIT, again.ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => break,
            _ if tokio::time::Instant::now() < deadline => continue,
            other => panic!("no stream after a slot freed: {other:?}"),
        }
    }
}

/// A WebSocket handshake to `/v1/stream{query}` as `user`, with `origin`
/// if given.
fn handshake(
    s: &Server,
    user: &User,
    origin: Option<&str>,
    query: &str,
) -> reqwest::RequestBuilder {
    let mut req = s
        .http
        .get(format!("{}/v1/stream{query}", s.base))
        .bearer_auth(&user.token)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_the_upgrade() {
    let s = start().await;
    let b = s.user("bora").await;
    for origin in [
        "http://evil.example",
        "null",
        &s.base.replace("127.0.0.1", "localhost"),
    ] {
        let res = handshake(&s, &b, Some(origin), "").send().await.unwrap();
        assert_eq!(res.status(), 403, "{origin}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{origin}"
        );
        let problem: Problem = res.json().await.unwrap();
        assert_eq!(problem.code, "origin_not_allowed", "{origin}");
    }
    // The server's own origin (the web client) and no origin at all
    // (non-browser clients) are let in.
    let res = handshake(&s, &b, Some(&s.base), "").send().await.unwrap();
    assert_eq!(res.status(), 101);
    let res = handshake(&s, &b, None, "").send().await.unwrap();
    assert_eq!(res.status(), 101);

    // The other answers before the upgrade are unchanged by the handshake
    // being the server's own.
    let problem = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let problem: Problem = res.json().await.expect("a problem");
        (status, problem.code)
    };
    let plain = s.call(Method::GET, "/v1/stream").auth(&b).send().await;
    plain.expect(426, Some("upgrade_required"));
    let anonymous = User {
        token: String::new(),
        ..b.clone()
    };
    let res = handshake(&s, &anonymous, None, "").send().await.unwrap();
    assert_eq!(problem(res).await, (401, "unauthenticated".into()));
    let res = handshake(&s, &b, None, "?after=-1").send().await.unwrap();
    assert_eq!(problem(res).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn an_oversized_client_message_gets_1009_and_an_orderly_close() {
    let s = start().await;
    let b = s.user("bora").await;
    for size in [16 * 1024, 1024 * 1024] {
        let Client { mut ws } = connect(&s.base, &b, None).await;
        let big = "x".repeat(size);
        let close = timeout(FRAME_WAIT, async {
            ws.send(Message::text(big))
                .await
                .expect("the message is taken");
            let mut close = None;
            // After the close frame the connection ends with the closing
            // handshake, not a reset.
            while let Some(msg) = ws.next().await {
                match msg {
                    Ok(Message::Close(c)) => close = c,
                    Ok(_) => {}
                    Err(e) => panic!("{size} bytes: the stream failed: {e}"),
                }
            }
            close
        })
        .await
        .expect("closed in time")
        .unwrap_or_else(|| panic!("{size} bytes: no close frame"));
        assert_eq!(u16::from(close.code), 1009, "{size} bytes: {close:?}");
    }
    // A message within the limit changes nothing.
    let a = s.user("alice").await;
    let mut c = connect(&s.base, &b, None).await;
    c.ws.send(Message::text("x".repeat(100))).await.unwrap();
    let (dm, _) = direct(&s, &a, &b).await;
    s.post(&a, dm, "still open").await;
    c.until(is_post("still open")).await;
}
