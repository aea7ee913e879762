//! Revocation across nodes (API.md: "A revoked session's access token
//! answers 401 `unauthenticated` within 1 s on every node; frames stop"):
//! two processes started with `serve::start` on one namespace, a revocation
//! on the first refused by the second within 1 s (NATS push), by a node
//! started afterwards at once (Redis catch-up), and the revoked session's
//! stream on the second node closed with 4003.

mod stream_support;
mod support;

use contract::commands::LoginRequest;
use cotalk::config::{Config, Role};
use reqwest::StatusCode;
use std::time::Duration;
use stream_support::{connect, Node};
use support::{start, Server, User};
use testkit::client::Client;
use tokio::time::Instant;

/// A second node of `role` on the same databases, Redis, NATS and namespace,
/// with its own data directory (its own search replica).
async fn second(config: &Config, role: Role, name: &str) -> Node {
    let mut config = config.clone();
    config.data_dir = config.data_dir.join(name);
    let (base, cancel) = support::serve_app(&config, role).await;
    Node { base, cancel }
}

/// Log `username` in; the login's user as a test user and its answer.
async fn login(s: &Server, username: &str) -> (User, contract::commands::LoginResponse) {
    let req = LoginRequest {
        username: username.into(),
        password: "password-1".into(),
    };
    let answer = s.api.login(&req).await.expect("log in");
    let user = User {
        id: answer.user_id,
        token: answer.token.clone(),
        position: 0,
    };
    (user, answer)
}

/// `GET /v1/me` on `base` with `token`: its status.
async fn me_status(base: &str, token: &str) -> StatusCode {
    let client = Client::new(base).auth(token.to_owned());
    match client.me().await {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Wait until `base` answers `token` with 200 (the node knows the user).
async fn until_accepted(base: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while me_status(base, token).await != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the second node never accepted the token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_logout_on_one_node_is_refused_on_another_within_a_second() {
    let s = start().await;
    let node = second(&s.config, Role::Query, "second").await;
    let _ = s.user("roamer").await;
    let (_, session) = login(&s, "roamer").await;
    until_accepted(&node.base, &session.token).await;

    s.api
        .auth(session.token.clone())
        .logout()
        .await
        .expect("log out on the first node");
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = me_status(&node.base, &session.token).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            Instant::now() < deadline,
            "the second node still accepts the revoked token after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A node that starts after the revocation reads it from Redis before
    // it serves.
    let late = second(&s.config, Role::Query, "late").await;
    assert_eq!(
        me_status(&late.base, &session.token).await,
        StatusCode::UNAUTHORIZED
    );
    // And a live session is accepted there.
    let (_, other) = login(&s, "roamer").await;
    until_accepted(&late.base, &other.token).await;
}

#[tokio::test]
async fn a_revoked_sessions_stream_on_another_node_closes_with_4003() {
    let s = start().await;
    let node = second(&s.config, Role::Query, "streams").await;
    let _ = s.user("watcher").await;
    let (watcher, session) = login(&s, "watcher").await;
    let (_, phone) = login(&s, "watcher").await;
    until_accepted(&node.base, &session.token).await;
    let mut revoked = connect(&node.base, &watcher, None).await;
    let phone_user = User {
        token: phone.token.clone(),
        ..watcher.clone()
    };
    let mut kept = connect(&node.base, &phone_user, None).await;

    // The phone ends the other session ("log out this device").
    s.api
        .auth(phone.token.clone())
        .end_session(session.session_id)
        .await
        .expect("end the session");
    assert_eq!(revoked.close_code().await, 4003);
    // The phone's own stream is not touched: a frame still reaches it.
    let friend = s.user("friend").await;
    let phone_session = testkit::client::Session {
        id: watcher.id,
        token: phone.token.clone(),
        position: 0,
    };
    let (room, _) = stream_support::direct(&s, &phone_session, &friend).await;
    s.post(&friend, room, "still here").await;
    kept.until(stream_support::is_post("still here")).await;
    // A reconnect with the revoked token is refused before the upgrade.
    let refused = reqwest::Client::new()
        .get(format!("{}/v1/stream", node.base))
        .bearer_auth(&session.token)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}
