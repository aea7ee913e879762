//! The messenger frames of issue 15 on `GET /v1/stream`: `message_posted`
//! with mentions and `unread_by`, `reactions_changed` with each viewer's
//! `me` (live and replayed), `notice_changed`, and `message_hidden` to the
//! hider only.

mod stream_support;
mod support;

use contract::commands::{PostMessageRequest, SetNoticeRequest};
use serde_json::{json, Value};
use stream_support::{connect, is_post};
use support::start;

fn of_type<'a>(frames: &'a [Value], t: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == t).collect()
}

#[tokio::test]
async fn messenger_frames_per_viewer() {
    let s = start().await;
    let (a, b, c) = (
        s.user("mina").await,
        s.user("jun").await,
        s.user("seo").await,
    );
    let room = s.room(&a, "팀", &[&b, &c]).await.room_id;
    let mut fa = connect(&s.base, &a, None).await;
    let mut fb = connect(&s.base, &b, None).await;

    let req = PostMessageRequest {
        mentions: vec![b.id],
        ..PostMessageRequest::text("@jun 회의")
    };
    let m = s
        .as_user(&a)
        .post_message(room, &req)
        .await
        .unwrap()
        .message_id;
    s.as_user(&b).react(room, m, "👍").await.unwrap();
    s.as_user(&b).hide_message(room, m).await.unwrap();
    s.as_user(&c)
        .set_notice(room, &SetNoticeRequest { message_id: m })
        .await
        .unwrap();
    let first = s.post(&a, room, "sentinel").await.position;

    let seen_a = fa.until(is_post("sentinel")).await;
    let seen_b = fb.until(is_post("sentinel")).await;
    let posted = of_type(&seen_a, "message_posted")[0];
    assert_eq!(posted["mentions"], json!([b.id]));
    assert_eq!(posted["unread_by"], 2, "everyone else when posted");
    assert_eq!(posted["reactions"], json!([]));
    let reactions = |frames: &[Value]| of_type(frames, "reactions_changed")[0]["reactions"].clone();
    assert_eq!(
        reactions(&seen_a),
        json!([{"emoji": "👍", "count": 1, "me": false}])
    );
    assert_eq!(
        reactions(&seen_b),
        json!([{"emoji": "👍", "count": 1, "me": true}])
    );
    assert!(
        of_type(&seen_a, "reactions_changed")[0].get("by").is_none(),
        "who reacted stays inside"
    );
    assert!(
        of_type(&seen_a, "message_hidden").is_empty(),
        "the hide is the hider's"
    );
    assert_eq!(
        of_type(&seen_b, "message_hidden")[0]["message_id"],
        json!(m)
    );
    let notice = &of_type(&seen_a, "notice_changed")[0]["notice"];
    assert_eq!(notice["message_id"], json!(m));
    assert_eq!(notice["body_preview"], "@jun 회의");

    // A replay (resuming from before) reads the same, per viewer.
    let mut ra = connect(&s.base, &a, Some(first - 10)).await;
    let mut rb = connect(&s.base, &b, Some(first - 10)).await;
    let replay_a = ra.until(is_post("sentinel")).await;
    let replay_b = rb.until(is_post("sentinel")).await;
    assert_eq!(
        reactions(&replay_a),
        json!([{"emoji": "👍", "count": 1, "me": false}])
    );
    assert_eq!(
        reactions(&replay_b),
        json!([{"emoji": "👍", "count": 1, "me": true}])
    );
    assert!(of_type(&replay_a, "message_hidden").is_empty());
    assert_eq!(of_type(&replay_b, "message_hidden").len(), 1);

    let p = s
        .as_user(&a)
        .delete_message(room, m)
        .await
        .unwrap()
        .position;
    let after = fa
        .until(|f| f["type"] == "notice_changed" && f["position"].as_i64() >= Some(p))
        .await;
    assert_eq!(
        after.last().unwrap()["notice"],
        Value::Null,
        "deleting the message clears the notice"
    );
}
