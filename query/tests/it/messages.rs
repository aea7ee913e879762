use crate::fixture::*;
use axum::http::StatusCode;
use domain::views::MessageView;
use domain::RoomId;
use query::{QueryConfig, QueryState};
use serde_json::{json, Value};

/// A room of 300 messages (50 and 250 deleted) in both projections, at position 40.
async fn busy_room(fx: &mut Fx) -> (RoomId, Vec<MessageView>) {
    let (a, b) = (uid(1), uid(2));
    let room = rid(1);
    fx.put_room(1, room, "busy", &[a, b], 0).await;
    let mut msgs: Vec<_> = (1..=300)
        .map(|s| message(room, s, if s % 3 == 0 { a } else { b }))
        .collect();
    fx.post(1, &msgs).await;
    for s in [50, 250] {
        fx.delete(1, &msgs[s - 1]).await;
        msgs[s - 1].deleted = true;
        msgs[s - 1].body.clear();
    }
    fx.create_history(1).await;
    fx.insert_history(1, &msgs).await;
    fx.set_history(1, 40).await;
    fx.set_checkpoint(1, 40).await;
    (room, msgs)
}

fn seqs(body: &Value) -> Vec<u64> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// Windows on both sides of, and across, the timeline's lower edge (101).
fn windows() -> Vec<String> {
    let mut out = vec![String::new()];
    for limit in ["", "&limit=1", "&limit=10", "&limit=50", "&limit=200"] {
        for b in [
            1000, 301, 300, 251, 250, 200, 153, 152, 151, 120, 102, 101, 100, 60, 2, 1, 0,
        ] {
            out.push(format!("?before={b}{limit}"));
        }
        for a in [0, 1, 50, 99, 100, 101, 150, 249, 290, 299, 300, 1000] {
            out.push(format!("?after={a}{limit}"));
        }
        for (a, b) in [(90, 110), (150, 160), (0, 400), (120, 121), (5, 5)] {
            out.push(format!("?after={a}&before={b}{limit}"));
        }
    }
    out
}

