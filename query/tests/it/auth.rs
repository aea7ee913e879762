//! Authentication on the query side: a validly signed token whose user has
//! no profile is refused, a user whose registration the projection has not
//! applied yet is waited for (the token's `reg` position), and known users
//! cost no lookup.

use crate::fixture::*;
use axum::http::StatusCode;
use chrono::Utc;
use domain::UserId;
use redis::AsyncCommands;
use std::time::Duration;

fn session(fx: &Fx, user: UserId, registered_at: i64) -> String {
    fx.tokens
        .issue_session(user, registered_at, uuid::Uuid::now_v7(), Utc::now())
        .unwrap()
        .0
}

#[tokio::test]
async fn a_token_whose_user_never_registered_is_refused() {
    let mut fx = Fx::new().await;
    fx.set_checkpoint(1, 10).await;
    let ghost = uid(66);
    // With and without a registration position the projection has passed.
    for token in [
        session(&fx, ghost, 9),
        fx.tokens.issue(ghost, Utc::now()).unwrap().0,
    ] {
        for path in [
            "/v1/me",
            "/v1/me/rooms",
            "/v1/me/friends",
            "/v1/users?username=x",
        ] {
            let r = fx.get_with_token(path, &token, &[]).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
                "{path}"
            );
        }
    }
    fx.cleanup().await;
}

#[tokio::test]
async fn a_fresh_user_is_waited_for_not_refused() {
    let mut fx = Fx::new().await;
    let fresh = uid(7);
    fx.set_checkpoint(1, 10).await;
    let token = session(&fx, fresh, 12);
    // The projection applies the registration a little later.
    let (redis, namespace) = (fx.env.redis_url.clone(), fx.env.namespace.clone());
    let applied = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut c = redis::Client::open(redis.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys = readmodel::RedisKeys::new(&namespace, 1);
        let p = profile(fresh, "fresh");
        let _: () = redis::pipe()
            .set(keys.user(fresh), serde_json::to_string(&p).unwrap())
            .set(keys.checkpoint(), 12)
            .query_async(&mut c)
            .await
            .unwrap();
    });
    let me = fx.get_with_token("/v1/me", &token, &[]).await;
    assert_eq!(me.ok()["username"], "fresh");
    applied.await.unwrap();
    fx.cleanup().await;
}

#[tokio::test]
async fn a_projection_that_never_gets_there_is_a_503_not_a_401() {
    let mut fx = Fx::new().await;
    fx.set_checkpoint(1, 10).await;
    let token = session(&fx, uid(8), 11);
    let r = fx.get_with_token("/v1/me", &token, &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "projection_lagging")
    );
    assert!(r.headers.contains_key("retry-after"));
    fx.cleanup().await;
}

#[tokio::test]
async fn known_users_are_cached() {
    let mut fx = Fx::new().await;
    let me = uid(9);
    fx.put_user(1, &profile(me, "cached")).await;
    fx.set_checkpoint(1, 3).await;
    let token = session(&fx, me, 3);
    fx.get_with_token("/v1/me/rooms", &token, &[]).await.ok();
    // The profile goes away (it never does in practice): the user is still
    // known to this node, so authentication does not read it again.
    let _: () = fx.redis.del(fx.keys(1).user(me)).await.unwrap();
    fx.get_with_token("/v1/me/rooms", &token, &[]).await.ok();
    fx.cleanup().await;
}
