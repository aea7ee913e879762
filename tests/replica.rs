//! Queries reading a real hot standby: the history table is answered from a
//! streaming replica, and `X-Min-Position` holds against it because the
//! projection checkpoint is replicated with the rows it covers. Replay on the
//! standby is paused to make it lag on purpose: a read-your-writes query then
//! waits and answers 503 `projection_lagging` although the primary already
//! has the message, and succeeds as soon as replay resumes.

#[path = "support/standby.rs"]
mod standby;
mod support;

use contract::commands::{CreateRoomRequest, PostMessageRequest};
use contract::queries::MessagesResponse;
use cotalk::config::Role;
use domain::RoomId;
use futures::StreamExt;
use readmodel::sql::CHECKPOINTS_TABLE;
use readmodel::ProjectionName;
use readmodel::TIMELINE_LEN;
use standby::Replication;
use std::time::Duration;
use support::{assert_refused, start_with, Server, User};
use testkit::client::{Read, Result};
use testkit::TestEnv;
use tokio::time::Instant;

/// The whole test, servers included, must finish within this.
const TEST_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn history_is_read_from_a_hot_standby_with_read_your_writes() {
    let started = Instant::now();
    if tokio::time::timeout(TEST_LIMIT, scenario()).await.is_err() {
        panic!("the replica test did not finish within {TEST_LIMIT:?}");
    }
    eprintln!("replica test took {:?}", started.elapsed());
}

async fn scenario() {
    let t0 = Instant::now();
    let phase = |name: &str| eprintln!("{:>6.2}s {name}", t0.elapsed().as_secs_f64());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // Dropped last (locals drop in reverse order): the app goes first.
    let mut pg = Replication::start_primary(&tag[..12])
        .await
        .unwrap_or_else(|e| panic!("cannot start the private primary: {e}"));
    phase("primary up");
    let env = TestEnv::on_server(&pg.primary_server()).await;
    phase("databases migrated");
    let write_db = database_of(&env.database_url);
    let read_db = database_of(&env.read_database_url);

    // The base backup is taken after the databases exist, so the standby has them.
    pg.start_standby()
        .await
        .unwrap_or_else(|e| panic!("cannot start the hot standby: {e}"));
    pg.wait_streaming(Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    phase("standby streaming");
    let standby_admin = pg.standby_pool("postgres").await.unwrap();
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&standby_admin)
        .await
        .unwrap();
    assert!(in_recovery, "the second server must be a standby");
    let read_primary = env.read_pool.clone();

    let replica_url = pg.standby_url(&read_db);
    let s = start_with(env, Role::All, Some(replica_url)).await;
    let (minsu, bora) = tokio::join!(s.user("minsu"), s.user("bora"));
    let create = CreateRoomRequest {
        name: "replica".into(),
        members: vec![bora.id],
    };
    let room = s
        .as_user(&minsu)
        .create_room(&create)
        .await
        .expect("create a room")
        .room_id;
    phase("app, users, room");

    // More messages than the Redis timeline keeps: a newest-first page of 200
    // is then one the timeline cannot prove complete, so it is read from the
    // history table, i.e. from the standby.
    let total = TIMELINE_LEN + 5;
    // Sent concurrently so the group commit batches them; the last one alone,
    // so it is the newest.
    let (server, author, room_id) = (&s, &minsu, room);
    futures::stream::iter(1..total)
        .map(|n| post(server, author, room_id, format!("filler {n}")))
        .buffer_unordered(16)
        .collect::<Vec<i64>>()
        .await;
    let newest = format!("message {total}");
    let last = post(&s, &minsu, room, newest.clone()).await;
    phase("messages posted");
    let page = history(&s, &bora, room, Some(last), None)
        .await
        .expect("history");
    assert!(
        page.position >= last,
        "X-Position {} < {last}",
        page.position
    );
    let msgs = &page.messages;
    assert_eq!(msgs.len(), 200);
    assert!(page.has_more);
    assert_eq!(msgs[0].body, newest, "newest first");
    assert_eq!(msgs[0].seq, total as u64);

    // Make the standby lag: stop applying WAL. It still receives it.
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&standby_admin)
        .await
        .unwrap();
    let state: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
        .fetch_one(&standby_admin)
        .await
        .unwrap();
    assert_ne!(state, "not paused");

    let fresh = "written while the standby is paused";
    let p2 = post(&s, &minsu, room, fresh.to_owned()).await;
    // Redis (membership, timeline) and the primary's history table both have it...
    s.as_user(&bora)
        .at(p2)
        .room(room)
        .await
        .expect("the room at p2");
    wait_for_checkpoint(&read_primary, p2).await;
    // ...the standby does not, and the query says so instead of answering stale.
    let lagging = history(&s, &bora, room, Some(p2), Some(300)).await;
    let lagging = assert_refused(lagging, 503, "projection_lagging");
    assert!(lagging.header("retry-after").is_some());
    // Without X-Min-Position the answer is the standby's frozen snapshot.
    let stale = history(&s, &bora, room, None, None)
        .await
        .expect("stale history");
    assert!(stale.position < p2, "the standby cannot reflect {p2} yet");
    assert_eq!(stale.messages[0].body, newest);
    let standby_read = pg.standby_pool(&read_db).await.unwrap();
    assert!(checkpoint(&standby_read).await < p2);

    phase("lag shown");
    // Replay resumes: the same read-your-writes query now succeeds.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&standby_admin)
        .await
        .unwrap();
    let caught_up = history(&s, &bora, room, Some(p2), Some(10_000))
        .await
        .expect("history once replay resumed");
    assert!(caught_up.position >= p2);
    let msgs = &caught_up.messages;
    assert_eq!(msgs[0].body, fresh);
    assert_eq!(msgs[0].seq, total as u64 + 1);
    assert!(checkpoint(&standby_read).await >= p2);

    // The query role on the standby reads the read tables and nothing of the
    // event log (another database, and no grant there).
    let query_role = migrations::query_role_options(&pg.standby_url(&write_db)).unwrap();
    let mut conn = sqlx::ConnectOptions::connect(&query_role).await.unwrap();
    let denied = sqlx::query("SELECT 1 FROM events LIMIT 1")
        .execute(&mut conn)
        .await
        .expect_err("the query role must not read the event log");
    let code = denied
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "{denied}");

    // Still streaming at the end: the answers above came from a live standby.
    pg.wait_streaming(Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(s);
}

