//! End to end on the read side: events appended to the log, the real
//! `redis` and `history` projections built from it, then the query routes.

use crate::fixture::*;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use domain::event::*;
use domain::{MessageId, RoomId, StreamId, UserId};
use projector::{replay, HistoryProjection, RedisProjection};
use serde_json::Value;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn t(s: i64) -> DateTime<Utc> {
    at(0) + Duration::seconds(s)
}

/// Append `events` in one transaction; the position of the last.
async fn append(pool: &sqlx::PgPool, events: &[DomainEvent]) -> i64 {
    let mut versions: HashMap<StreamId, i64> = HashMap::new();
    let mut tx = pool.begin().await.unwrap();
    let mut last = 0;
    for e in events {
        let s = e.stream_id();
        let v = versions.entry(s).or_insert(0);
        *v += 1;
        last = sqlx::query_scalar(
            "INSERT INTO events (position, event_id, stream_id, stream_type, version, event_type,
                                 schema_version, payload, metadata)
             VALUES (nextval('events_position_seq'), $1, $2, $3, $4, $5, $6, $7, $8) RETURNING position",
        )
        .bind(Uuid::now_v7())
        .bind(s.0)
        .bind(e.stream_type().as_str())
        .bind(*v)
        .bind(e.event_type())
        .bind(e.schema_version() as i16)
        .bind(e.payload())
        .bind(serde_json::to_value(EventMetadata::default()).unwrap())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    last
}

fn register(u: UserId, name: &str) -> [DomainEvent; 2] {
    [
        DomainEvent::Username(UsernameEvent::Claimed(UsernameClaimed {
            username: Some(name.into()),
            name_key: None,
            user_id: u,
            at: t(0),
        })),
        DomainEvent::User(UserEvent::Registered(UserRegistered {
            user_id: u,
            username: name.into(),
            display_name: name.to_uppercase().into(),
            at: t(0),
        })),
    ]
}

/// What a message should look like after all events: (author, body, deleted).
type Model = Vec<(UserId, String, bool)>;

