//! Given / when / then tests and invariants of roles and invite links.

use super::tests::{add, at, create, delete, given, post, remove, when, BORA, CHUL, OWNER, ROOM};
use super::*;
use crate::invite::TOKEN_BYTES;
use chrono::TimeDelta;
use proptest::prelude::*;
use uuid::Uuid;
use RoomCommand as C;

const DAEUN: UserId = UserId(Uuid::from_u128(4));

fn role(actor: UserId, user_id: UserId, role: RoomRole) -> C {
    C::ChangeRole {
        actor,
        user_id,
        role,
        at: at(),
    }
}
fn invite_id(n: u8) -> InviteId {
    InviteId(Uuid::from_u128(500 + u128::from(n)))
}
fn token(n: u8) -> InviteToken {
    InviteToken::from_random([n; TOKEN_BYTES])
}
fn invite(actor: UserId, n: u8, max_uses: Option<u32>, code: Option<&str>) -> C {
    C::CreateInvite {
        actor,
        invite_id: invite_id(n),
        token_hash: token(n).hash(),
        expires_in: InviteExpiry::from_hours(Some(24)).unwrap(),
        max_uses,
        code: code.map(|c| InviteCode::parse(c).unwrap()),
        at: at(),
    }
}
fn join_at(actor: UserId, n: u8, code: Option<&str>, at: DateTime<Utc>) -> C {
    C::JoinByInvite {
        actor,
        token: token(n),
        code: code.map(str::to_owned),
        at,
    }
}
fn join(actor: UserId, n: u8, code: Option<&str>) -> C {
    join_at(actor, n, code, at())
}
fn revoke(actor: UserId, n: u8) -> C {
    C::RevokeInvite {
        actor,
        invite_id: invite_id(n),
        at: at(),
    }
}
fn rename(actor: UserId) -> C {
    C::Rename {
        actor,
        name: RoomName::parse("새 이름").unwrap(),
        at: at(),
    }
}
fn owners(s: &Room) -> usize {
    s.members
        .keys()
        .filter(|u| s.role(**u) == Some(RoomRole::Owner))
        .count()
}

#[test]
fn the_owner_gives_and_takes_admin() {
    let s = given(&[create(&[BORA, CHUL]), role(OWNER, BORA, RoomRole::Admin)]);
    assert_eq!(s.role(BORA), Some(RoomRole::Admin));
    assert_eq!(s.decide(&role(OWNER, BORA, RoomRole::Admin)), Ok(vec![]));
    let back = given(&[
        create(&[BORA]),
        role(OWNER, BORA, RoomRole::Admin),
        role(OWNER, BORA, RoomRole::Member),
    ]);
    assert_eq!(back.role(BORA), Some(RoomRole::Member));
}

#[test]
fn role_changes_are_the_owners_alone() {
    let base = [create(&[BORA, CHUL]), role(OWNER, BORA, RoomRole::Admin)];
    assert_eq!(
        when(&base, role(BORA, CHUL, RoomRole::Admin)),
        Err(DomainError::NotRoomOwner)
    );
    assert_eq!(
        when(&base, role(CHUL, CHUL, RoomRole::Admin)),
        Err(DomainError::NotRoomOwner)
    );
    assert_eq!(
        when(&base, role(OWNER, DAEUN, RoomRole::Admin)),
        Err(DomainError::MemberNotFound)
    );
    assert_eq!(
        when(&base, role(DAEUN, BORA, RoomRole::Member)),
        Err(DomainError::RoomNotFound)
    );
    assert_eq!(
        when(&base, role(OWNER, OWNER, RoomRole::Member)),
        Err(DomainError::OwnerRoleFixed)
    );
    assert_eq!(when(&base, role(OWNER, OWNER, RoomRole::Owner)), Ok(vec![]));
    let direct = C::OpenDirect {
        room_id: RoomId::direct(OWNER, BORA),
        actor: OWNER,
        other: BORA,
        at: at(),
    };
    assert_eq!(
        when(&[direct], role(OWNER, BORA, RoomRole::Admin)),
        Err(DomainError::DirectRoomFixed)
    );
}

#[test]
fn giving_ownership_makes_the_old_owner_an_admin_in_two_events() {
    let events = when(&[create(&[BORA])], role(OWNER, BORA, RoomRole::Owner)).unwrap();
    match &events[..] {
        [RoomEvent::MemberRoleChanged(a), RoomEvent::MemberRoleChanged(b)] => {
            assert_eq!((a.user_id, a.role), (BORA, RoomRole::Owner));
            assert_eq!((b.user_id, b.role), (OWNER, RoomRole::Admin));
        }
        other => panic!("unexpected {other:?}"),
    }
    // Exactly one owner after each event, not only after both.
    let mut s = given(&[create(&[BORA])]);
    for e in &events {
        s = s.evolve(e);
        assert_eq!(owners(&s), 1);
    }
    assert_eq!(s.owner, Some(BORA));
    assert_eq!(s.role(OWNER), Some(RoomRole::Admin));
    assert_eq!(
        s.decide(&role(OWNER, BORA, RoomRole::Member)),
        Err(DomainError::NotRoomOwner)
    );
}

