//! Room roles (issue 16) through HTTP: `PUT .../members/{user_id}/role`,
//! every answer and error code, ownership transfer, and what admins may do.

mod support;

use contract::commands::{MessagePostedResponse, PositionResponse, RenameRoomRequest};
use contract::people::{ChangeRoleRequest, RoleName};
use contract::queries::RoleResponse;
use domain::{RoomId, UserId};
use reqwest::Method;
use serde_json::json;
use support::{assert_refused, start, Server, User};

fn role(r: RoleName) -> ChangeRoleRequest {
    ChangeRoleRequest { role: r }
}

/// The roles of `room` as `viewer` sees them at `position`.
async fn roles(
    s: &Server,
    viewer: &User,
    room: RoomId,
    position: i64,
) -> Vec<(UserId, RoleResponse)> {
    let r = s
        .as_user(viewer)
        .at(position)
        .room(room)
        .await
        .expect("room");
    r.members
        .iter()
        .map(|m| (UserId(m.user_id), m.role))
        .collect()
}

#[tokio::test]
async fn roles_transfer_and_errors() {
    let s = start().await;
    let (owner, ann, bob, eve) = (
        s.user("owner").await,
        s.user("ann").await,
        s.user("bob").await,
        s.user("eve").await,
    );
    let room = s.room(&owner, "team", &[&ann, &bob]).await.room_id;
    let api = s.as_user(&owner);

    // Owner makes ann an admin: 200 {position}, the view shows it.
    let p = api
        .change_role(room, ann.id, &role(RoleName::Admin))
        .await
        .unwrap();
    let got = roles(&s, &owner, room, p.position).await;
    assert!(got.contains(&(ann.id, RoleResponse::Admin)), "{got:?}");
    assert!(got.contains(&(bob.id, RoleResponse::Member)));
    assert!(got.contains(&(owner.id, RoleResponse::Owner)));

    // Same role again: nothing new, still 200.
    api.change_role(room, ann.id, &role(RoleName::Admin))
        .await
        .unwrap();

    // Errors: an admin is not the owner; a non-member; an unknown member;
    // the owner's own role; a bad role name.
    assert_refused(
        s.as_user(&ann)
            .change_role(room, bob.id, &role(RoleName::Admin))
            .await,
        403,
        "not_room_owner",
    );
    assert_refused(
        s.as_user(&eve)
            .change_role(room, bob.id, &role(RoleName::Admin))
            .await,
        404,
        "room_not_found",
    );
    assert_refused(
        api.change_role(room, eve.id, &role(RoleName::Admin)).await,
        404,
        "member_not_found",
    );
    assert_refused(
        api.change_role(room, owner.id, &role(RoleName::Member))
            .await,
        422,
        "owner_role_fixed",
    );
    let path = format!("/v1/rooms/{room}/members/{}/role", bob.id);
    s.call(Method::PUT, &path)
        .auth(&owner)
        .json(json!({"role": "king"}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
    s.call(Method::PUT, &path)
        .auth(&owner)
        .json(json!({}))
        .send()
        .await
        .expect(400, Some("invalid_request"));

    // Direct rooms have no roles to give.
    let (_, direct) = api
        .open_direct(&contract::commands::DirectRoomRequest { user_id: bob.id })
        .await
        .unwrap();
    assert_refused(
        api.change_role(direct.room_id, bob.id, &role(RoleName::Admin))
            .await,
        422,
        "direct_room_fixed",
    );

    // Transfer: bob becomes owner, the old owner an admin, owner_id moves.
    let p = api
        .change_role(room, bob.id, &role(RoleName::Owner))
        .await
        .unwrap();
    let got = roles(&s, &bob, room, p.position).await;
    assert!(got.contains(&(bob.id, RoleResponse::Owner)), "{got:?}");
    assert!(got.contains(&(owner.id, RoleResponse::Admin)), "{got:?}");
    let r = s.as_user(&bob).at(p.position).room(room).await.unwrap();
    assert_eq!(UserId(r.owner_id), bob.id);
    // The old owner no longer decides roles.
    assert_refused(
        api.change_role(room, ann.id, &role(RoleName::Member)).await,
        403,
        "not_room_owner",
    );
    // The new owner demotes ann.
    let p = s
        .as_user(&bob)
        .change_role(room, ann.id, &role(RoleName::Member))
        .await
        .unwrap();
    assert!(roles(&s, &bob, room, p.position)
        .await
        .contains(&(ann.id, RoleResponse::Member)));
}

#[tokio::test]
async fn admins_rename_kick_and_delete_any_message() {
    let s = start().await;
    let (owner, adm, bob, cat) = (
        s.user("owner").await,
        s.user("adm").await,
        s.user("bob").await,
        s.user("cat").await,
    );
    let room = s.room(&owner, "team", &[&adm, &bob, &cat]).await.room_id;
    let posted: MessagePostedResponse = s.post(&bob, room, "hello").await;

    // Before: a member may do none of it.
    let rename = RenameRoomRequest {
        name: "renamed".into(),
    };
    assert_refused(
        s.as_user(&adm).rename_room(room, &rename).await,
        403,
        "not_room_owner",
    );
    s.as_user(&owner)
        .change_role(room, adm.id, &role(RoleName::Admin))
        .await
        .unwrap();

    let a = s.as_user(&adm);
    let _: PositionResponse = a.rename_room(room, &rename).await.unwrap();
    a.delete_message(room, posted.message_id).await.unwrap();
    let p = a.remove_member(room, cat.id).await.unwrap();
    let r = s.as_user(&owner).at(p.position).room(room).await.unwrap();
    assert_eq!(r.name, "renamed");
    assert!(!r.members.iter().any(|m| UserId(m.user_id) == cat.id));
    // Not the owner, not another admin.
    assert_refused(a.remove_member(room, owner.id).await, 403, "not_room_owner");
    s.as_user(&owner)
        .change_role(room, bob.id, &role(RoleName::Admin))
        .await
        .unwrap();
    assert_refused(a.remove_member(room, bob.id).await, 403, "not_room_owner");
}
