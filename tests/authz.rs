//! The authorization matrix: every room-scoped route of the command and query
//! route tables (`command::routes()`, `query::routes()`), plus search with
//! and without `room_id`, called by a stranger, a member who left, a member who
//! was kicked, and by anyone with a forged, expired or `alg: none` token. Each
//! gets the documented answer (404 `room_not_found`; search: 200 without hits
//! from the room; 401 `unauthenticated`) and no data. A member who rejoins sees
//! the history again.
//!
//! The role dimension (issue 16): every room-scoped route called by a plain
//! member, an admin and the owner of a fresh room, acting on another plain
//! member and their message, gets the answer its case names for that role.
//!
//! The cases are checked against the route tables the routers are built from,
//! so adding a room-scoped route without a case here fails this test.

mod support;

use base64::Engine as _;
use chrono::{Duration, Utc};
use contract::commands::AddMemberRequest;
use contract::queries::SearchResponse;
use domain::{InviteId, MessageId, RoomId, UserId};
use reqwest::Method;
use serde_json::{json, Value};
use support::{start, Answer, Server, User};

const SECRET_WORD: &str = "zebracorn";
const SEARCH: &str = "/v1/search/messages";
const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret";

/// The ids a case's path and body are filled from.
struct Ids {
    room: RoomId,
    message: MessageId,
    owner: UserId,
    outsider: UserId,
    invite: InviteId,
}

/// One call: method, path template (as in the route table), query, body.
struct Case {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: fn(&Ids) -> Option<Value>,
    /// The status a plain member, an admin and the owner get, acting on
    /// another plain member (`{user_id}`) and that member's message.
    by_role: [u16; 3],
}

fn none(_: &Ids) -> Option<Value> {
    None
}

/// One case per room-scoped route (search twice); extend with a new route.
fn cases() -> Vec<Case> {
    let case = |method, path, query, body, by_role| Case {
        method,
        path,
        query,
        body,
        by_role,
    };
    const ALL: [u16; 3] = [200, 200, 200];
    const CREATED: [u16; 3] = [201, 201, 201];
    const STAFF: [u16; 3] = [403, 200, 200];
    vec![
        case("get", "/v1/rooms/{room_id}", "", none, ALL),
        case(
            "get",
            "/v1/rooms/{room_id}/messages",
            "?limit=50",
            none,
            ALL,
        ),
        case(
            "patch",
            "/v1/rooms/{room_id}",
            "",
            |_| Some(json!({"name": "taken over"})),
            STAFF,
        ),
        case(
            "post",
            "/v1/rooms/{room_id}/members",
            "",
            |ids| Some(json!({"user_id": ids.outsider})),
            CREATED,
        ),
        case(
            "delete",
            "/v1/rooms/{room_id}/members/{user_id}",
            "",
            none,
            STAFF,
        ),
        case(
            "post",
            "/v1/rooms/{room_id}/messages",
            "",
            |_| Some(json!({"body": "let me in"})),
            CREATED,
        ),
        case(
            "patch",
            "/v1/rooms/{room_id}/messages/{message_id}",
            "",
            |_| Some(json!({"body": "rewritten"})),
            [403, 403, 403],
        ),
        case(
            "delete",
            "/v1/rooms/{room_id}/messages/{message_id}",
            "",
            none,
            STAFF,
        ),
        case(
            "post",
            "/v1/rooms/{room_id}/read",
            "",
            |_| Some(json!({"seq": 1})),
            ALL,
        ),
        // Refused before the body is read (any body will do); members get
        // 415: a JSON string is no file type.
        case(
            "post",
            "/v1/rooms/{room_id}/attachments",
            "",
            |_| Some(json!("%PDF-1.7 not for you")),
            [415, 415, 415],
        ),
        case("get", SEARCH, "?q=zebracorn&room_id={room_id}", none, ALL),
        case("get", SEARCH, "?q=zebracorn", none, ALL),
        // people (issue 16)
        case(
            "put",
            "/v1/rooms/{room_id}/members/{user_id}/role",
            "",
            |_| Some(json!({"role": "admin"})),
            [403, 403, 200],
        ),
        case(
            "post",
            "/v1/rooms/{room_id}/invites",
            "",
            |_| Some(json!({})),
            [403, 201, 201],
        ),
        case("get", "/v1/rooms/{room_id}/invites", "", none, STAFF),
        case(
            "delete",
            "/v1/rooms/{room_id}/invites/{invite_id}",
            "",
            none,
            STAFF,
        ),
        case(
            "put",
            "/v1/rooms/{room_id}/mute",
            "",
            |_| Some(json!({})),
            ALL,
        ),
        case("delete", "/v1/rooms/{room_id}/mute", "", none, ALL),
        case(
            "post",
            "/v1/rooms/{room_id}/typing",
            "",
            none,
            [204, 204, 204],
        ),
        // messages like a messenger (issue 15)
        case(
            "put",
            "/v1/rooms/{room_id}/messages/{message_id}/reactions/{emoji}",
            "",
            none,
            ALL,
        ),
        case(
            "delete",
            "/v1/rooms/{room_id}/messages/{message_id}/reactions/{emoji}",
            "",
            none,
            [404, 404, 404],
        ),
        case(
            "post",
            "/v1/rooms/{room_id}/messages/{message_id}/hide",
            "",
            none,
            ALL,
        ),
        case(
            "put",
            "/v1/rooms/{room_id}/notice",
            "",
            |ids| Some(json!({"message_id": ids.message})),
            ALL,
        ),
        case(
            "delete",
            "/v1/rooms/{room_id}/notice",
            "",
            none,
            [404, 404, 404],
        ),
    ]
}

