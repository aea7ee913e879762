//! `cotalk pii encrypt-legacy` (issue 18): a log written before sealing
//! (v1 personal events, plain usernames in `credentials`) is sealed in
//! place; the user still logs in and reads the same; a second run changes
//! nothing; deleting the account then makes the name unreadable.

mod support;

use command::password::Passwords;
use contract::commands::LoginRequest;
use domain::{StreamId, UserId};
use eventlog::pii::Pii;
use eventlog::pii_legacy::{encrypt_legacy, LegacyReport};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;
use support::{serve_args, start_args, MASTER_KEY};
use testkit::TestEnv;
use tokio::time::Instant;
use uuid::Uuid;

const NAME: &str = "zq9legacyname";
const DISPLAY: &str = "옛날사람표시이름";
const STATUS: &str = "oldstatusplaintext";
const PASSWORD: &str = "password-legacy";

/// Append one event as the code before issue 18 wrote it (schema v1).
async fn insert(
    pool: &PgPool,
    stream: Uuid,
    stream_type: &str,
    version: i64,
    kind: &str,
    payload: Value,
) {
    let position: i64 = sqlx::query_scalar("SELECT nextval('events_position_seq')")
        .fetch_one(pool)
        .await
        .unwrap();
    let event_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, stream_type, version, event_type, \
         schema_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
    )
    .bind(position)
    .bind(event_id)
    .bind(stream)
    .bind(stream_type)
    .bind(version)
    .bind(kind)
    .bind(&payload)
    .bind(
        json!({"actor": null, "command_id": null, "idempotency_key": null, "correlation_id": null}),
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO event_ids (event_id, position) VALUES ($1, $2)")
        .bind(event_id)
        .bind(position)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO streams (stream_id, stream_type, version, position) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (stream_id) DO UPDATE SET version = $3, position = $4",
    )
    .bind(stream)
    .bind(stream_type)
    .bind(version)
    .bind(position)
    .execute(pool)
    .await
    .unwrap();
}

/// Every place in the event-log database that still shows a personal text.
async fn plain_left(pool: &PgPool) -> Vec<String> {
    let mut found = Vec::new();
    for text in [NAME, DISPLAY, STATUS] {
        let events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'",
        )
        .bind(text)
        .fetch_one(pool)
        .await
        .unwrap();
        let creds: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM credentials WHERE username LIKE '%' || $1 || '%'",
        )
        .bind(text)
        .fetch_one(pool)
        .await
        .unwrap();
        if events + creds > 0 {
            found.push(format!("{text}: {events} events, {creds} credentials"));
        }
    }
    found
}

#[tokio::test]
async fn legacy_plain_fields_are_sealed_in_place_once() {
    let env = TestEnv::new().await;
    let pool = env.write_pool.clone();
    let user = UserId(Uuid::now_v7());
    let at = "2026-11-01T09:30:00.123456Z";
    insert(
        &pool,
        StreamId::for_username(NAME).0,
        "username",
        1,
        "username.claimed",
        json!({"username": NAME, "user_id": user.0, "at": at}),
    )
    .await;
    insert(
        &pool,
        user.0,
        "user",
        1,
        "user.registered",
        json!({"user_id": user.0, "username": NAME, "display_name": "처음이름", "at": at}),
    )
    .await;
    insert(
        &pool,
        user.0,
        "user",
        2,
        "user.display_name_changed",
        json!({"user_id": user.0, "display_name": DISPLAY, "at": at}),
    )
    .await;
    insert(
        &pool,
        user.0,
        "user",
        3,
        "user.status_message_changed",
        json!({"user_id": user.0, "status_message": STATUS, "at": at}),
    )
    .await;
    let hash = Passwords::new().hash(PASSWORD.into()).await.unwrap();
    sqlx::query("INSERT INTO credentials (user_id, username, password_hash) VALUES ($1, $2, $3)")
        .bind(user.0)
        .bind(NAME)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
    let before: Vec<(i64, Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT position, event_id, stream_id, version FROM events ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        plain_left(&pool).await.len(),
        3,
        "the fixture holds the names"
    );

    let pii = Pii::new(MASTER_KEY.as_bytes());
    let report = encrypt_legacy(&pool, &pii, 2).await.unwrap();
    assert_eq!(
        report,
        LegacyReport {
            events: 4,
            keys_created: 1,
            credentials: 1
        }
    );
    assert_eq!(plain_left(&pool).await, Vec::<String>::new());
    let first_name: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE payload::text LIKE '%처음이름%' OR schema_version = 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(first_name, 0);
    // Same events, same places: only payloads changed.
    let after: Vec<(i64, Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT position, event_id, stream_id, version FROM events ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(before, after);
    let snapshot: Vec<(i64, String)> =
        sqlx::query_as("SELECT position, payload::text FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
    // A second run finds nothing.
    assert_eq!(
        encrypt_legacy(&pool, &pii, 2).await.unwrap(),
        LegacyReport::default()
    );
    let again: Vec<(i64, String)> =
        sqlx::query_as("SELECT position, payload::text FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(snapshot, again);

    // The app reads the sealed log as it read the plain one.
    let s = start_args(env, serve_args(cotalk::config::Role::All), None).await;
    let login = s
        .api
        .login(&LoginRequest {
            username: NAME.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("the legacy user logs in by name");
    assert_eq!(login.user_id, user);
    let me = s.api.auth(login.token.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    let profile = loop {
        if let Ok(read) = me.me().await {
            break read.body;
        }
        assert!(Instant::now() < deadline, "the profile never showed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (
            profile.username.as_str(),
            profile.display_name.as_str(),
            profile.status_message.as_str()
        ),
        (NAME, DISPLAY, STATUS)
    );

    // Deleting the account now shreds what was legacy plain text.
    me.delete_me(PASSWORD).await.unwrap();
    assert_eq!(plain_left(&s.env.write_pool).await, Vec::<String>::new());
    assert!(pii.key(&s.env.write_pool, user).await.unwrap().is_none());
    let sealed: Vec<(Value,)> = sqlx::query_as(
        "SELECT payload FROM events WHERE stream_id = $1 AND event_type = 'user.registered'",
    )
    .bind(user.0)
    .fetch_all(&s.env.write_pool)
    .await
    .unwrap();
    assert!(
        sealed[0].0["username"]["sealed"].is_string(),
        "{:?}",
        sealed
    );
}
