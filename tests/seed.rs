//! `cotalk seed` with generated data: the counts asked for are written
//! through the command routes, and a second run with the same counts appends
//! nothing (the demo part is covered by tests/browser.rs).

mod support;

use cotalk::seed::{self, Outcome, SeedArgs};
use testkit::TestEnv;

async fn head(env: &TestEnv) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>("SELECT max(position) FROM events")
        .fetch_one(&env.write_pool)
        .await
        .expect("read the log head")
        .unwrap_or(0)
}

#[tokio::test]
async fn generated_users_rooms_and_messages_are_written_once() {
    let env = TestEnv::new().await;
    let dir = std::env::temp_dir().join(format!("cotalk-seed-{}", env.namespace));
    let config = support::config(&env, &dir);
    let args = SeedArgs {
        users: 3,
        rooms: 2,
        messages: 12,
    };
    let first = seed::run(&config, &args).await.expect("seed");
    assert!(matches!(first, Outcome::Seeded { .. }), "{first:?}");
    let after_first = head(&env).await;
    let messages: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'room.message_posted'")
            .fetch_one(&env.write_pool)
            .await
            .expect("count messages");
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'user.registered'")
            .fetch_one(&env.write_pool)
            .await
            .expect("count users");
    // The demo's messages and users, and the generated ones.
    assert!(messages >= 12 + 48, "{messages} messages");
    assert_eq!(users, seed::DEMO_USERS.len() as i64 + 3);

    seed::run(&config, &args).await.expect("seed again");
    assert_eq!(
        head(&env).await,
        after_first,
        "a second run appended events"
    );
    let _ = std::fs::remove_dir_all(dir);
}
