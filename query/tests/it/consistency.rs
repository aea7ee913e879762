//! Read-your-writes, generations, dependency failures and the query role.

use crate::fixture::*;
use axum::http::StatusCode;
use query::{check_ready, QueryConfig, QueryState};
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

#[tokio::test]
async fn min_position_waits_then_answers_or_gives_up() {
    let mut fx = Fx::new().await;
    let me = uid(1);
    fx.put_user(1, &profile(me, "me")).await;
    fx.set_checkpoint(1, 5).await;

    let reached = fx.get("/v1/me", Some(me), &[("x-min-position", "5")]).await;
    assert_eq!(reached.ok()["username"], "me");
    assert_eq!(reached.position(), 5);

    let lagging = fx
        .get(
            "/v1/me",
            Some(me),
            &[("x-min-position", "6"), ("x-max-wait-ms", "30")],
        )
        .await;
    assert_eq!(
        (lagging.status, lagging.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "projection_lagging")
    );
    assert!(lagging.headers.contains_key("retry-after"));

    // The projection catches up while the query waits.
    let mut writer = redis::Client::open(fx.env.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let checkpoint = fx.keys(1).checkpoint();
    let catch_up = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _: () = redis::cmd("SET")
            .arg(checkpoint)
            .arg(9)
            .query_async(&mut writer)
            .await
            .unwrap();
    });
    let waited = fx
        .get(
            "/v1/me",
            Some(me),
            &[("x-min-position", "8"), ("x-max-wait-ms", "10000")],
        )
        .await;
    catch_up.await.unwrap();
    assert_eq!(waited.ok()["username"], "me");
    assert_eq!(waited.position(), 9);
    fx.cleanup().await;
}

#[tokio::test]
async fn history_waits_for_exactly_the_projections_it_reads() {
    let mut fx = Fx::new().await;
    let room = rid(1);
    fx.put_room(1, room, "r", &[uid(1)], 0).await;
    let msgs: Vec<_> = (1..=250).map(|s| message(room, s, uid(1))).collect();
    fx.post(1, &msgs).await;
    fx.create_history(1).await;
    fx.insert_history(1, &msgs).await;
    fx.set_checkpoint(1, 10).await;
    fx.set_history(1, 5).await;
    let path = format!("/v1/rooms/{room}/messages");
    let want = [("x-min-position", "10"), ("x-max-wait-ms", "30")];

    // Recent pages read Redis only, which has applied 10.
    let recent = fx.get(&path, Some(uid(1)), &want).await;
    assert_eq!(recent.ok()["messages"][0]["seq"], 250);
    assert_eq!(recent.position(), 10);
    // Old pages read the table too, which has not.
    let old = fx
        .get(&format!("{path}?before=20"), Some(uid(1)), &want)
        .await;
    assert_eq!(
        (old.status, old.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "projection_lagging")
    );
    // Without a wanted position, it answers what it has: the lower checkpoint.
    let as_is = fx
        .get(&format!("{path}?before=20"), Some(uid(1)), &[])
        .await;
    assert_eq!(as_is.ok()["messages"][0]["seq"], 19);
    assert_eq!(as_is.position(), 5);

    fx.set_history(1, 12).await;
    let old = fx
        .get(&format!("{path}?before=20"), Some(uid(1)), &want)
        .await;
    assert_eq!(old.ok()["messages"][0]["seq"], 19);
    assert_eq!(
        old.position(),
        10,
        "the lowest checkpoint of the projections read"
    );

    // Membership comes from Redis, so a lagging Redis holds back even the table's pages.
    let ahead = [("x-min-position", "11"), ("x-max-wait-ms", "30")];
    let r = fx
        .get(&format!("{path}?before=20"), Some(uid(1)), &ahead)
        .await;
    assert_eq!(r.code(), "projection_lagging");
    fx.cleanup().await;
}

