use crate::fixture::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn room_details_are_for_members_only() {
    let mut fx = Fx::new().await;
    let (a, b, c) = (uid(1), uid(2), uid(3));
    let room = rid(1);
    fx.put_room(1, room, "점심 메뉴", &[a, b], 10).await;
    fx.set_checkpoint(1, 4).await;

    let r = fx.get(&format!("/v1/rooms/{room}"), Some(b), &[]).await;
    assert_eq!(
        r.ok(),
        &json!({
            "room_id": room.to_string(), "name": "점심 메뉴", "owner_id": a.to_string(), "direct": false,
            "members": [
                {"user_id": a.to_string(), "role": "owner", "joined_at": "2024-05-01T09:00:10Z"},
                {"user_id": b.to_string(), "role": "member", "joined_at": "2024-05-01T09:00:11Z"},
            ],
            "created_at": "2024-05-01T09:00:10Z",
            "notice": null,
        })
    );
    assert_eq!(r.position(), 4);

    // Not a member, no such room, not an id: the same answer.
    let outsider = fx.get(&format!("/v1/rooms/{room}"), Some(c), &[]).await;
    let nowhere = fx.get(&format!("/v1/rooms/{}", rid(2)), Some(a), &[]).await;
    let garbage = fx.get("/v1/rooms/x", Some(a), &[]).await;
    for r in [&outsider, &nowhere, &garbage] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "room_not_found")
        );
    }
    assert_eq!(outsider.body, nowhere.body);
    assert_eq!(outsider.position(), 4);
    fx.cleanup().await;
}

#[tokio::test]
async fn room_list_counts_unread_and_shows_last_message() {
    let mut fx = Fx::new().await;
    let (a, b, c) = (uid(1), uid(2), uid(3));
    let (r1, r2, r3) = (rid(1), rid(2), rid(3));
    fx.put_room(1, r1, "one", &[a, b], 0).await;
    fx.put_room(1, r2, "two", &[a, c], 20).await;
    fx.put_room(1, r3, "three", &[b], 30).await;
    let authors = [a, b, b, b, a, b, b];
    let msgs: Vec<_> = authors
        .iter()
        .enumerate()
        .map(|(i, au)| message(r1, i as u64 + 1, *au))
        .collect();
    fx.post(1, &msgs).await;
    fx.delete(1, &msgs[6]).await;
    fx.set_read_marker(1, r1, b, 1).await;
    fx.set_checkpoint(1, 12).await;

    let r = fx.get("/v1/me/rooms", Some(a), &[]).await;
    let body = r.ok();
    assert_eq!(r.position(), 12);
    assert_eq!(body["next_cursor"], json!(null));
    let rooms = body["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 2);
    // r2 was created at +20 s, r1's last message is at +7 s.
    assert_eq!(rooms[0]["room_id"], r2.to_string());
    assert_eq!(
        rooms[1],
        json!({
            "room_id": r1.to_string(), "name": "one", "owner_id": a.to_string(), "direct": false,
            "created_at": "2024-05-01T09:00:00Z", "member_count": 2,
            "last_message": {"message_id": msgs[6].message_id.to_string(), "seq": 7, "author_id": b.to_string(),
                             "body_preview": "message 7 안녕하세요", "created_at": "2024-05-01T09:00:07Z"},
            // a read up to 5 (own post); 6 and 7 are b's, 7 is deleted.
            "unread_count": 1,
            "last_activity_at": "2024-05-01T09:00:07Z",
            "muted": false,
        })
    );
    assert_eq!(rooms[0]["last_message"], json!(null));
    assert_eq!(rooms[0]["unread_count"], 0);

    // b read up to 1: 2,3,4,6 are b's own, 7 deleted, 5 is a's.
    let r = fx.get("/v1/me/rooms", Some(b), &[]).await;
    let rooms = r.ok()["rooms"].as_array().unwrap().clone();
    assert_eq!(
        rooms
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["three", "one"]
    );
    assert_eq!(rooms[1]["unread_count"], 1);

    let none = fx.get("/v1/me/rooms", Some(uid(9)), &[]).await;
    assert_eq!(none.ok(), &json!({"rooms": [], "next_cursor": null}));
    fx.cleanup().await;
}

#[tokio::test]
async fn room_list_pages_through_ties_without_loss_or_repeats() {
    let mut fx = Fx::new().await;
    let me = uid(1);
    // Seven rooms at the same instant (a bulk import), two at others.
    for n in 1..=7 {
        fx.put_room(1, rid(n), &format!("tie {n}"), &[me], 50).await;
    }
    fx.put_room(1, rid(8), "newest", &[me], 90).await;
    fx.put_room(1, rid(9), "oldest", &[me], 5).await;
    fx.set_checkpoint(1, 1).await;

    let full = fx.get("/v1/me/rooms?limit=200", Some(me), &[]).await;
    let expected: Vec<String> = full.ok()["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 9);
    assert_eq!(expected[0], "newest");
    assert_eq!(expected[8], "oldest");

    for limit in [1, 2, 3, 4] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let path = match &cursor {
                Some(c) => format!("/v1/me/rooms?limit={limit}&cursor={c}"),
                None => format!("/v1/me/rooms?limit={limit}"),
            };
            let r = fx.get(&path, Some(me), &[]).await;
            let body = r.ok();
            let page = body["rooms"].as_array().unwrap();
            assert!(page.len() <= limit);
            seen.extend(page.iter().map(|r| r["name"].as_str().unwrap().to_owned()));
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}");
    }

    for (path, status, code) in [
        (
            "/v1/me/rooms?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        (
            "/v1/me/rooms?limit=201",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        (
            "/v1/me/rooms?limit=ten",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/me/rooms?cursor=garbage",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            "/v1/me/rooms?page=2",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let r = fx.get(path, Some(me), &[]).await;
        assert_eq!((r.status, r.code()), (status, code), "{path}");
    }
    fx.cleanup().await;
}
