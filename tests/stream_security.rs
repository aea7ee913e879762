//! `GET /v1/stream` refuses what the rest of the API refuses (issue 13),
//! with real WebSocket clients against a real server: the replay is a view
//! of the rooms as they are now (no room the user left, no text a delete or
//! an edit removed), a stream ends when its token does, a user's streams per
//! node are capped, foreign origins are refused before the upgrade, and an
//! oversized client message gets close code 1009 and an orderly close.

mod stream_support;
mod support;

use reqwest::Method;
use serde_json::{json, Value};
use stream_support::{connect, direct, is_post, room};
use support::{start, Server, User};

/// The texts a replay must never carry once they were deleted or replaced.
const SECRETS: [&str; 2] = ["TOPSECRET", "ORIGINALX"];

fn leaks(frames: &[Value]) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| SECRETS.iter().any(|s| f.to_string().contains(s)))
        .collect()
}

fn of_room<'a>(frames: &'a [Value], room: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["room_id"] == room).collect()
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

async fn remove(s: &Server, by: &User, room: &str, who: &User) {
    s.call(
        Method::DELETE,
        &format!("/v1/rooms/{room}/members/{}", who.id),
    )
    .auth(by)
    .send()
    .await
    .expect(200, None);
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
    let room = room(&s, &a, &[&b, &e, &r]).await;
    let (secret, _) = s.post(&a, &room, "TOPSECRET launch code").await;
    let (original, _) = s.post(&a, &room, "ORIGINALX wording").await;
    // rin leaves and comes back: joining again gives the whole history.
    remove(&s, &r, &room, &r).await;
    s.post(&a, &room, "while rin was away").await;
    remove(&s, &a, &room, &e).await;
    s.call(
        Method::DELETE,
        &format!("/v1/rooms/{room}/messages/{secret}"),
    )
    .auth(&a)
    .send()
    .await
    .expect(200, None);
    s.call(
        Method::PATCH,
        &format!("/v1/rooms/{room}/messages/{original}"),
    )
    .auth(&a)
    .json(json!({"body": "current wording"}))
    .send()
    .await
    .expect(200, None);
    let back = s
        .call(Method::POST, &format!("/v1/rooms/{room}/members"))
        .auth(&a)
        .json(json!({"user_id": r.id}))
        .send()
        .await;
    back.expect(201, None);
    // What the queries say to eve.
    s.call(Method::GET, &format!("/v1/rooms/{room}/messages"))
        .auth(&e)
        .at(back.position())
        .send()
        .await
        .expect(404, Some("room_not_found"));

    // eve, kicked: her own kick, nothing else of the room.
    let mut ce = connect(&s.base, &e, Some(0)).await;
    let (dm, _) = direct(&s, &a, &e).await;
    s.post(&a, &dm, "sentinel").await;
    let frames = ce.until(is_post("sentinel")).await;
    assert!(leaks(&frames).is_empty(), "{:?}", leaks(&frames));
    let theirs = of_room(&frames, &room);
    let types: Vec<&str> = theirs.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["member_kicked"], "{frames:?}");
    assert_eq!(theirs[0]["user_id"], e.id.as_str());

    // bora, a member throughout, and rin, back again: every frame of the
    // room, each message as it reads now.
    for user in [&b, &r] {
        let mut c = connect(&s.base, user, Some(0)).await;
        s.post(&a, &room, &format!("sentinel {}", user.id)).await;
        let frames = c.until(is_post(&format!("sentinel {}", user.id))).await;
        assert!(leaks(&frames).is_empty(), "{:?}", leaks(&frames));
        let theirs = of_room(&frames, &room);
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