#[tokio::test]
async fn history_pages_have_the_documented_shape() {
    let mut fx = Fx::new().await;
    let (room, msgs) = busy_room(&mut fx).await;
    let path = format!("/v1/rooms/{room}/messages");

    let newest = fx.get(&path, Some(uid(1)), &[]).await;
    let body = newest.ok();
    assert_eq!(seqs(body), (251..=300).rev().collect::<Vec<_>>());
    assert_eq!(body["has_more"], true);
    assert_eq!(newest.position(), 40);
    let m = &msgs[299];
    assert_eq!(
        body["messages"][0],
        json!({"message_id": m.message_id.to_string(), "room_id": room.to_string(), "seq": 300,
               "author_id": uid(1).to_string(), "body": "message 300 안녕하세요", "reply_to": null,
               "created_at": "2024-05-01T09:05:00Z", "edited_at": "2024-05-01T09:05:30Z", "deleted": false,
               "attachments": [], "mentions": [], "reactions": [], "unread_by": 0})
    );

    let around = fx
        .get(&format!("{path}?before=252&limit=3"), Some(uid(2)), &[])
        .await;
    let deleted = &around.ok()["messages"][1];
    assert_eq!(
        (
            deleted["seq"].as_u64(),
            deleted["deleted"].as_bool(),
            deleted["body"].as_str()
        ),
        (Some(250), Some(true), Some(""))
    );

    let deep = fx
        .get(&format!("{path}?before=52&limit=3"), Some(uid(2)), &[])
        .await;
    let deleted = &deep.ok()["messages"][1];
    assert_eq!(
        (
            deleted["seq"].as_u64(),
            deleted["deleted"].as_bool(),
            deleted["body"].as_str()
        ),
        (Some(50), Some(true), Some(""))
    );
    assert_eq!(deep.position(), 40);

    let oldest = fx
        .get(&format!("{path}?after=0&limit=3"), Some(uid(1)), &[])
        .await;
    assert_eq!(seqs(oldest.ok()), [1, 2, 3]);
    assert_eq!(oldest.body["has_more"], true);
    let tail = fx
        .get(&format!("{path}?after=295"), Some(uid(1)), &[])
        .await;
    assert_eq!(seqs(tail.ok()), [296, 297, 298, 299, 300]);
    assert_eq!(tail.body["has_more"], false);
    let head = fx.get(&format!("{path}?before=3"), Some(uid(1)), &[]).await;
    assert_eq!(seqs(head.ok()), [2, 1]);
    assert_eq!(head.body["has_more"], false);

    let outsider = fx.get(&path, Some(uid(3)), &[]).await;
    let nowhere = fx
        .get(&format!("/v1/rooms/{}/messages", rid(7)), Some(uid(1)), &[])
        .await;
    for r in [&outsider, &nowhere] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "room_not_found")
        );
    }
    assert_eq!(outsider.body, nowhere.body);

    for (q, status, code) in [
        ("?before=abc", StatusCode::BAD_REQUEST, "invalid_request"),
        ("?before=-1", StatusCode::BAD_REQUEST, "invalid_request"),
        ("?after=1.5", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        (
            "?limit=500",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        ("?since=4", StatusCode::BAD_REQUEST, "invalid_request"),
    ] {
        let r = fx.get(&format!("{path}{q}"), Some(uid(1)), &[]).await;
        assert_eq!((r.status, r.code()), (status, code), "{q}");
    }

    let quiet = rid(2);
    fx.put_room(1, quiet, "quiet", &[uid(1)], 0).await;
    let empty = fx
        .get(&format!("/v1/rooms/{quiet}/messages"), Some(uid(1)), &[])
        .await;
    assert_eq!(empty.ok(), &json!({"messages": [], "has_more": false}));
    fx.cleanup().await;
}

#[tokio::test]
async fn timeline_and_table_give_identical_answers() {
    let mut fx = Fx::new().await;
    let (room, msgs) = busy_room(&mut fx).await;
    let path = format!("/v1/rooms/{room}/messages");

    // With the read database unreachable, recent windows still answer (they
    // come from the timeline alone) and old ones fail: both paths are used.
    let no_pg = QueryState::connect(QueryConfig::new(
        fx.env.redis_url.clone(),
        "postgres://postgres@127.0.0.1:1/nowhere",
        fx.env.namespace.clone(),
        fx.tokens.clone(),
    ))
    .await
    .unwrap();
    // The caller is registered (as `fx.token` takes it) on this node too.
    no_pg.known_users().insert(uid(1));
    let no_pg = fx.with_state(no_pg);
    let fast = Fx::get_on(
        &no_pg,
        &fx,
        &format!("{path}?before=200&limit=98"),
        Some(uid(1)),
        &[],
    )
    .await;
    assert_eq!(seqs(fast.ok()).len(), 98);
    let slow = Fx::get_on(
        &no_pg,
        &fx,
        &format!("{path}?before=200&limit=99"),
        Some(uid(1)),
        &[],
    )
    .await;
    assert_eq!(
        (slow.status, slow.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable")
    );
    assert!(slow.headers.contains_key("retry-after"));

    let mut served = Vec::new();
    for w in windows() {
        served.push(
            fx.get(&format!("{path}{w}"), Some(uid(2)), &[])
                .await
                .ok()
                .clone(),
        );
    }
    // Without the timeline every page comes from the table.
    let _: () = redis::cmd("DEL")
        .arg(fx.keys(1).timeline(room))
        .query_async(&mut fx.redis)
        .await
        .unwrap();
    for (w, expected) in windows().into_iter().zip(&served) {
        let table = fx.get(&format!("{path}{w}"), Some(uid(2)), &[]).await;
        assert_eq!(table.ok(), expected, "window {w}");
        // And both agree with the model: seq in (after, before), ordered, deleted bodies empty.
        for m in table.body["messages"].as_array().unwrap() {
            let seq = m["seq"].as_u64().unwrap() as usize;
            let want = &msgs[seq - 1];
            assert_eq!(m["body"].as_str().unwrap(), want.body, "window {w}");
        }
    }
    fx.cleanup().await;
}
