//! Given / when / then tests and invariants of the room aggregate.

use super::*;
use proptest::prelude::*;
use uuid::Uuid;
use RoomCommand as C;

pub(super) const OWNER: UserId = UserId(Uuid::from_u128(1));
pub(super) const BORA: UserId = UserId(Uuid::from_u128(2));
pub(super) const CHUL: UserId = UserId(Uuid::from_u128(3));
pub(super) const ROOM: RoomId = RoomId(Uuid::from_u128(100));

pub(super) fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}
pub(super) fn msg(n: u128) -> MessageId {
    MessageId(Uuid::from_u128(1000 + n))
}
pub(super) fn create(members: &[UserId]) -> C {
    C::Create {
        room_id: ROOM,
        actor: OWNER,
        name: RoomName::parse("주간 회의").unwrap(),
        members: members.to_vec(),
        at: at(),
    }
}
pub(super) fn post(actor: UserId, n: u128) -> C {
    C::Post {
        actor,
        message_id: msg(n),
        body: Some(MessageBody::parse("회의는 3시에 시작합니다").unwrap()),
        reply_to: None,
        attachments: vec![],
        mentions: vec![],
        at: at(),
    }
}
fn edit(actor: UserId, n: u128) -> C {
    C::Edit {
        actor,
        message_id: msg(n),
        body: MessageBody::parse("회의는 4시로 변경").unwrap(),
        at: at(),
    }
}
pub(super) fn delete(actor: UserId, n: u128) -> C {
    C::Delete {
        actor,
        message_id: msg(n),
        window: DeleteWindow::default(),
        at: at(),
    }
}
pub(super) fn remove(actor: UserId, user_id: UserId) -> C {
    C::RemoveMember {
        actor,
        user_id,
        at: at(),
    }
}
pub(super) fn add(actor: UserId, user_id: UserId) -> C {
    C::AddMember {
        actor,
        user_id,
        at: at(),
    }
}
pub(super) fn read(actor: UserId, seq: u64) -> C {
    C::MarkRead {
        actor,
        seq,
        at: at(),
    }
}

/// Given these commands (each must succeed), the resulting state.
pub(super) fn given(commands: &[C]) -> Room {
    commands.iter().fold(Room::default(), |s, c| {
        let events = s
            .decide(c)
            .unwrap_or_else(|e| panic!("given {c:?} failed: {e}"));
        s.evolve_all(&events)
    })
}

pub(super) fn when(given_cmds: &[C], cmd: C) -> Result<Vec<RoomEvent>, DomainError> {
    given(given_cmds).decide(&cmd)
}

