//! Sessions over HTTP (API.md "Accounts and sessions"): every route, answer
//! and error code of login, refresh, logout, the session list, ending one
//! session and the password change; refresh-token rotation and reuse
//! detection. Revocation across nodes and streams: `tests/sessions_nodes.rs`.

mod support;

use contract::commands::LoginRequest;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use support::{assert_refused, start, Server, User};
use testkit::client::Client;
use tokio::time::Instant;

/// Log `username` in again (another device); the answer and a client of it.
async fn login(
    s: &Server,
    username: &str,
    password: &str,
) -> (contract::commands::LoginResponse, Client) {
    let req = LoginRequest {
        username: username.into(),
        password: password.into(),
    };
    let answer = s.api.login(&req).await.expect("log in");
    let client = s.api.auth(answer.token.clone());
    (answer, client)
}

/// Poll until `client`'s token is refused (`GET /v1/me`, a query route, and
/// `PATCH /v1/me`, a command route); the deny list reaches this node within
/// the contract's 1 s.
async fn assert_refused_soon(s: &Server, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let q = s
            .call(Method::GET, "/v1/me")
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await;
        if q.status == 401 {
            q.expect(401, Some("unauthenticated"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "token still works after 1 s: {}",
            q.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.call(Method::PATCH, "/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .json(json!({"display_name": "Nope"}))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

#[tokio::test]
async fn login_answers_a_pair_and_refresh_rotates_it() {
    let s = start().await;
    let _: User = s.user("rotor").await;
    let (first, client) = login(&s, "rotor", "password-1").await;
    assert!(first.refresh_token.len() >= 43, "256 bits, base64url");
    let ttl = first.expires_at - chrono::Utc::now();
    assert!(ttl <= chrono::Duration::minutes(15) && ttl > chrono::Duration::minutes(14));
    assert!(first.refresh_expires_at - chrono::Utc::now() > chrono::Duration::days(29));
    client.me().await.expect("the access token works");

    let second = s.api.refresh(&first.refresh_token).await.expect("refresh");
    assert_eq!(
        (second.session_id, second.user_id),
        (first.session_id, first.user_id)
    );
    assert_ne!(second.refresh_token, first.refresh_token);
    s.api
        .auth(second.token.clone())
        .me()
        .await
        .expect("new token works");
    let third = s
        .api
        .refresh(&second.refresh_token)
        .await
        .expect("refresh again");

    // Presenting a used refresh token: refused, and the whole session ends.
    assert_refused(
        s.api.refresh(&first.refresh_token).await,
        401,
        "invalid_refresh_token",
    );
    assert_refused(
        s.api.refresh(&third.refresh_token).await,
        401,
        "invalid_refresh_token",
    );
    assert_refused_soon(&s, &third.token).await;
    assert_refused_soon(&s, &first.token).await;
}

#[tokio::test]
async fn refresh_refuses_what_is_not_a_live_refresh_token() {
    let s = start().await;
    for token in ["", "not-a-token", &"A".repeat(43)] {
        assert_refused(s.api.refresh(token).await, 401, "invalid_refresh_token");
    }
    s.call(Method::POST, "/v1/sessions/refresh")
        .json(json!({"refresh_token": "x", "extra": 1}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
    s.call(Method::POST, "/v1/sessions/refresh")
        .json(json!({}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
    s.call(Method::POST, "/v1/sessions")
        .json(json!({"username": "nobody", "password": "password-1"}))
        .send()
        .await
        .expect(401, Some("invalid_credentials"));
}

#[tokio::test]
async fn ended_sessions_are_swept_after_a_day_and_live_ones_stay() {
    use command::sessions::store;
    let s = start().await;
    let _ = s.user("sweepme").await;
    let (live, _) = login(&s, "sweepme", "password-1").await;
    let (revoked, _) = login(&s, "sweepme", "password-1").await;
    let (expired, _) = login(&s, "sweepme", "password-1").await;
    let (recent, _) = login(&s, "sweepme", "password-1").await;
    let pool = &s.env.write_pool;
    let two_days_ago = chrono::Utc::now() - chrono::Duration::days(2);
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE session_id = $1")
        .bind(revoked.session_id)
        .bind(two_days_ago)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET refresh_expires_at = $2 WHERE session_id = $1")
        .bind(expired.session_id)
        .bind(two_days_ago)
        .execute(pool)
        .await
        .unwrap();
    // Revoked an hour ago: kept (a node catching up may still need it).
    sqlx::query("UPDATE sessions SET revoked_at = now() - interval '1 hour' WHERE session_id = $1")
        .bind(recent.session_id)
        .execute(pool)
        .await
        .unwrap();
    let swept = store::sweep(pool, chrono::Utc::now()).await.unwrap();
    assert_eq!(swept, 2);
    let left: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT session_id FROM sessions ORDER BY session_id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(left.contains(&live.session_id) && left.contains(&recent.session_id));
    assert!(!left.contains(&revoked.session_id) && !left.contains(&expired.session_id));
    let tokens: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE session_id = ANY($1)")
            .bind(vec![revoked.session_id, expired.session_id])
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(tokens, 0, "their refresh tokens went with them");
    assert_eq!(store::sweep(pool, chrono::Utc::now()).await.unwrap(), 0);
}

#[tokio::test]
async fn logout_ends_the_session_and_only_it() {
    let s = start().await;
    let _ = s.user("leaver").await;
    let (phone, phone_client) = login(&s, "leaver", "password-1").await;
    let (laptop, laptop_client) = login(&s, "leaver", "password-1").await;
    phone_client.logout().await.expect("log out");
    assert_refused_soon(&s, &phone.token).await;
    assert_refused(
        s.api.refresh(&phone.refresh_token).await,
        401,
        "invalid_refresh_token",
    );
    assert_refused(phone_client.logout().await, 401, "unauthenticated");
    laptop_client.me().await.expect("the other session goes on");
    s.api
        .refresh(&laptop.refresh_token)
        .await
        .expect("and refreshes");
    s.call(Method::DELETE, "/v1/sessions/current")
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one() {
    let s = start().await;
    let _ = s.user("lister").await;
    let other = s.user("stranger").await;
    let (a, a_client) = login(&s, "lister", "password-1").await;
    let phone = s
        .call(Method::POST, "/v1/sessions")
        .header("user-agent", "PhoneBrowser/1.0")
        .json(json!({"username": "lister", "password": "password-1"}))
        .send()
        .await;
    phone.expect(201, None);
    let b: contract::commands::LoginResponse = phone.json();

    let listed = a_client.sessions().await.expect("list").sessions;
    // The sign-up's login, `a` and the phone.
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0].session_id, b.session_id, "newest first");
    assert_eq!(listed[0].user_agent, "PhoneBrowser/1.0");
    let current: Vec<_> = listed.iter().filter(|v| v.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].session_id, a.session_id);

    // Not the caller's, unknown, malformed.
    let strangers = s.as_user(&other).sessions().await.unwrap().sessions;
    assert_refused(
        a_client.end_session(strangers[0].session_id).await,
        404,
        "session_not_found",
    );
    assert_refused(
        a_client.end_session(uuid::Uuid::now_v7()).await,
        404,
        "session_not_found",
    );
    s.call(Method::DELETE, "/v1/me/sessions/not-a-uuid")
        .header("authorization", format!("Bearer {}", a.token))
        .send()
        .await
        .expect(404, Some("not_found"));
    s.as_user(&other)
        .me()
        .await
        .expect("the stranger is untouched");

    a_client
        .end_session(b.session_id)
        .await
        .expect("log the phone out");
    assert_refused_soon(&s, &b.token).await;
    assert_refused(
        a_client.end_session(b.session_id).await,
        404,
        "session_not_found",
    );
    let left = a_client.sessions().await.unwrap().sessions;
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|v| v.session_id != b.session_id));
    s.call(Method::GET, "/v1/me/sessions")
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

#[tokio::test]
async fn a_password_change_revokes_every_other_session() {
    let s = start().await;
    let _ = s.user("changer").await;
    let (old, old_client) = login(&s, "changer", "password-1").await;
    let (mine, me) = login(&s, "changer", "password-1").await;

    assert_refused(
        me.change_password("wrong-password", "password-2").await,
        401,
        "invalid_credentials",
    );
    assert_refused(
        me.change_password("password-1", "short").await,
        422,
        "weak_password",
    );
    old_client.me().await.expect("nothing changed yet");

    let changed = me
        .change_password("password-1", "password-2")
        .await
        .expect("change");
    assert!(changed.position > 0);
    assert_refused_soon(&s, &old.token).await;
    assert_refused(
        s.api.refresh(&old.refresh_token).await,
        401,
        "invalid_refresh_token",
    );
    me.me().await.expect("the changing session stays");
    let listed = me.sessions().await.unwrap().sessions;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].session_id, mine.session_id);

    let req = |password: &str| LoginRequest {
        username: "changer".into(),
        password: password.into(),
    };
    assert_refused(
        s.api.login(&req("password-1")).await,
        401,
        "invalid_credentials",
    );
    s.api
        .login(&req("password-2"))
        .await
        .expect("the new password logs in");
    // The same Idempotency-Key answers the same position again.
    let keyed = me.key("pw-1");
    let first = keyed
        .change_password("password-2", "password-3")
        .await
        .unwrap();
    let again = keyed
        .change_password("password-2", "password-3")
        .await
        .unwrap();
    assert_eq!(first.position, again.position);
    s.call(Method::POST, "/v1/me/password")
        .json(json!({"current_password": "password-3", "new_password": "password-4"}))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}