fn fill(template: &str, ids: &Ids) -> String {
    template
        .replace("{room_id}", &ids.room.to_string())
        .replace("{message_id}", &ids.message.to_string())
        .replace("{invite_id}", &ids.invite.to_string())
        .replace("{user_id}", &ids.owner.to_string())
        .replace("{emoji}", "%F0%9F%91%8D")
}

async fn call(s: &Server, c: &Case, ids: &Ids, token: &str, at: i64) -> Answer {
    let method = Method::from_bytes(c.method.to_uppercase().as_bytes()).unwrap();
    let url = format!("{}{}", fill(c.path, ids), fill(c.query, ids));
    let mut call = s
        .call(method, &url)
        .header("authorization", format!("Bearer {token}"))
        .at(at);
    if let Some(body) = (c.body)(ids) {
        call = call.json(body);
    }
    call.send().await
}

fn label(c: &Case) -> String {
    format!("{} {}{}", c.method, c.path, c.query)
}

#[test]
fn every_room_scoped_route_has_a_case() {
    let table: Vec<(String, String)> = command::routes()
        .into_iter()
        .chain(query::routes())
        .map(|(method, path)| (method.as_str().to_lowercase(), path))
        .filter(|(_, path)| path.contains("{room_id}") || path == SEARCH)
        .collect();
    let cases = cases();
    for (method, path) in &table {
        assert!(
            cases.iter().any(|c| c.method == method && c.path == path),
            "room-scoped route {method} {path} has no case in the authorization matrix"
        );
    }
    for c in &cases {
        assert!(
            table.contains(&(c.method.to_owned(), c.path.to_owned())),
            "case {} names no route of the route tables",
            label(c)
        );
    }
    assert!(query::routes().contains(&(Method::GET, SEARCH.to_owned())));
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A forged, an expired and an `alg: none` token naming `user`.
fn bad_tokens(id: UserId) -> Vec<(&'static str, String)> {
    let user = id.to_string();
    let forged = api::TokenKeys::new(b"not-the-server-secret-not-the-one", Duration::hours(1))
        .issue(id, Utc::now())
        .unwrap()
        .0;
    let expired = api::TokenKeys::new(TEST_SECRET, Duration::hours(1))
        .issue(id, Utc::now() - Duration::hours(3))
        .unwrap()
        .0;
    let claims = json!({"sub": user, "iat": Utc::now().timestamp(),
        "exp": Utc::now().timestamp() + 3600, "iss": api::auth::ISSUER, "aud": api::auth::AUDIENCE});
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    vec![
        ("forged", forged),
        ("expired", expired),
        ("alg none", alg_none),
    ]
}

/// The answer must hold nothing of the room: no message text, no member ids.
#[track_caller]
fn assert_no_data(a: &Answer, who: &str, what: &str, members: &[&User]) {
    let text = a.body.to_string();
    assert!(
        !text.contains(SECRET_WORD),
        "{who} {what} leaked text: {text}"
    );
    for m in members {
        assert!(
            !text.contains(&m.id.to_string()),
            "{who} {what} leaked member id: {text}"
        );
    }
}

async fn remove(s: &Server, by: &User, room: RoomId, who: &User) -> i64 {
    let left = s.as_user(by).remove_member(room, who.id).await;
    left.expect("remove a member").position
}

fn search_hits_from(a: &Answer, room: RoomId) -> usize {
    let page: SearchResponse = a.json();
    page.hits.iter().filter(|h| h.room_id == room.0).count()
}

#[tokio::test]
async fn outsiders_and_bad_tokens_get_nothing() {
    let s = start().await;
    let owner = s.user("owner").await;
    let member = s.user("member").await;
    let leaver = s.user("leaver").await;
    let kicked = s.user("kicked").await;
    let outsider = s.user("outsider").await;
    let rejoiner = s.user("rejoiner").await;
    let room = s
        .room(
            &owner,
            "secret room",
            &[&member, &leaver, &kicked, &rejoiner],
        )
        .await
        .room_id;
    let message = s
        .post(&member, room, &format!("{SECRET_WORD} launch plan"))
        .await
        .message_id;
    let invite = s
        .as_user(&owner)
        .create_invite(room, &Default::default())
        .await
        .expect("an invite")
        .invite_id;
    remove(&s, &leaver, room, &leaver).await;
    remove(&s, &owner, room, &kicked).await;
    let at = remove(&s, &rejoiner, room, &rejoiner).await;
    let ids = Ids {
        room,
        message,
        owner: owner.id,
        outsider: outsider.id,
        invite,
    };
    let members = [&owner, &member];

    // Control: a member sees the data, so "no data" below means something.
    let a = s
        .call(Method::GET, &format!("/v1/rooms/{room}/messages"))
        .auth(&member)
        .at(at)
        .send()
        .await;
    a.expect(200, None);
    assert!(a.body.to_string().contains(SECRET_WORD));
    let a = s
        .call(Method::GET, &format!("{SEARCH}?q={SECRET_WORD}"))
        .auth(&member)
        .at(at)
        .send()
        .await;
    a.expect(200, None);
    assert_eq!(search_hits_from(&a, room), 1, "{}", a.body);

    let cases = cases();
    for (who, user) in [
        ("outsider", &outsider),
        ("leaver", &leaver),
        ("kicked", &kicked),
        ("rejoiner before rejoining", &rejoiner),
    ] {
        for c in &cases {
            let a = call(&s, c, &ids, &user.token, at).await;
            if c.path == SEARCH {
                a.expect(200, None);
                assert_eq!(search_hits_from(&a, room), 0, "{who} {}", label(c));
            } else {
                a.expect(404, Some("room_not_found"));
            }
            assert_no_data(&a, who, &label(c), &members);
        }
    }
    for (kind, token) in bad_tokens(member.id) {
        for c in &cases {
            let a = call(&s, c, &ids, &token, at).await;
            assert_eq!(a.status.as_u16(), 401, "{kind} token, {}", label(c));
            assert_eq!(a.code(), "unauthenticated", "{kind} token, {}", label(c));
            assert_no_data(&a, kind, &label(c), &members);
        }
    }

    // Nothing the outsiders tried changed the room.
    let now = s.as_user(&owner).at(at).room(room).await.expect("the room");
    assert_eq!(now.name, "secret room");
    assert_eq!(now.members.len(), 2);

    // Added back, the rejoiner sees the whole history and finds it again.
    let back = s
        .as_user(&owner)
        .add_member(
            room,
            &AddMemberRequest {
                user_id: rejoiner.id,
            },
        )
        .await
        .expect("add the rejoiner back");
    let at = back.position;
    let a = s
        .call(Method::GET, &format!("/v1/rooms/{room}/messages"))
        .auth(&rejoiner)
        .at(at)
        .send()
        .await;
    a.expect(200, None);
    assert!(a.body.to_string().contains(SECRET_WORD), "{}", a.body);
    let a = s
        .call(
            Method::GET,
            &format!("{SEARCH}?q={SECRET_WORD}&room_id={room}"),
        )
        .auth(&rejoiner)
        .at(at)
        .send()
        .await;
    a.expect(200, None);
    assert_eq!(search_hits_from(&a, room), 1, "{}", a.body);
}

/// The role dimension: each case as a plain member, an admin and the owner
/// of a fresh room (so no call sees another's effect), on a plain member
/// (`{user_id}`) and their message.
#[tokio::test]
async fn each_role_gets_its_answer() {
    let s = start().await;
    let owner = s.user("owner").await;
    let admin = s.user("staffer").await;
    let member = s.user("member").await;
    let target = s.user("target").await;
    let outsider = s.user("outsider").await;
    for c in cases() {
        for (k, (who, actor)) in [("member", &member), ("admin", &admin), ("owner", &owner)]
            .into_iter()
            .enumerate()
        {
            let room = s
                .room(&owner, "roles", &[&admin, &member, &target])
                .await
                .room_id;
            let o = s.as_user(&owner);
            o.change_role(
                room,
                admin.id,
                &contract::people::ChangeRoleRequest {
                    role: contract::people::RoleName::Admin,
                },
            )
            .await
            .expect("make an admin");
            let message = s.post(&target, room, "target's message").await.message_id;
            let made = o
                .create_invite(room, &Default::default())
                .await
                .expect("an invite");
            let ids = Ids {
                room,
                message,
                owner: target.id,
                outsider: outsider.id,
                invite: made.invite_id,
            };
            let a = call(&s, &c, &ids, &actor.token, made.position).await;
            assert_eq!(
                a.status.as_u16(),
                c.by_role[k],
                "{who}: {}: {}",
                label(&c),
                a.body
            );
            if a.status.as_u16() == 403 {
                assert!(
                    ["not_room_owner", "not_room_admin", "not_message_author"].contains(&a.code()),
                    "{who}: {}: {}",
                    label(&c),
                    a.body
                );
            }
        }
    }
}
