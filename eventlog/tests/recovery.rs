//! The batcher keeps working through database failures: a connection killed
//! mid-batch, the database refusing connections for a while, a constraint
//! violation the walk does not foresee. And it drains its queue on shutdown.

mod support;

use domain::event::{UserEvent, UserRegistered};
use domain::{DomainEvent, EventMetadata, StreamType, UserId};
use eventlog::{AppendError, Commit, SideWrite, StreamAppend};
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

#[tokio::test]
async fn the_batcher_survives_its_connection_being_killed() {
    let s = setup().await;
    let (x, _) = new_room();
    let lock = hold_append_lock(&s.pool).await;
    let victim = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(x, 0, 1))).await }
    });
    let waiters = poll_until("the batch waiting on the append lock", || async {
        let waiters = lock_waiters(&s.pool).await;
        (!waiters.is_empty()).then_some(waiters)
    })
    .await;
    for pid in waiters {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&s.pool)
            .await
            .expect("terminate the batch's backend");
    }
    let outcome = tokio::time::timeout(DEADLINE, victim)
        .await
        .expect("answered")
        .expect("task");
    assert!(
        matches!(outcome, Err(AppendError::Unavailable(_))),
        "got {outcome:?}"
    );
    lock.rollback().await.expect("release the lock");

    // Nothing of the failed batch was stored, and the batcher carries on.
    let done = s
        .store
        .append(commit(messages(x, 0, 2)))
        .await
        .expect("append after the kill");
    assert_eq!(
        done.events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

/// The batcher keeps its connections between batches instead of handing
/// them back to its pool, which would test each one with a round trip. One
/// the server dropped while it sat idle is replaced when the next batch
/// cannot begin on it, and no caller sees the failure.
#[tokio::test]
async fn a_kept_connection_the_server_dropped_costs_no_commit() {
    let s = setup().await;
    let (x, _) = new_room();
    for expected in 0..2 {
        s.store
            .append(commit(messages(x, expected, 1)))
            .await
            .expect("append before the kill");
    }
    let kept: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND state = 'idle' \
         AND (query = 'COMMIT' OR query LIKE '%eventlog_append_batch%')",
    )
    .fetch_all(&s.pool)
    .await
    .expect("read pg_stat_activity");
    assert!(!kept.is_empty(), "the batcher keeps its connections");
    for pid in &kept {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&s.pool)
            .await
            .expect("terminate a kept connection");
    }
    eventually("the kept connections are gone", || async {
        let alive: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(&kept)
                .fetch_one(&s.pool)
                .await
                .expect("read pg_stat_activity");
        alive == 0
    })
    .await;

    let done = s
        .store
        .append(commit(messages(x, 2, 1)))
        .await
        .expect("append after the kill");
    assert_eq!(done.events[0].version, 3);
}

async fn set_allow_connections(admin: &PgPool, database: &str, allow: bool) {
    sqlx::query(&format!(
        "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {allow}"
    ))
    .execute(admin)
    .await
    .expect("alter database");
}

#[tokio::test]
async fn the_batcher_recovers_when_the_database_comes_back() {
    let s = setup().await;
    let (x, _) = new_room();
    s.store
        .append(commit(messages(x, 0, 1)))
        .await
        .expect("before the outage");

    // An outage of this test's database only: refuse new connections and
    // drop every existing one.
    let server = s
        .env
        .database_url
        .rsplit_once('/')
        .expect("url with a database")
        .0;
    let database = s
        .env
        .database_url
        .rsplit_once('/')
        .expect("url")
        .1
        .to_owned();
    let admin = PgPool::connect(&format!("{server}/postgres"))
        .await
        .expect("admin connection");
    set_allow_connections(&admin, &database, false).await;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&database)
        .execute(&admin)
        .await
        .expect("drop connections");

    let during = tokio::time::timeout(DEADLINE, s.store.append(commit(messages(x, 1, 1))))
        .await
        .expect("an append during the outage is answered, not hung");
    assert!(
        matches!(during, Err(AppendError::Unavailable(_))),
        "got {during:?}"
    );

    set_allow_connections(&admin, &database, true).await;
    let after = poll_until("an append to succeed after the outage", || async {
        match s.store.append(commit(messages(x, 1, 1))).await {
            Ok(done) => Some(done),
            Err(AppendError::Unavailable(_)) => None,
            Err(other) => panic!("unexpected error after the outage: {other}"),
        }
    })
    .await;
    assert_eq!(after.events[0].version, 2);
    assert_eq!(versions_of(&s, x).await, vec![1, 2]);
}

