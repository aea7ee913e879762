//! `DELETE /v1/me` over HTTP (API.md "Accounts and sessions", issue 18):
//! the answer and its error, every session ending, the messages staying
//! with `deleted_user: true`, the login and the username after deletion and
//! the quarantine. That nothing personal is left anywhere:
//! `tests/accounts_shred.rs`.

mod support;

use contract::commands::{LoginRequest, RegisterRequest};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use support::{assert_refused, serve_args, start, start_args, Server};
use testkit::TestEnv;
use tokio::time::Instant;

/// Poll until `token` is refused by a query and a command route.
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
        assert!(Instant::now() < deadline, "token still works after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.call(Method::PATCH, "/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .json(json!({"display_name": "Nope"}))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

fn register(username: &str) -> RegisterRequest {
    RegisterRequest {
        username: username.into(),
        display_name: "다시 온 사람".into(),
        password: "password-2".into(),
    }
}

#[tokio::test]
async fn deleting_ends_every_session_and_keeps_the_messages_marked() {
    let s = start().await;
    let leaver = s.user("leaver_one").await;
    let stayer = s.user("stayer_one").await;
    let room = s.room(&leaver, "남는 방", &[&stayer]).await.room_id;
    let posted = s.post(&leaver, room, "나중에도 남는 글").await;
    let other_device = s
        .api
        .login(&LoginRequest {
            username: "leaver_one".into(),
            password: "password-1".into(),
        })
        .await
        .expect("a second session");

    // A wrong password changes nothing.
    s.call(Method::DELETE, "/v1/me")
        .auth(&leaver)
        .json(json!({"password": "not-the-password"}))
        .send()
        .await
        .expect(401, Some("invalid_credentials"));
    s.as_user(&leaver).me().await.expect("still there");

    let deleted = s.as_user(&leaver).delete_me("password-1").await.unwrap();
    assert!(deleted.position > posted.position);
    assert_refused_soon(&s, &leaver.token).await;
    assert_refused_soon(&s, &other_device.token).await;
    assert_refused(
        s.api
            .login(&LoginRequest {
                username: "leaver_one".into(),
                password: "password-1".into(),
            })
            .await,
        401,
        "invalid_credentials",
    );

    // The message stays, with its author's id and the marker; the author's
    // profile shows nothing personal.
    let reader = s.as_user(&stayer).at(deleted.position);
    let page = reader.messages(room, &[]).await.unwrap();
    let m = page
        .messages
        .iter()
        .find(|m| m.message_id == posted.message_id.0)
        .expect("the message stays");
    assert_eq!((m.author_id, m.deleted_user), (leaver.id.0, true));
    assert_eq!(m.body, "나중에도 남는 글");
    let raw = s
        .call(Method::GET, &format!("/v1/rooms/{room}/messages"))
        .auth(&stayer)
        .send()
        .await;
    assert_eq!(
        raw.body["messages"][0]["deleted_user"], true,
        "{}",
        raw.body
    );
    let mine = s.post(&stayer, room, "내 글").await;
    let page = reader.at(mine.position).messages(room, &[]).await.unwrap();
    let own = page
        .messages
        .iter()
        .find(|m| m.message_id == mine.message_id.0)
        .unwrap();
    assert!(!own.deleted_user);
    let profile = reader.user(leaver.id).await.unwrap();
    assert!(profile.deleted_user);
    assert_eq!(
        (profile.username.as_str(), profile.display_name.as_str()),
        ("", "")
    );
    assert_refused(reader.find_user("leaver_one").await, 404, "user_not_found");

    // The name is in quarantine (30 days by default).
    assert_refused(
        s.api.register(&register("leaver_one")).await,
        409,
        "username_taken",
    );
}

#[tokio::test]
async fn the_name_is_free_again_after_the_quarantine() {
    let mut args = serve_args(cotalk::config::Role::All);
    args.username_quarantine_days = 0;
    let s = start_args(TestEnv::new().await, args, None).await;
    let first = s.user("twice_named").await;
    s.as_user(&first).delete_me("password-1").await.unwrap();
    let again = s.api.register(&register("twice_named")).await.unwrap();
    assert_ne!(again.user_id, first.id);
    let session = s
        .api
        .login(&LoginRequest {
            username: "twice_named".into(),
            password: "password-2".into(),
        })
        .await
        .expect("the new owner logs in");
    assert_eq!(session.user_id, again.user_id);
    // Deleting twice: the first deletion ended the session.
    assert_refused(
        s.as_user(&first).delete_me("password-1").await,
        401,
        "unauthenticated",
    );
}

/// A deleted account is no one: every command that names a user answers 404
/// `user_not_found` for it, as for an id that never registered, and
/// changes nothing.
#[tokio::test]
async fn a_deleted_account_cannot_be_befriended_added_invited_or_blocked() {
    let s = start().await;
    let gone = s.user("gone_target").await;
    let me = s.user("still_here").await;
    let room = s.room(&me, "빈 방", &[]).await.room_id;
    let shared = s.room(&me, "함께 쓴 방", &[&gone]).await.room_id;
    let gone_id = gone.id;
    s.as_user(&gone).delete_me("password-1").await.unwrap();

    let id = gone_id.to_string();
    let attempts: Vec<(Method, String, serde_json::Value)> = vec![
        (Method::POST, "/v1/friends".into(), json!({"user_id": id})),
        (
            Method::POST,
            "/v1/rooms".into(),
            json!({"name": "새 방", "members": [id]}),
        ),
        (
            Method::POST,
            "/v1/rooms/direct".into(),
            json!({"user_id": id}),
        ),
        (
            Method::POST,
            format!("/v1/rooms/{room}/members"),
            json!({"user_id": id}),
        ),
        (
            Method::POST,
            "/v1/meetups".into(),
            json!({"title": "모임", "starts_at": "2099-01-01T10:00:00Z", "invitees": [id]}),
        ),
        (Method::PUT, format!("/v1/me/blocks/{id}"), json!({})),
    ];
    // Still a member of the room they wrote in, but no one to mention.
    let mention = s
        .call(Method::POST, &format!("/v1/rooms/{shared}/messages"))
        .auth(&me)
        .json(json!({"body": "안녕", "mentions": [id]}))
        .send()
        .await;
    assert_eq!(
        (mention.status.as_u16(), mention.code()),
        (422, "invalid_mention"),
        "{}",
        mention.body
    );
    for (method, path, body) in attempts {
        let call = s.call(method.clone(), &path).auth(&me);
        let call = if method == Method::PUT {
            call
        } else {
            call.json(body)
        };
        let answer = call.send().await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (404, "user_not_found"),
            "{method} {path}: {}",
            answer.body
        );
    }
}