#[tokio::test]
async fn routes_answer_from_projections_built_from_events() {
    let fx = Fx::new().await;
    let (alice, bob, carol) = (
        UserId(Uuid::now_v7()),
        UserId(Uuid::now_v7()),
        UserId(Uuid::now_v7()),
    );
    let room = RoomId(Uuid::now_v7());
    let mut events: Vec<DomainEvent> = Vec::new();
    for (u, n) in [(alice, "alice"), (bob, "bob"), (carol, "carol")] {
        events.extend(register(u, n));
    }
    events.push(DomainEvent::Friendship(FriendshipEvent::Requested(
        FriendRequested {
            from: alice,
            to: carol,
            at: t(1),
        },
    )));
    events.push(DomainEvent::Room(RoomEvent::Created(RoomCreated {
        room_id: room,
        name: "회의실".into(),
        owner_id: alice,
        direct: false,
        members: vec![alice, bob],
        at: t(2),
    })));
    let mut model: Model = Vec::new();
    let mut ids = Vec::new();
    for seq in 1..=230u64 {
        let author = if seq % 3 == 0 { alice } else { bob };
        let body = format!("회의는 {seq}시에 합니다");
        let id = MessageId(Uuid::now_v7());
        ids.push(id);
        events.push(DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
            room_id: room,
            message_id: id,
            seq,
            author_id: author,
            body: body.clone(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![],
            at: t(10 + seq as i64),
        })));
        model.push((author, body, false));
    }
    for seq in [5u64, 220] {
        let body = format!("고침 {seq}");
        events.push(DomainEvent::Room(RoomEvent::MessageEdited(MessageEdited {
            room_id: room,
            message_id: ids[seq as usize - 1],
            seq,
            author_id: Some(model[seq as usize - 1].0),
            body: body.clone(),
            at: t(500),
        })));
        model[seq as usize - 1].1 = body;
    }
    for seq in [10u64, 225] {
        let author = model[seq as usize - 1].0;
        events.push(DomainEvent::Room(RoomEvent::MessageDeleted(
            MessageDeleted {
                room_id: room,
                message_id: ids[seq as usize - 1],
                seq,
                author_id: author,
                by: author,
                at: t(600),
            },
        )));
        model[seq as usize - 1].1.clear();
        model[seq as usize - 1].2 = true;
    }
    let position = append(&fx.env.write_pool, &events).await;

    let cancel = CancellationToken::new();
    let mut redis = RedisProjection::new(&fx.env.redis_url, &fx.env.namespace, 1).unwrap();
    let mut history = HistoryProjection::open(fx.env.read_pool.clone(), 1)
        .await
        .unwrap();
    // Only Redis first: a query needing the table must wait for it.
    replay::catch_up(&mut redis, &fx.env.write_pool, 100, &cancel, |_| {})
        .await
        .unwrap();
    let min = position.to_string();
    let want = [("x-min-position", min.as_str()), ("x-max-wait-ms", "50")];
    let path = format!("/v1/rooms/{room}/messages");
    let recent = fx.get(&path, Some(bob), &want).await;
    assert_eq!(recent.ok()["messages"][0]["seq"], 230);
    let old = fx.get(&format!("{path}?before=20"), Some(bob), &want).await;
    assert_eq!(
        (old.status, old.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "projection_lagging")
    );
    replay::catch_up(&mut history, &fx.env.write_pool, 100, &cancel, |_| {})
        .await
        .unwrap();

    let me = fx.get("/v1/me", Some(alice), &want).await;
    assert_eq!(me.ok()["display_name"], "ALICE");
    assert_eq!(me.position(), position);
    assert_eq!(
        fx.get("/v1/users?username=carol", Some(bob), &want)
            .await
            .ok()["user_id"],
        carol.to_string()
    );
    let friends = fx.get("/v1/me/friends", Some(carol), &want).await;
    assert_eq!(friends.ok()["incoming"][0]["user_id"], alice.to_string());
    let detail = fx.get(&format!("/v1/rooms/{room}"), Some(bob), &want).await;
    assert_eq!(detail.ok()["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        fx.get(&format!("/v1/rooms/{room}"), Some(carol), &want)
            .await
            .code(),
        "room_not_found"
    );

    // alice's marker is at her last post (228); 229 and 230 are bob's.
    let rooms = fx.get("/v1/me/rooms", Some(alice), &want).await;
    let entry = &rooms.ok()["rooms"][0];
    assert_eq!(
        (entry["name"].as_str(), entry["member_count"].as_u64()),
        (Some("회의실"), Some(2))
    );
    assert_eq!(entry["unread_count"], 2);
    assert_eq!(entry["last_message"]["seq"], 230);

    // Every window, from the timeline and from the table, matches the model.
    let check = |body: &Value, label: &str| {
        for m in body["messages"].as_array().unwrap() {
            let seq = m["seq"].as_u64().unwrap() as usize;
            let (author, text, deleted) = &model[seq - 1];
            assert_eq!(
                (
                    m["author_id"].as_str().unwrap(),
                    m["body"].as_str().unwrap(),
                    m["deleted"].as_bool().unwrap()
                ),
                (author.to_string().as_str(), text.as_str(), *deleted),
                "{label} seq {seq}"
            );
        }
    };
    let windows = [
        "",
        "?limit=200",
        "?before=40",
        "?before=12&limit=5",
        "?after=0&limit=20",
        "?after=200",
        "?before=229&limit=31",
    ];
    let mut first = Vec::new();
    for w in windows {
        let r = fx.get(&format!("{path}{w}"), Some(bob), &want).await;
        check(r.ok(), w);
        first.push(r.body.clone());
    }
    assert_eq!(first[0]["messages"].as_array().unwrap().len(), 50);
    let mut conn = fx.redis.clone();
    let _: () = redis::cmd("DEL")
        .arg(fx.keys(1).timeline(room))
        .query_async(&mut conn)
        .await
        .unwrap();
    for (w, expected) in windows.iter().zip(&first) {
        let r = fx.get(&format!("{path}{w}"), Some(bob), &want).await;
        assert_eq!(r.ok(), expected, "table vs timeline for {w:?}");
    }
    fx.cleanup().await;
}
