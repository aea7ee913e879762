//! Typing and blocking on the live stream (issue 16): `POST
//! /v1/rooms/{room_id}/typing` reaches the other members as a `typing`
//! frame, not the typer, not between users where either blocked the other,
//! at most once per user and room every 3 s; 404 for non-members. A user who
//! blocked X gets none of X's posts and reactions, live or replayed, and
//! nobody else loses any.
//!
//! "Does not arrive" is checked against a later frame on the same path (a
//! marker): frames of one publisher on one subject arrive in order, so a
//! frame that would have come arrives before the marker.

mod stream_support;
mod support;

use serde_json::Value;
use std::time::Duration;
use stream_support::{connect, Client};
use support::{assert_refused, start, Server, User};
use tokio::time::Instant;

fn is_typing(user: &User) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "typing" && f["user_id"] == user.id.to_string()
}

/// Frames up to the first typing frame of `user`, which must be the only
/// typing frame among them.
async fn next_typing(c: &mut Client, user: &User) -> Vec<Value> {
    let got = c.until(is_typing(user)).await;
    let typing: Vec<&Value> = got.iter().filter(|f| f["type"] == "typing").collect();
    assert_eq!(typing.len(), 1, "other typing frames first: {got:?}");
    got
}

/// Wait until `user`'s stream has joined the hub (a frame of their own
/// arrives): post in `room` and read up to it.
async fn settled(s: &Server, c: &mut Client, user: &User, room: domain::RoomId, what: &str) {
    s.post(user, room, what).await;
    c.until(stream_support::is_post(what)).await;
}

#[tokio::test]
async fn typing_reaches_members_but_the_typer_and_is_throttled() {
    let s = start().await;
    let (a, b, c, out) = (
        s.user("typer").await,
        s.user("reader").await,
        s.user("marker").await,
        s.user("outsider").await,
    );
    let room = s.room(&a, "typing", &[&b, &c]).await.room_id;
    let mut sa = connect(&s.base, &a, None).await;
    let mut sb = connect(&s.base, &b, None).await;
    settled(&s, &mut sa, &a, room, "a-ready").await;
    settled(&s, &mut sb, &b, room, "b-ready").await;

    s.as_user(&a).typing(room).await.expect("typing");
    let first = Instant::now();
    let got = next_typing(&mut sb, &a).await;
    let frame = got.last().unwrap();
    assert_eq!(frame["room_id"], room.to_string());
    assert!(frame.get("position").is_none(), "ephemeral: {frame}");

    // Again at once: 204, and nothing is sent.
    s.as_user(&a).typing(room).await.expect("typing again");
    let within = first.elapsed() < Duration::from_secs(3);
    s.as_user(&c).typing(room).await.expect("marker typing");
    let got = next_typing(&mut sb, &c).await;
    if within {
        assert!(!got.iter().any(is_typing(&a)), "not throttled: {got:?}");
    }
    // The typer gets other members' typing, never their own.
    let got = next_typing(&mut sa, &c).await;
    assert!(
        !got.iter().any(is_typing(&a)),
        "typer got their own: {got:?}"
    );

    // Not a member, no such room, not a room id: 404.
    assert_refused(s.as_user(&out).typing(room).await, 404, "room_not_found");
    let nowhere = domain::RoomId(uuid::Uuid::now_v7());
    assert_refused(s.as_user(&a).typing(nowhere).await, 404, "room_not_found");
    s.call(reqwest::Method::POST, "/v1/rooms/nope/typing")
        .auth(&a)
        .send()
        .await
        .expect(404, Some("room_not_found"));
    s.call(reqwest::Method::POST, &format!("/v1/rooms/{room}/typing"))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

#[tokio::test]
async fn typing_never_goes_to_or_from_someone_blocked() {
    let s = start().await;
    let (a, blocker, blocked, c, d) = (
        s.user("typist").await,
        s.user("blocker").await,
        s.user("blockee").await,
        s.user("marker").await,
        s.user("marker2").await,
    );
    let room = s
        .room(&a, "typing", &[&blocker, &blocked, &c, &d])
        .await
        .room_id;
    // `blocker` blocked `a`; `a` blocked `blocked`. Both before their
    // streams open (the live refresh is the next test's).
    s.as_user(&blocker).block(a.id).await.expect("block");
    let p = s
        .as_user(&a)
        .block(blocked.id)
        .await
        .expect("block")
        .position;
    s.as_user(&a).at(p).blocks().await.expect("applied");
    let mut sblocker = connect(&s.base, &blocker, None).await;
    let mut sblocked = connect(&s.base, &blocked, None).await;
    settled(&s, &mut sblocker, &blocker, room, "r1").await;
    settled(&s, &mut sblocked, &blocked, room, "r2").await;

    s.as_user(&a).typing(room).await.expect("typing");
    s.as_user(&c).typing(room).await.expect("marker");
    for (who, stream) in [("blocker", &mut sblocker), ("blocked", &mut sblocked)] {
        let got = next_typing(stream, &c).await;
        assert!(!got.iter().any(is_typing(&a)), "{who} got it: {got:?}");
    }
    // Nor the other way: `blocked` typing does not reach `a`.
    let mut sa = connect(&s.base, &a, None).await;
    settled(&s, &mut sa, &a, room, "r3").await;
    s.as_user(&blocked).typing(room).await.expect("typing");
    s.as_user(&d).typing(room).await.expect("marker");
    let got = sa.until(is_typing(&d)).await;
    assert!(!got.iter().any(is_typing(&blocked)), "a got it: {got:?}");
}

/// Wait until `viewer`'s stream withholds `x`'s posts: `x` posts probes,
/// `marker` posts after each, until a probe does not come before its marker.
async fn until_withheld(s: &Server, c: &mut Client, x: &User, marker: &User, room: domain::RoomId) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        assert!(Instant::now() < deadline, "the block never took effect");
        let probe = format!("probe-{n}");
        let end = format!("probe-marker-{n}");
        s.post(x, room, &probe).await;
        s.post(marker, room, &end).await;
        let got = c.until(stream_support::is_post(&end)).await;
        if !got.iter().any(stream_support::is_post(&probe)) {
            return;
        }
    }
}

