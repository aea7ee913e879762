//! Input that impersonates or enumerates: names and bodies made only of
//! invisible characters are refused wherever they would be shown (422, and
//! nothing is written), reserved usernames cannot be registered, and looking
//! users up by username is limited per user.

use super::assert_limited;
use crate::support::Server;
use reqwest::Method;
use serde_json::json;

/// Zero-width and other default-ignorable characters, mixed with whitespace
/// (four: with the one real message, this binary's post limit is five).
const INVISIBLE: &[&str] = &[
    "\u{200B}",
    "\u{200C}\u{200D}\u{2060}\u{FEFF}",
    " \u{200B}\n\u{FEFF} ",
    "\u{3164}\u{115F}",
];

async fn sign_up(s: &Server, username: &str, display_name: &str) -> crate::support::Answer {
    s.call(Method::POST, "/v1/users")
        .json(json!({"username": username, "display_name": display_name, "password": "password-1"}))
        .send()
        .await
}

#[tokio::test]
async fn invisible_names_and_bodies_are_refused() {
    let s = super::start().await;
    let a = s.user("visible").await;
    let created = s.room(&a, "limits", &[]).await;
    let (room, created) = (created.room_id, created.position);
    let posted = s.post(&a, room, "the only message").await.position;
    for text in INVISIBLE {
        sign_up(&s, "invisible", text)
            .await
            .expect(422, Some("invalid_display_name"));
        s.call(Method::PATCH, "/v1/me")
            .auth(&a)
            .json(json!({ "display_name": text }))
            .send()
            .await
            .expect(422, Some("invalid_display_name"));
        s.call(Method::POST, "/v1/rooms")
            .auth(&a)
            .json(json!({"name": text, "members": []}))
            .send()
            .await
            .expect(422, Some("invalid_room_name"));
        s.call(Method::PATCH, &format!("/v1/rooms/{room}"))
            .auth(&a)
            .json(json!({ "name": text }))
            .send()
            .await
            .expect(422, Some("invalid_room_name"));
        s.call(Method::POST, &format!("/v1/rooms/{room}/messages"))
            .auth(&a)
            .json(json!({ "body": text }))
            .send()
            .await
            .expect(422, Some("invalid_message_body"));
    }
    // Nothing was written: the profile, the room and its one message as they were.
    let as_a = s.as_user(&a);
    let me = as_a.at(posted).me().await.expect("me");
    assert_eq!(me.display_name, "VISIBLE");
    let r = as_a.at(created).room(room).await.expect("the room");
    assert_eq!(r.name, "limits");
    let page = as_a.at(posted).messages(room, &[]).await.expect("history");
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.position, posted, "no later event");
}

#[tokio::test]
async fn reserved_usernames_cannot_be_registered() {
    let s = super::start().await;
    for name in [
        "admin",
        "root",
        "system",
        "cotalk",
        "support",
        "administrator",
        "moderator",
        "null",
        "undefined",
        "ad.min",
        "cotalk_team",
    ] {
        let a = sign_up(&s, name, "Definitely Staff").await;
        a.expect(422, Some("invalid_username"));
        let detail = a.problem.as_ref().map_or("", |p| p.detail.as_str());
        assert!(detail.contains("reserved"), "{name}: {}", a.body);
    }
    // Ordinary names, and the seed's demo users, are fine.
    for name in ["minji", "jihoon", "sam", "badminton"] {
        sign_up(&s, name, name).await.expect(201, None);
    }
}

#[tokio::test]
async fn username_lookups_are_limited_per_user() {
    let s = super::start().await;
    let a = s.user("looker").await;
    let b = s.user("other").await;
    // This binary allows 3, found or not.
    for name in ["other", "nobody1", "nobody2"] {
        let r = s
            .call(Method::GET, &format!("/v1/users?username={name}"))
            .auth(&a)
            .at(b.position)
            .send()
            .await;
        assert!(matches!(r.status.as_u16(), 200 | 404), "{}", r.body);
    }
    let over = s
        .call(Method::GET, "/v1/users?username=other")
        .auth(&a)
        .send()
        .await;
    assert_limited(&over);
    s.call(Method::GET, "/v1/users?username=looker")
        .auth(&b)
        .send()
        .await
        .expect(200, None);
}