#[test]
fn admins_rename_kick_members_and_delete_any_message() {
    let base = [
        create(&[BORA, CHUL, DAEUN]),
        role(OWNER, BORA, RoomRole::Admin),
        role(OWNER, DAEUN, RoomRole::Admin),
        post(CHUL, 1),
        post(OWNER, 2),
    ];
    assert!(when(&base, rename(BORA)).is_ok());
    assert_eq!(when(&base, rename(CHUL)), Err(DomainError::NotRoomOwner));
    assert!(matches!(
        &when(&base, remove(BORA, CHUL)).unwrap()[..],
        [RoomEvent::MemberKicked(_)]
    ));
    // Not the owner, not another admin; the v1 code stays.
    assert_eq!(
        when(&base, remove(BORA, OWNER)),
        Err(DomainError::NotRoomOwner)
    );
    assert_eq!(
        when(&base, remove(BORA, DAEUN)),
        Err(DomainError::NotRoomOwner)
    );
    assert!(when(&base, remove(OWNER, DAEUN)).is_ok());
    assert_eq!(
        when(&base, remove(CHUL, BORA)),
        Err(DomainError::NotRoomOwner)
    );
    assert!(when(&base, delete(BORA, 1)).is_ok());
    assert!(when(&base, delete(BORA, 2)).is_ok());
    assert_eq!(
        when(&base, delete(CHUL, 2)),
        Err(DomainError::NotMessageAuthor)
    );
}

#[test]
fn a_leaving_owner_is_succeeded_by_the_longest_standing_admin() {
    let s = given(&[
        create(&[BORA, CHUL]),
        role(OWNER, CHUL, RoomRole::Admin),
        remove(OWNER, OWNER),
    ]);
    assert_eq!(s.owner, Some(CHUL));
    assert_eq!(s.role(CHUL), Some(RoomRole::Owner));
    assert!(s.admins.is_empty());
    let kicked = given(&[
        create(&[BORA]),
        role(OWNER, BORA, RoomRole::Admin),
        remove(OWNER, BORA),
        add(OWNER, BORA),
    ]);
    assert_eq!(kicked.role(BORA), Some(RoomRole::Member));
}

