//! A validly signed token whose `sub` never registered (a leaked or shared
//! key, a restored database) is refused with 401 `unauthenticated` on every
//! authenticated route of both route tables and on `GET /v1/stream`, while a
//! user who has just registered is let in at once, on every side.

use super::{claims, token, SECRET};
use crate::support::{self, Server, User};
use contract::queries::MessagesResponse;
use domain::{MessageId, RoomId};
use reqwest::Method;
use serde_json::json;

/// Public routes: no token needed.
/// (`POST /v1/sessions/refresh` takes a refresh token, not a bearer.)
const PUBLIC: &[&str] = &["/v1/users", "/v1/sessions", "/v1/sessions/refresh"];
/// The calendar feed takes its own read-only token, never a session's: a
/// bearer of anyone is refused with the feed's code.
const CALENDAR_FEED: &str = "/v1/me/calendar.ics";

/// `template` with its `{…}` parameters filled from real ids.
fn fill(template: &str, room: RoomId, user: &User, message: MessageId) -> String {
    template
        .replace("{room_id}", &room.to_string())
        .replace("{user_id}", &user.id.to_string())
        .replace("{message_id}", &message.to_string())
}

async fn call(s: &Server, m: Method, path: &str, bearer: &str) -> support::Answer {
    let query = match path {
        "/v1/users" => "?username=realowner",
        "/v1/search/messages" => "?q=hello",
        _ => "",
    };
    let call = s
        .call(m.clone(), &format!("{path}{query}"))
        .header("authorization", format!("Bearer {bearer}"));
    if m == Method::GET {
        call.send().await
    } else {
        call.json(json!({})).send().await
    }
}

#[tokio::test]
async fn tokens_of_users_who_never_registered_are_refused_everywhere() {
    let s = super::start().await;
    let owner = s.user("realowner").await;
    // A fresh user works at once, with no X-Min-Position, on both sides.
    s.call(Method::GET, "/v1/me")
        .auth(&owner)
        .send()
        .await
        .expect(200, None);
    let room = s.room(&owner, "real", &[]).await.room_id;
    let posted = s.post(&owner, room, "hello").await;
    let (message, posted) = (posted.message_id, posted.position);

    let ghost = uuid::Uuid::now_v7().to_string();
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let (iss, aud) = (api::auth::ISSUER, api::auth::AUDIENCE);
    let without_reg = token(&hs, &claims(&ghost, iss, aud, 600), SECRET);
    let mut with_reg = claims(&ghost, iss, aud, 600);
    with_reg["reg"] = json!(1);
    let with_reg = token(&hs, &with_reg, SECRET);

    let routes = command::routes()
        .into_iter()
        .chain(query::routes())
        .filter(|(m, path)| !(*m == Method::POST && PUBLIC.contains(&path.as_str())));
    for (method, template) in routes {
        let path = fill(&template, room, &owner, message);
        for bearer in [&without_reg, &with_reg] {
            let a = call(&s, method.clone(), &path, bearer).await;
            let code = if template == CALENDAR_FEED {
                "invalid_calendar_token"
            } else {
                "unauthenticated"
            };
            assert_eq!(
                (a.status.as_u16(), a.code()),
                (401, code),
                "{method} {path}: {}",
                a.body
            );
        }
    }
    // The stream refuses before the upgrade, with the header or the query token.
    let a = call(&s, Method::GET, "/v1/stream", &without_reg).await;
    a.expect(401, Some("unauthenticated"));
    s.call(Method::GET, &format!("/v1/stream?token={with_reg}"))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
    // Nothing the ghost tried was written: the room still holds one message.
    let page = s
        .call(Method::GET, &format!("/v1/rooms/{room}/messages"))
        .auth(&owner)
        .at(posted)
        .send()
        .await;
    assert_eq!(page.json::<MessagesResponse>().messages.len(), 1);
}