#[tokio::test]
async fn a_blocked_users_posts_and_reactions_do_not_reach_the_blocker_live_or_replayed() {
    let s = start().await;
    let (me, x, c) = (
        s.user("blocker").await,
        s.user("blockee").await,
        s.user("bystander").await,
    );
    let room = s.room(&c, "busy", &[&me, &x]).await.room_id;
    let mut mine = connect(&s.base, &me, None).await;
    let mut theirs = connect(&s.base, &c, None).await;
    settled(&s, &mut mine, &me, room, "ready").await;

    // Blocked while connected: the stream follows within a moment.
    s.as_user(&me).block(x.id).await.expect("block");
    until_withheld(&s, &mut mine, &x, &c, room).await;

    let target = s.post(&c, room, "react to me").await;
    let secret = s.post(&x, room, "SECRET-FROM-X").await;
    s.as_user(&x)
        .react(room, target.message_id, "👍")
        .await
        .expect("react");
    let last = s.post(&c, room, "the end").await;
    let got = mine.until(stream_support::is_post("the end")).await;
    let text = serde_json::to_string(&got).unwrap();
    assert!(!text.contains("SECRET-FROM-X"), "{text}");
    assert!(
        !got.iter().any(|f| f["type"] == "reactions_changed"),
        "the blocked user's reaction arrived: {text}"
    );
    // Everyone else gets all of it.
    let got = theirs.until(stream_support::is_post("the end")).await;
    assert!(got.iter().any(stream_support::is_post("SECRET-FROM-X")));
    assert!(got.iter().any(|f| f["type"] == "reactions_changed"
        && f["message_id"] == target.message_id.to_string()
        && f.get("actor").is_none()));

    // A replay leaves them out too.
    let mut resumed = connect(&s.base, &me, Some(secret.position - 1)).await;
    let got = resumed.until(stream_support::is_post("the end")).await;
    let text = serde_json::to_string(&got).unwrap();
    assert!(!text.contains("SECRET-FROM-X"), "{text}");
    assert!(
        !got.iter().any(|f| f["type"] == "reactions_changed"),
        "{text}"
    );
    assert!(got
        .iter()
        .all(|f| f["position"].as_i64() <= Some(last.position)));

    // Unblocked: their posts arrive again.
    s.as_user(&me).unblock(x.id).await.expect("unblock");
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        assert!(Instant::now() < deadline, "the unblock never took effect");
        let probe = format!("back-{n}");
        s.post(&x, room, &probe).await;
        s.post(&c, room, &format!("back-marker-{n}")).await;
        let got = mine
            .until(stream_support::is_post(&format!("back-marker-{n}")))
            .await;
        if got.iter().any(stream_support::is_post(&probe)) {
            break;
        }
    }
}

#[tokio::test]
async fn an_edit_of_a_blocked_users_earlier_message_does_not_reach_the_blocker() {
    let s = start().await;
    let (me, x, c) = (
        s.user("blocker").await,
        s.user("blockee").await,
        s.user("bystander").await,
    );
    let room = s.room(&c, "edits", &[&me, &x]).await.room_id;
    // Posted before the blocker's stream opens: the stream never sees (and
    // so never withholds) the post itself.
    let old = s.post(&x, room, "before the block").await;
    let p = s.as_user(&me).block(x.id).await.expect("block").position;
    s.as_user(&me).at(p).blocks().await.expect("applied");
    let mut mine = connect(&s.base, &me, None).await;
    let mut theirs = connect(&s.base, &c, None).await;
    settled(&s, &mut mine, &me, room, "ready").await;
    theirs.until(stream_support::is_post("ready")).await;

    let edit = contract::commands::EditMessageRequest {
        body: "EDITED-BY-X".into(),
    };
    s.as_user(&x)
        .edit_message(room, old.message_id, &edit)
        .await
        .expect("edit");
    s.post(&c, room, "the end").await;
    let got = mine.until(stream_support::is_post("the end")).await;
    let text = serde_json::to_string(&got).unwrap();
    assert!(!text.contains("EDITED-BY-X"), "the edit arrived: {text}");
    // Everyone else gets it, naming its author.
    let got = theirs.until(stream_support::is_post("the end")).await;
    assert!(
        got.iter().any(|f| f["type"] == "message_edited"
            && f["body"] == "EDITED-BY-X"
            && f["author_id"] == x.id.to_string()),
        "{got:?}"
    );
}
