//! Invite links (issue 16) through HTTP: create, list, revoke, preview and
//! join, every answer and error code, the one `invite_not_found` for every
//! link that opens nothing, rate limiting, and that a join is an ordinary
//! join (history, room list).

mod support;

use contract::commands::DirectRoomRequest;
use contract::people::{CreateInviteRequest, JoinInviteRequest, RoleName};
use domain::invite::{InviteToken, TOKEN_BYTES};
use domain::UserId;
use reqwest::Method;
use serde_json::json;
use support::{assert_refused, start};

fn with_code(code: &str) -> JoinInviteRequest {
    JoinInviteRequest {
        code: Some(code.into()),
    }
}

#[tokio::test]
async fn create_list_preview_join_revoke() {
    let s = start().await;
    let (owner, adm, mem, joiner, other) = (
        s.user("owner").await,
        s.user("adm").await,
        s.user("mem").await,
        s.user("joiner").await,
        s.user("other").await,
    );
    let room = s.room(&owner, "팀 방", &[&adm, &mem]).await.room_id;
    s.post(&owner, room, "before the join").await;
    let o = s.as_user(&owner);

    // Owner creates one (default week); an admin may too; a member may not.
    let inv = o
        .create_invite(room, &CreateInviteRequest::default())
        .await
        .unwrap();
    assert_eq!(inv.token.len(), 43);
    let week = inv.expires_at - chrono::Utc::now();
    assert!(week > chrono::TimeDelta::hours(167) && week <= chrono::TimeDelta::hours(168));
    o.change_role(
        room,
        adm.id,
        &contract::people::ChangeRoleRequest {
            role: RoleName::Admin,
        },
    )
    .await
    .unwrap();
    let coded = s
        .as_user(&adm)
        .create_invite(
            room,
            &CreateInviteRequest {
                expires_in_hours: Some(1),
                max_uses: Some(1),
                code: Some("1234".into()),
            },
        )
        .await
        .unwrap();
    assert_refused(
        s.as_user(&mem)
            .create_invite(room, &CreateInviteRequest::default())
            .await,
        403,
        "not_room_admin",
    );
    assert_refused(
        s.as_user(&other)
            .create_invite(room, &CreateInviteRequest::default())
            .await,
        404,
        "room_not_found",
    );
    // Bad bodies: expiry out of range, zero uses, empty code, unknown field.
    for body in [
        json!({"expires_in_hours": 0}),
        json!({"expires_in_hours": 721}),
        json!({"max_uses": 0}),
        json!({"code": " "}),
    ] {
        s.call(Method::POST, &format!("/v1/rooms/{room}/invites"))
            .auth(&owner)
            .json(body)
            .send()
            .await
            .expect(422, Some("invalid_invite"));
    }
    s.call(Method::POST, &format!("/v1/rooms/{room}/invites"))
        .auth(&owner)
        .json(json!({"token": "x"}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
    // Not for direct rooms.
    let (_, direct) = o
        .open_direct(&DirectRoomRequest { user_id: mem.id })
        .await
        .unwrap();
    assert_refused(
        o.create_invite(direct.room_id, &CreateInviteRequest::default())
            .await,
        422,
        "direct_room",
    );

    // List: staff only, both links, no token in it.
    let list = o.at(coded.position).invites(room).await.unwrap();
    assert_eq!(list.invites.len(), 2);
    assert!(list
        .invites
        .iter()
        .any(|i| i.invite_id == coded.invite_id.0 && i.has_code && i.max_uses == Some(1)));
    assert!(!serde_json::to_string(&list.body)
        .unwrap()
        .contains(&inv.token));
    assert_refused(s.as_user(&mem).invites(room).await, 403, "not_room_admin");
    assert_refused(s.as_user(&other).invites(room).await, 404, "room_not_found");

    // Preview: name and member count only.
    let j = s.as_user(&joiner).at(coded.position);
    let pv = j.invite_preview(&inv.token).await.unwrap();
    assert_eq!(
        (pv.name.as_str(), pv.member_count, pv.has_code),
        ("팀 방", 3, false)
    );
    let raw = s
        .call(Method::GET, &format!("/v1/invites/{}", inv.token))
        .auth(&joiner)
        .send()
        .await;
    raw.expect(200, None);
    let keys: Vec<&String> = raw.body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(j.invite_preview(&coded.token).await.unwrap().has_code);

    // Join with a code: none or wrong → 403, right → 201; the link is used up.
    assert_refused(
        j.join_invite(&coded.token, &JoinInviteRequest::default())
            .await,
        403,
        "invalid_invite_code",
    );
    assert_refused(
        j.join_invite(&coded.token, &with_code("0000")).await,
        403,
        "invalid_invite_code",
    );
    let joined = j
        .join_invite(&coded.token, &with_code(" 1234 "))
        .await
        .unwrap();
    assert_eq!(joined.room_id, room);
    let as_joiner = s.as_user(&joiner).at(joined.position);
    // An ordinary join: the room, its whole history, the room list.
    let r = as_joiner.room(room).await.unwrap();
    assert!(r.members.iter().any(|m| UserId(m.user_id) == joiner.id));
    let msgs = as_joiner.messages(room, &[]).await.unwrap();
    assert_eq!(msgs.messages[0].body, "before the join");
    assert!(as_joiner
        .my_rooms(&[])
        .await
        .unwrap()
        .rooms
        .iter()
        .any(|x| x.room_id == room.0));
    // Already a member; a used-up link is not found.
    assert_refused(
        as_joiner
            .join_invite(&inv.token, &JoinInviteRequest::default())
            .await,
        409,
        "already_member",
    );
    let o2 = s.as_user(&other).at(joined.position);
    assert_refused(
        o2.join_invite(&coded.token, &with_code("1234")).await,
        404,
        "invite_not_found",
    );
    assert_refused(
        o2.invite_preview(&coded.token).await,
        404,
        "invite_not_found",
    );
    let list = o.at(joined.position).invites(room).await.unwrap();
    assert_eq!(list.invites.len(), 1, "a used-up link leaves the list");

    // Revoke: gone from list, preview and join; revoking again → 404.
    assert_refused(
        s.as_user(&mem).revoke_invite(room, inv.invite_id).await,
        403,
        "not_room_admin",
    );
    let p = o.revoke_invite(room, inv.invite_id).await.unwrap();
    assert_refused(
        o.revoke_invite(room, inv.invite_id).await,
        404,
        "invite_not_found",
    );
    assert_refused(
        o.revoke_invite(room, coded.invite_id).await,
        404,
        "invite_not_found",
    );
    let o2 = s.as_user(&other).at(p.position);
    assert_refused(o2.invite_preview(&inv.token).await, 404, "invite_not_found");
    assert_refused(
        o2.join_invite(&inv.token, &JoinInviteRequest::default())
            .await,
        404,
        "invite_not_found",
    );
    assert!(o
        .at(p.position)
        .invites(room)
        .await
        .unwrap()
        .invites
        .is_empty());

    // Unknown and malformed tokens: the same 404.
    let unknown = InviteToken::from_random([9; TOKEN_BYTES]);
    assert_refused(
        o2.invite_preview(unknown.expose()).await,
        404,
        "invite_not_found",
    );
    assert_refused(o2.invite_preview("short").await, 404, "invite_not_found");
    assert_refused(
        o2.join_invite("short", &JoinInviteRequest::default()).await,
        404,
        "invite_not_found",
    );
}

#[tokio::test]
async fn idempotent_create_answers_the_same_link() {
    let s = start().await;
    let owner = s.user("owner").await;
    let room = s.room(&owner, "r", &[]).await.room_id;
    let o = s.as_user(&owner).key("invite-1");
    let a = o
        .create_invite(room, &CreateInviteRequest::default())
        .await
        .unwrap();
    let b = o
        .create_invite(room, &CreateInviteRequest::default())
        .await
        .unwrap();
    assert_eq!(
        (a.invite_id, &a.token, a.position),
        (b.invite_id, &b.token, b.position)
    );
    let list = s
        .as_user(&owner)
        .at(a.position)
        .invites(room)
        .await
        .unwrap();
    assert_eq!(list.invites.len(), 1);
}

#[tokio::test]
async fn guessing_tokens_and_codes_is_rate_limited() {
    let s = start().await;
    let (owner, guesser) = (s.user("owner").await, s.user("guesser").await);
    let room = s.room(&owner, "r", &[]).await.room_id;
    let inv = s
        .as_user(&owner)
        .create_invite(
            room,
            &CreateInviteRequest {
                code: Some("9999".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let g = s.as_user(&guesser).at(inv.position);
    let mut limited = None;
    for i in 0..40 {
        let r = g
            .join_invite(&inv.token, &with_code(&format!("{i:04}")))
            .await;
        match r {
            Err(e) if e.status().map(|s| s.as_u16()) == Some(429) => {
                limited = Some(e);
                break;
            }
            Err(e) => assert_eq!(e.code(), Some("invalid_invite_code")),
            Ok(_) => panic!("guessed"),
        }
    }
    let e = limited.expect("429 within 40 guesses");
    assert_eq!(e.code(), Some("rate_limited"));
    assert!(e.header("retry-after").is_some());
    // Previews share the budget; the right code is refused too while limited.
    assert_refused(g.invite_preview(&inv.token).await, 429, "rate_limited");
    assert_refused(
        g.join_invite(&inv.token, &with_code("9999")).await,
        429,
        "rate_limited",
    );
}