fn database_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Post `body` to `room`; its position.
async fn post(s: &Server, user: &User, room: RoomId, body: String) -> i64 {
    s.as_user(user)
        .post_message(room, &PostMessageRequest::text(body))
        .await
        .expect("post")
        .position
}

/// The newest 200 messages of `room` (more than the timeline can vouch for).
async fn history(
    s: &Server,
    user: &User,
    room: RoomId,
    min: Option<i64>,
    wait_ms: Option<u64>,
) -> Result<Read<MessagesResponse>> {
    let mut client = s.as_user(user);
    if let Some(min) = min {
        client = client.at(min);
    }
    if let Some(ms) = wait_ms {
        client = client.max_wait(ms);
    }
    client.messages(room, &[("limit", "200")]).await
}

/// The history projection's checkpoint in a read database.
async fn checkpoint(pool: &sqlx::PgPool) -> i64 {
    let sql = format!(
        "SELECT COALESCE(MAX(position), 0)::bigint FROM {CHECKPOINTS_TABLE} WHERE projection = $1"
    );
    sqlx::query_scalar(&sql)
        .bind(ProjectionName::History.as_str())
        .fetch_one(pool)
        .await
        .expect("read the history checkpoint")
}

/// Wait until the primary's history projection has applied `position`.
async fn wait_for_checkpoint(pool: &sqlx::PgPool, position: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoint(pool).await < position {
        assert!(
            Instant::now() < deadline,
            "the history projection did not reach {position} on the primary"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
