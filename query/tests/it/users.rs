use crate::fixture::*;
use axum::http::StatusCode;
use domain::views::FriendState;

#[tokio::test]
async fn profiles_and_lookups() {
    let mut fx = Fx::new().await;
    let (alice, bob) = (uid(1), uid(2));
    fx.put_user(1, &profile(alice, "alice")).await;
    fx.put_user(1, &profile(bob, "bob.kim")).await;
    fx.set_checkpoint(1, 7).await;

    let me = fx.get("/v1/me", Some(alice), &[]).await;
    assert_eq!(
        me.ok(),
        &serde_json::json!({"user_id": alice.to_string(), "username": "alice",
            "display_name": "alice display", "created_at": "2024-05-01T09:00:00Z",
            "status_message": "", "show_presence": true})
    );
    assert_eq!(me.position(), 7);

    let u = fx.get(&format!("/v1/users/{bob}"), Some(alice), &[]).await;
    assert_eq!(
        u.ok(),
        &serde_json::json!({"user_id": bob.to_string(), "username": "bob.kim", "display_name": "bob.kim display",
            "status_message": ""})
    );
    assert_eq!(u.position(), 7);

    for path in ["/v1/users?username=bob.kim", "/v1/users?username=BOB.KIM"] {
        assert_eq!(
            fx.get(path, Some(alice), &[]).await.ok()["user_id"],
            bob.to_string()
        );
    }

    let missing = fx
        .get(&format!("/v1/users/{}", uid(99)), Some(alice), &[])
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    assert_eq!(missing.position(), 7);
    let malformed = fx.get("/v1/users/not-a-uuid", Some(alice), &[]).await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    let unknown = fx.get("/v1/users?username=nobody", Some(alice), &[]).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    let long = fx
        .get(
            &format!("/v1/users?username={}", "a".repeat(300)),
            Some(alice),
            &[],
        )
        .await;
    assert_eq!(long.status, StatusCode::NOT_FOUND);

    for bad in [
        "/v1/users",
        "/v1/users?username=",
        "/v1/users?username=bob&x=1",
    ] {
        let r = fx.get(bad, Some(alice), &[]).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}"
        );
    }
    assert_eq!(
        fx.get("/v1/me", Some(alice), &[("x-min-position", "soon")])
            .await
            .code(),
        "invalid_request"
    );

    // Not projected yet (the account was just created): 404, with the position.
    let newcomer = fx.get("/v1/me", Some(uid(3)), &[]).await;
    assert_eq!(
        (newcomer.status, newcomer.code()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );

    let anon = fx.get("/v1/me", None, &[]).await;
    assert_eq!(
        (anon.status, anon.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    assert_eq!(anon.headers["content-type"], "application/problem+json");
    fx.cleanup().await;
}

#[tokio::test]
async fn friend_lists_group_and_order_entries() {
    let mut fx = Fx::new().await;
    let me = uid(1);
    fx.put_user(1, &profile(me, "me")).await;
    let names = ["ann", "ben", "cat", "dan", "eve"];
    for (i, n) in names.iter().enumerate() {
        fx.put_user(1, &profile(uid(10 + i as u128), n)).await;
    }
    fx.put_friend(1, me, uid(10), FriendState::Friend, 100)
        .await;
    fx.put_friend(1, me, uid(11), FriendState::Friend, 300)
        .await;
    fx.put_friend(1, me, uid(12), FriendState::Incoming, 200)
        .await;
    fx.put_friend(1, me, uid(13), FriendState::Outgoing, 250)
        .await;
    fx.put_friend(1, me, uid(14), FriendState::Outgoing, 260)
        .await;
    fx.set_checkpoint(1, 3).await;

    let r = fx.get("/v1/me/friends", Some(me), &[]).await;
    let body = r.ok();
    let names = |list: &str| -> Vec<String> {
        body[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("friends"), ["ben", "ann"]);
    assert_eq!(names("incoming"), ["cat"]);
    assert_eq!(names("outgoing"), ["eve", "dan"]);
    assert_eq!(
        body["friends"][0],
        serde_json::json!({"user_id": uid(11).to_string(), "username": "ben",
            "display_name": "ben display", "since": "2024-05-01T09:05:00Z",
            "status_message": "", "presence": "offline"})
    );
    assert_eq!(r.position(), 3);

    let empty = fx.get("/v1/me/friends", Some(uid(10)), &[]).await;
    assert_eq!(
        empty.ok(),
        &serde_json::json!({"friends": [], "incoming": [], "outgoing": []})
    );
    fx.cleanup().await;
}