#[tokio::test]
async fn a_generation_switch_takes_effect_at_once() {
    let mut fx = Fx::new().await;
    let (me, room) = (uid(1), rid(1));
    fx.put_user(1, &profile(me, "old")).await;
    fx.put_room(1, room, "old room", &[me], 0).await;
    fx.set_checkpoint(1, 5).await;
    assert_eq!(
        fx.get("/v1/me", Some(me), &[]).await.ok()["username"],
        "old"
    );

    // A shadow rebuild writes generation 2 while 1 serves…
    fx.put_user(2, &profile(me, "new")).await;
    fx.put_room(2, room, "new room", &[me], 0).await;
    fx.set_checkpoint(2, 9).await;
    assert_eq!(
        fx.get("/v1/me", Some(me), &[]).await.ok()["username"],
        "old"
    );
    // …then moves the pointer and drops generation 1.
    fx.set_pointer(2).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", fx.keys(1).prefix()))
        .query_async(&mut fx.redis)
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut fx.redis)
        .await
        .unwrap();
    let me_now = fx.get("/v1/me", Some(me), &[]).await;
    assert_eq!(me_now.ok()["username"], "new");
    assert_eq!(me_now.position(), 9);
    assert_eq!(
        fx.get(&format!("/v1/rooms/{room}"), Some(me), &[])
            .await
            .ok()["name"],
        "new room"
    );
    let list = fx.get("/v1/me/rooms", Some(me), &[]).await;
    assert_eq!(list.ok()["rooms"][0]["name"], "new room");
    // A wait against the new generation's checkpoint.
    let r = fx.get("/v1/me", Some(me), &[("x-min-position", "9")]).await;
    assert_eq!(r.position(), 9);

    // The history projection switches the same way, through its table.
    let msgs: Vec<_> = (1..=3).map(|s| message(room, s, me)).collect();
    fx.post(2, &msgs).await;
    let _: () = redis::cmd("DEL")
        .arg(fx.keys(2).timeline(room))
        .query_async(&mut fx.redis)
        .await
        .unwrap();
    fx.create_history(1).await;
    fx.create_history(2).await;
    let mut g1 = msgs.clone();
    g1.iter_mut().for_each(|m| m.body = "from g1".into());
    fx.insert_history(1, &g1).await;
    fx.insert_history(2, &msgs).await;
    fx.set_history(1, 9).await;
    fx.set_history(2, 9).await;
    let path = format!("/v1/rooms/{room}/messages");
    assert_eq!(
        fx.get(&path, Some(me), &[]).await.ok()["messages"][0]["body"],
        "from g1"
    );
    // Switch and drop the old table before the next query: the cached
    // generation's table is gone, the query must find the new one.
    fx.set_history_pointer(2).await;
    sqlx::query("DROP TABLE messages_g1")
        .execute(&fx.env.read_pool)
        .await
        .unwrap();
    assert_eq!(
        fx.get(&path, Some(me), &[]).await.ok()["messages"][0]["body"],
        msgs[2].body
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn unreachable_dependencies_answer_503_and_fail_readiness() {
    let fx = Fx::new().await;
    assert_eq!(check_ready(&fx.state).await, Ok(()));
    let no_redis = QueryState::connect(QueryConfig::new(
        "redis://127.0.0.1:1",
        fx.env.read_database_url.clone(),
        fx.env.namespace.clone(),
        fx.tokens.clone(),
    ))
    .await
    .expect("starts without redis");
    let r = Fx::get_on(
        &fx.with_state(no_redis.clone()),
        &fx,
        "/v1/me",
        Some(uid(1)),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable")
    );
    assert_eq!(r.headers["retry-after"], "1");
    assert!(check_ready(&no_redis)
        .await
        .unwrap_err()
        .starts_with("redis"));

    let no_pg = QueryState::connect(QueryConfig::new(
        fx.env.redis_url.clone(),
        "postgres://postgres@127.0.0.1:1/nowhere",
        fx.env.namespace.clone(),
        fx.tokens.clone(),
    ))
    .await
    .unwrap();
    assert!(check_ready(&no_pg)
        .await
        .unwrap_err()
        .starts_with("read database"));
    assert!(
        QueryState::connect(QueryConfig::new("nope://", "x", "n", fx.tokens.clone()))
            .await
            .is_err()
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn the_query_role_reads_read_tables_but_not_the_event_log() {
    let fx = Fx::new().await;
    fx.create_history(1).await;
    let role_on = |url: &str| migrations::query_role_options(url).unwrap();
    let write = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(role_on(&fx.env.database_url))
        .await
        .unwrap();
    let err = sqlx::query("SELECT count(*) FROM events")
        .fetch_one(&write)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "permission denied, got {err}"
    );
    for table in ["event_ids", "streams", "credentials"] {
        assert!(
            sqlx::query(&format!("SELECT 1 FROM {table} LIMIT 1"))
                .fetch_optional(&write)
                .await
                .is_err(),
            "{table}"
        );
    }

    // The pool the query state uses is that role, and reads the read tables.
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(fx.state.pool())
        .await
        .unwrap();
    assert_eq!(user, migrations::QUERY_ROLE);
    for table in [
        "projection_checkpoints",
        "projection_generations",
        "messages_g1",
    ] {
        sqlx::query(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(fx.state.pool())
            .await
            .unwrap();
    }
    let write_err =
        sqlx::query("INSERT INTO projection_generations (projection, generation) VALUES ('x', 1)")
            .execute(fx.state.pool())
            .await
            .unwrap_err();
    assert_eq!(
        write_err
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("42501")
    );
    fx.cleanup().await;
}