fn register(user: UserId, username: &str) -> Commit {
    Commit {
        streams: vec![StreamAppend {
            stream_id: user.into(),
            stream_type: StreamType::User,
            expected_version: 0,
            events: vec![DomainEvent::from(UserEvent::Registered(UserRegistered {
                user_id: user,
                username: username.into(),
                display_name: username.into(),
                at: at(),
            }))],
            epoch: None,
        }],
        metadata: EventMetadata::default(),
        side_writes: vec![SideWrite::Credential {
            user_id: user,
            username: username.into(),
            password_hash: "$argon2id$test".into(),
        }],
    }
}

#[tokio::test]
async fn an_unforeseen_constraint_violation_fails_only_its_commit() {
    let s = setup().await;
    let first = UserId(Uuid::now_v7());
    let second = UserId(Uuid::now_v7());
    let (room, _) = new_room();
    // Two users claiming one username without the username stream that would
    // normally catch it: only the credentials' UNIQUE constraint does, at insert.
    let outcomes = one_batch(
        &s,
        vec![
            register(first, "jiwoo"),
            register(second, "jiwoo"),
            commit(messages(room, 0, 1)),
        ],
    )
    .await;
    assert!(outcomes[0].is_ok(), "first registration: {:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(AppendError::Rejected(_))),
        "got {:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_ok(), "unrelated commit: {:?}", outcomes[2]);
    assert!(s
        .store
        .read_stream(second.into(), 0)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        s.store
            .credential("jiwoo", "jiwoo")
            .await
            .expect("lookup")
            .map(|c| c.user_id),
        Some(first)
    );
    // And the batcher goes on.
    s.store
        .append(commit(messages(room, 1, 1)))
        .await
        .expect("later append");
}

#[tokio::test]
async fn shutdown_drains_queued_commits() {
    let s = setup().await;
    let lock = hold_append_lock(&s.pool).await;
    let blocker = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(new_room().0, 0, 1))).await }
    });
    wait_blocked_with_queue(&s, 0).await;
    let mut queued = Vec::new();
    for i in 0..5 {
        let store = s.store.clone();
        queued.push(tokio::spawn(async move {
            store.append(commit(messages(new_room().0, 0, 1))).await
        }));
        wait_blocked_with_queue(&s, i + 1).await;
    }
    let shutdown = tokio::spawn({
        let store = s.store.clone();
        async move { store.shutdown().await }
    });
    lock.commit().await.expect("release the lock");
    blocker.await.expect("task").expect("blocker appended");
    for task in queued {
        task.await
            .expect("task")
            .expect("queued commit written before stopping");
    }
    tokio::time::timeout(DEADLINE, shutdown)
        .await
        .expect("shutdown finishes")
        .expect("task");
    let late = s.store.append(commit(messages(new_room().0, 0, 1))).await;
    assert!(
        matches!(late, Err(AppendError::Unavailable(_))),
        "got {late:?}"
    );
}

/// A planned batch whose answer cannot be read was committed all the same:
/// the batcher finds it in the log under the lock and answers each caller
/// with what was written, without writing it twice. (A wrapper around the
/// batch function returns a transaction time out of range, as a lost
/// answer would leave the outcome unknown.)
#[tokio::test]
async fn a_planned_batch_whose_answer_is_lost_is_answered_from_the_log() {
    let s = setup().await;
    let args = "bigint, text, uuid[], uuid[], text[], bigint[], text[], smallint[], jsonb[], \
                jsonb[], uuid[], text[], bigint[], bigint[], uuid[], text[], bytea[], smallint[], \
                jsonb[], bigint[], uuid[], text[], bigint[]";
    let params: Vec<String> = (1..=23).map(|i| format!("${i}")).collect();
    for sql in [
        format!("ALTER FUNCTION eventlog_append_batch({args}) RENAME TO eventlog_append_batch_real"),
        format!(
            "CREATE FUNCTION eventlog_append_batch({args}, OUT drawn bigint[], OUT at_micros bigint) \
             LANGUAGE sql AS $$ SELECT r.drawn, 9223372036854775807::bigint \
             FROM eventlog_append_batch_real({}) r $$",
            params.join(", ")
        ),
    ] {
        sqlx::query(&sql)
            .execute(&s.pool)
            .await
            .expect("wrap the batch function");
    }
    let (x, _) = new_room();
    let done = s
        .store
        .append(commit(messages(x, 0, 2)))
        .await
        .expect("answered from the log");
    let log = eventlog::read_all(&s.pool, 0, 100).await.expect("read all");
    assert_eq!(log.len(), 2, "written once");
    assert_eq!(
        done.events
            .iter()
            .map(|e| (e.position, e.version, e.recorded_at))
            .collect::<Vec<_>>(),
        log.iter()
            .map(|e| (e.position, e.version, e.recorded_at))
            .collect::<Vec<_>>()
    );
    assert_eq!(done.position, log[1].position);
    let counts = s.store.batch_counts();
    assert_eq!((counts.planned, counts.replanned), (0, 1), "{counts:?}");
}