#[test]
fn owners_and_admins_create_and_revoke_invites() {
    let base = [create(&[BORA, CHUL]), role(OWNER, BORA, RoomRole::Admin)];
    match &when(&base, invite(BORA, 1, Some(3), Some("1234"))).unwrap()[..] {
        [RoomEvent::InviteCreated(e)] => {
            assert_eq!(e.token_hash, token(1).hash().as_str());
            assert_ne!(e.token_hash, token(1).expose());
            assert_eq!(e.expires_at, at() + TimeDelta::hours(24));
            assert_eq!(e.max_uses, Some(3));
            assert!(e.code_hash.as_deref().is_some_and(|h| h != "1234"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        when(&base, invite(CHUL, 1, None, None)),
        Err(DomainError::NotRoomAdmin)
    );
    assert_eq!(
        when(&base, invite(DAEUN, 1, None, None)),
        Err(DomainError::RoomNotFound)
    );
    assert_eq!(
        when(&base, invite(OWNER, 1, Some(0), None)),
        Err(DomainError::InvalidInvite)
    );
    let direct = C::OpenDirect {
        room_id: RoomId::direct(OWNER, BORA),
        actor: OWNER,
        other: BORA,
        at: at(),
    };
    assert_eq!(
        when(&[direct], invite(OWNER, 1, None, None)),
        Err(DomainError::DirectRoom)
    );
    let created = [
        base[0].clone(),
        base[1].clone(),
        invite(OWNER, 1, None, None),
    ];
    assert_eq!(
        when(&created, revoke(CHUL, 1)),
        Err(DomainError::NotRoomAdmin)
    );
    assert!(when(&created, revoke(BORA, 1)).is_ok());
    assert_eq!(
        when(&created, revoke(OWNER, 2)),
        Err(DomainError::InviteNotFound)
    );
    let revoked = [created[0].clone(), created[2].clone(), revoke(OWNER, 1)];
    assert_eq!(
        when(&revoked, revoke(OWNER, 1)),
        Err(DomainError::InviteNotFound)
    );
}

#[test]
fn joining_through_an_invite_is_a_member_added_that_names_it() {
    let base = [create(&[]), invite(OWNER, 1, None, None)];
    match &when(&base, join(CHUL, 1, None)).unwrap()[..] {
        [RoomEvent::MemberAdded(e)] => {
            assert_eq!((e.user_id, e.by), (CHUL, CHUL));
            assert_eq!(e.via_invite, Some(invite_id(1)));
        }
        other => panic!("unexpected {other:?}"),
    }
    let s = given(&[
        create(&[]),
        invite(OWNER, 1, None, None),
        join(CHUL, 1, None),
    ]);
    assert!(s.is_member(CHUL));
    assert_eq!(s.invites[&invite_id(1)].uses, 1);
    assert_eq!(
        s.decide(&join(CHUL, 1, None)),
        Err(DomainError::AlreadyMember)
    );
}

#[test]
fn unknown_revoked_expired_and_used_up_invites_are_one_answer() {
    let nf = Err(DomainError::InviteNotFound);
    assert_eq!(when(&[create(&[])], join(CHUL, 1, None)), nf);
    assert_eq!(when(&[], join(CHUL, 1, None)), nf);
    let revoked = [create(&[]), invite(OWNER, 1, None, None), revoke(OWNER, 1)];
    assert_eq!(when(&revoked, join(CHUL, 1, None)), nf);
    let base = [create(&[]), invite(OWNER, 1, None, None)];
    let later = at() + TimeDelta::hours(24);
    assert_eq!(when(&base, join_at(CHUL, 1, None, later)), nf);
    assert!(when(&base, join_at(CHUL, 1, None, later - TimeDelta::seconds(1))).is_ok());
    let used = [
        create(&[]),
        invite(OWNER, 1, Some(1), None),
        join(CHUL, 1, None),
    ];
    assert_eq!(when(&used, join(DAEUN, 1, None)), nf);
    // Expired and used-up links cannot be revoked either: they are gone.
    assert_eq!(when(&used, revoke(OWNER, 1)), nf);
}

#[test]
fn a_code_is_checked_before_anything_else_is_said() {
    let base = [create(&[BORA]), invite(OWNER, 1, None, Some("1234"))];
    assert!(when(&base, join(CHUL, 1, Some("1234"))).is_ok());
    assert!(when(&base, join(CHUL, 1, Some(" 1234 "))).is_ok());
    for wrong in [None, Some("4321"), Some("")] {
        assert_eq!(
            when(&base, join(CHUL, 1, wrong)),
            Err(DomainError::InvalidInviteCode)
        );
    }
    assert_eq!(
        when(&base, join(BORA, 1, None)),
        Err(DomainError::InvalidInviteCode)
    );
    assert_eq!(
        when(&base, join(BORA, 1, Some("1234"))),
        Err(DomainError::AlreadyMember)
    );
    // A code given to an invite without one is ignored.
    let open = [create(&[]), invite(OWNER, 1, None, None)];
    assert!(when(&open, join(CHUL, 1, Some("x"))).is_ok());
}

// ---- invariants --------------------------------------------------------------

fn user(n: u8) -> UserId {
    UserId(Uuid::from_u128(1 + u128::from(n % 5)))
}

fn any_role() -> impl Strategy<Value = RoomRole> {
    prop_oneof![
        Just(RoomRole::Owner),
        Just(RoomRole::Admin),
        Just(RoomRole::Member)
    ]
}

fn any_command() -> impl Strategy<Value = C> {
    let u = 0u8..5;
    let i = 0u8..3;
    prop_oneof![
        (u.clone(), u.clone(), any_role()).prop_map(|(a, b, r)| role(user(a), user(b), r)),
        (u.clone(), u.clone()).prop_map(|(a, b)| add(user(a), user(b))),
        (u.clone(), u.clone()).prop_map(|(a, b)| remove(user(a), user(b))),
        (u.clone(), i.clone(), 0u32..4).prop_map(|(a, n, m)| invite(user(a), n, Some(m), None)),
        (u.clone(), i.clone()).prop_map(|(a, n)| revoke(user(a), n)),
        (u, i).prop_map(|(a, n)| join(user(a), n, None)),
    ]
}

proptest! {
    /// Whatever happens, a room with members has exactly one owner, who is a
    /// member and no admin; admins are members; no invite is used more than
    /// its `max_uses`.
    #[test]
    fn one_owner_and_bounded_invite_uses(commands in proptest::collection::vec(any_command(), 1..60)) {
        let mut state = given(&[create(&[user(1), user(2)])]);
        for c in &commands {
            if let Ok(events) = state.decide(c) {
                for e in &events {
                    state = state.evolve(e);
                    if !state.members.is_empty() {
                        prop_assert_eq!(owners(&state), 1);
                        prop_assert!(state.owner.is_some_and(|o| state.is_member(o) && !state.admins.contains(&o)));
                    }
                    prop_assert!(state.admins.iter().all(|a| state.is_member(*a)));
                    for i in state.invites.values() {
                        prop_assert!(i.max_uses.is_none_or(|m| i.uses <= m));
                    }
                }
            }
        }
        prop_assert_eq!(state.room_id, Some(ROOM));
    }
}