#[test]
fn creator_is_owner_and_member_and_members_are_deduplicated() {
    let events = when(&[], create(&[BORA, BORA, OWNER])).unwrap();
    match &events[..] {
        [RoomEvent::Created(e)] => {
            assert_eq!(e.owner_id, OWNER);
            assert_eq!(e.members, vec![OWNER, BORA]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        when(&[create(&[])], create(&[])),
        Err(DomainError::RoomAlreadyExists)
    );
}

#[test]
fn too_many_members() {
    let many: Vec<UserId> = (10..1010).map(|n| UserId(Uuid::from_u128(n))).collect();
    assert_eq!(when(&[], create(&many)), Err(DomainError::TooManyMembers));
}

#[test]
fn posts_get_gapless_seqs_and_move_the_authors_marker() {
    let s = given(&[create(&[BORA]), post(OWNER, 1), post(BORA, 2)]);
    assert_eq!(s.last_seq, 2);
    assert_eq!(s.read_markers[&BORA], 2);
    match &s.decide(&post(OWNER, 3)).unwrap()[..] {
        [RoomEvent::MessagePosted(e)] => assert_eq!(e.seq, 3),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn non_members_and_missing_rooms_look_the_same() {
    assert_eq!(when(&[], post(OWNER, 1)), Err(DomainError::RoomNotFound));
    assert_eq!(
        when(&[create(&[])], post(CHUL, 1)),
        Err(DomainError::RoomNotFound)
    );
    assert_eq!(
        when(&[create(&[BORA]), remove(BORA, BORA)], post(BORA, 1)),
        Err(DomainError::RoomNotFound)
    );
    assert_eq!(
        when(&[create(&[BORA]), remove(OWNER, BORA)], read(BORA, 1)),
        Err(DomainError::RoomNotFound)
    );
}

#[test]
fn reply_to_must_exist_in_the_room() {
    let reply = C::Post {
        actor: OWNER,
        message_id: msg(2),
        body: Some(MessageBody::parse("네").unwrap()),
        reply_to: Some(msg(9)),
        attachments: vec![],
        mentions: vec![],
        at: at(),
    };
    assert_eq!(
        when(&[create(&[])], reply),
        Err(DomainError::MessageNotFound)
    );
}

#[test]
fn only_the_author_edits_and_deleted_messages_cannot_be_edited() {
    let base = [create(&[BORA]), post(BORA, 1)];
    assert!(when(&base, edit(BORA, 1)).is_ok());
    assert_eq!(
        when(&base, edit(OWNER, 1)),
        Err(DomainError::NotMessageAuthor)
    );
    assert_eq!(
        when(&base, edit(BORA, 7)),
        Err(DomainError::MessageNotFound)
    );
    let deleted = [create(&[BORA]), post(BORA, 1), delete(BORA, 1)];
    assert_eq!(
        when(&deleted, edit(BORA, 1)),
        Err(DomainError::MessageDeleted)
    );
}

#[test]
fn the_author_or_the_owner_deletes_once() {
    let base = [create(&[BORA, CHUL]), post(BORA, 1)];
    assert!(when(&base, delete(BORA, 1)).is_ok());
    assert!(when(&base, delete(OWNER, 1)).is_ok());
    assert_eq!(
        when(&base, delete(CHUL, 1)),
        Err(DomainError::NotMessageAuthor)
    );
    let deleted = [create(&[BORA]), post(BORA, 1), delete(BORA, 1)];
    assert_eq!(when(&deleted, delete(BORA, 1)), Ok(vec![]));
}

#[test]
fn leave_kick_and_rejoin() {
    let base = [create(&[BORA, CHUL])];
    assert_eq!(
        when(&base, remove(BORA, CHUL)),
        Err(DomainError::NotRoomOwner)
    );
    assert!(matches!(
        &when(&base, remove(OWNER, CHUL)).unwrap()[..],
        [RoomEvent::MemberKicked(_)]
    ));
    assert_eq!(
        when(&[create(&[BORA])], remove(OWNER, CHUL)),
        Err(DomainError::MemberNotFound)
    );
    assert_eq!(
        when(&base, add(BORA, CHUL)),
        Err(DomainError::AlreadyMember)
    );
    let rejoined = given(&[create(&[BORA, CHUL]), remove(OWNER, CHUL), add(BORA, CHUL)]);
    assert!(rejoined.is_member(CHUL));
}

#[test]
fn ownership_passes_to_the_longest_standing_member() {
    let s = given(&[create(&[BORA]), add(BORA, CHUL), remove(OWNER, OWNER)]);
    assert_eq!(s.owner, Some(BORA));
    assert!(s.decide(&remove(BORA, CHUL)).is_ok());
}

#[test]
fn only_the_owner_renames() {
    let rename = |actor, name| C::Rename {
        actor,
        name: RoomName::parse(name).unwrap(),
        at: at(),
    };
    let base = [create(&[BORA])];
    assert_eq!(
        when(&base, rename(BORA, "새 이름")),
        Err(DomainError::NotRoomOwner)
    );
    assert!(when(&base, rename(OWNER, "새 이름")).is_ok());
    assert_eq!(when(&base, rename(OWNER, "주간 회의")), Ok(vec![]));
}

#[test]
fn direct_rooms_open_once_per_pair_and_stay_two() {
    let direct = RoomId::direct(OWNER, BORA);
    let open = |actor, other| C::OpenDirect {
        room_id: direct,
        actor,
        other,
        at: at(),
    };
    let s = given(&[open(OWNER, BORA)]);
    assert!(s.direct && s.is_member(BORA));
    assert_eq!(s.decide(&open(BORA, OWNER)), Ok(vec![]));
    assert_eq!(
        s.decide(&add(OWNER, CHUL)),
        Err(DomainError::DirectRoomFixed)
    );
    let left = given(&[open(OWNER, BORA), remove(BORA, BORA)]);
    assert!(matches!(
        &left.decide(&open(BORA, OWNER)).unwrap()[..],
        [RoomEvent::MemberAdded(_)]
    ));
    let wrong = C::OpenDirect {
        room_id: ROOM,
        actor: OWNER,
        other: BORA,
        at: at(),
    };
    assert_eq!(
        Room::default().decide(&wrong),
        Err(DomainError::RoomNotFound)
    );
}

#[test]
fn read_markers_only_move_forward_and_stop_at_the_last_message() {
    let base = [create(&[BORA]), post(OWNER, 1), post(OWNER, 2)];
    match &when(&base, read(BORA, 99)).unwrap()[..] {
        [RoomEvent::ReadMarkerMoved(e)] => assert_eq!(e.seq, 2),
        other => panic!("unexpected {other:?}"),
    }
    let read2 = [
        create(&[BORA]),
        post(OWNER, 1),
        post(OWNER, 2),
        read(BORA, 2),
    ];
    assert_eq!(when(&read2, read(BORA, 1)), Ok(vec![]));
}

// ---- invariants --------------------------------------------------------------

fn user(n: u8) -> UserId {
    UserId(Uuid::from_u128(1 + u128::from(n % 4)))
}

fn any_command() -> impl Strategy<Value = C> {
    let u = 0u8..4;
    let m = 0u128..12;
    prop_oneof![
        (u.clone(), m.clone()).prop_map(|(a, n)| post(user(a), n)),
        (u.clone(), m.clone()).prop_map(|(a, n)| edit(user(a), n)),
        (u.clone(), m.clone()).prop_map(|(a, n)| delete(user(a), n)),
        (u.clone(), u.clone()).prop_map(|(a, b)| add(user(a), user(b))),
        (u.clone(), u.clone()).prop_map(|(a, b)| remove(user(a), user(b))),
        (u, 0u64..15).prop_map(|(a, s)| read(user(a), s)),
    ]
}

proptest! {
    /// Whatever happens, accepted posts carry seq 1, 2, 3 … with no gaps; a
    /// non-member's post is always refused; a deleted message is never edited.
    #[test]
    fn seq_is_gapless_and_rules_hold(commands in proptest::collection::vec(any_command(), 1..80)) {
        let mut state = given(&[create(&[user(1)])]);
        let mut seqs = Vec::new();
        for c in &commands {
            let was_member = |a: &UserId| state.is_member(*a);
            let outcome = state.decide(c);
            match c {
                C::Post { actor, .. } if !was_member(actor) => {
                    prop_assert_eq!(outcome.clone(), Err(DomainError::RoomNotFound));
                }
                C::Edit { message_id, .. } if state.messages.get(message_id).is_some_and(|m| m.deleted) => {
                    prop_assert!(outcome.is_err());
                }
                _ => {}
            }
            if let Ok(events) = outcome {
                for e in &events {
                    if let RoomEvent::MessagePosted(p) = e {
                        seqs.push(p.seq);
                    }
                }
                state = state.evolve_all(&events);
            }
        }
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        prop_assert_eq!(seqs, expected);
        prop_assert_eq!(state.last_seq as usize, state.messages.len());
    }
}
