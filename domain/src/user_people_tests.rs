//! Given / when / then tests of blocks, mutes and profile settings.

use super::*;
use chrono::TimeDelta;
use uuid::Uuid;
use UserCommand as C;

const ME: UserId = UserId(Uuid::from_u128(1));
const OTHER: UserId = UserId(Uuid::from_u128(2));
const ROOM: RoomId = RoomId(Uuid::from_u128(100));

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}
fn given(commands: &[C]) -> User {
    let register = C::Register {
        user_id: ME,
        username: Username::parse("minsu").unwrap(),
        sealed_username: Personal::Plain("minsu".into()),
        display_name: Personal::Plain("김민수".into()),
        at: at(),
    };
    std::iter::once(&register)
        .chain(commands)
        .fold(User::default(), |s, c| {
            let events = s.decide(c).unwrap_or_else(|e| panic!("given {c:?}: {e}"));
            s.evolve_all(&events)
        })
}
fn when(given_cmds: &[C], cmd: C) -> Result<Vec<UserEvent>, DomainError> {
    given(given_cmds).decide(&cmd)
}
fn block(other: UserId) -> C {
    C::Block { other, at: at() }
}
fn unblock(other: UserId) -> C {
    C::Unblock { other, at: at() }
}
fn mute(until: Option<DateTime<Utc>>) -> C {
    C::Mute {
        room_id: ROOM,
        until,
        at: at(),
    }
}

#[test]
fn block_and_unblock() {
    assert!(matches!(
        &when(&[], block(OTHER)).unwrap()[..],
        [UserEvent::Blocked(e)] if e.user_id == ME && e.blocked == OTHER
    ));
    assert!(given(&[block(OTHER)]).profile.unwrap().blocks(OTHER));
    assert_eq!(when(&[block(OTHER)], block(OTHER)), Ok(vec![]));
    assert_eq!(when(&[], block(ME)), Err(DomainError::CannotBlockSelf));
    assert!(matches!(
        &when(&[block(OTHER)], unblock(OTHER)).unwrap()[..],
        [UserEvent::Unblocked(_)]
    ));
    assert_eq!(when(&[], unblock(OTHER)), Err(DomainError::BlockNotFound));
    assert_eq!(
        when(&[block(OTHER), unblock(OTHER)], unblock(OTHER)),
        Err(DomainError::BlockNotFound)
    );
    assert_eq!(
        User::default().decide(&block(OTHER)),
        Err(DomainError::UserNotFound)
    );
}

#[test]
fn mutes_until_a_time_or_for_ever() {
    let hour = at() + TimeDelta::hours(1);
    let p = given(&[mute(Some(hour))]).profile.unwrap();
    assert!(p.muted(ROOM, at()));
    assert!(!p.muted(ROOM, hour));
    let forever = given(&[mute(None)]).profile.unwrap();
    assert!(forever.muted(ROOM, hour + TimeDelta::days(3650)));
    assert_eq!(when(&[mute(None)], mute(None)), Ok(vec![]));
    assert_eq!(when(&[mute(None)], mute(Some(hour))).unwrap().len(), 1);
    assert_eq!(
        when(&[], mute(Some(at()))),
        Err(DomainError::InvalidMuteUntil)
    );
    let unmute = || C::Unmute {
        room_id: ROOM,
        at: at(),
    };
    assert_eq!(when(&[], unmute()), Ok(vec![]));
    let s = given(&[mute(None), unmute()]);
    assert!(!s.profile.unwrap().muted(ROOM, at()));
}

#[test]
fn status_message_and_presence_visibility() {
    let status = |s: &str| C::ChangeStatusMessage {
        status_message: Personal::Plain(s.into()),
        at: at(),
    };
    let presence = |show_presence| C::SetPresenceVisibility {
        show_presence,
        at: at(),
    };
    let s = given(&[status("회의 중"), presence(false)]);
    let p = s.profile.clone().unwrap();
    assert_eq!(
        (p.status_message, p.show_presence),
        (Personal::Plain("회의 중".into()), false)
    );
    assert_eq!(s.decide(&status("회의 중")), Ok(vec![]));
    assert_eq!(s.decide(&presence(false)), Ok(vec![]));
    assert_eq!(s.decide(&status("")).unwrap().len(), 1);
    // New accounts show presence and have no status message.
    let fresh = given(&[]).profile.unwrap();
    assert!(fresh.show_presence && fresh.status_message.is_empty());
    assert_eq!(given(&[]).decide(&presence(true)), Ok(vec![]));
}

#[test]
fn a_deleted_account_can_do_nothing_more() {
    let delete = C::DeleteAccount { at: at() };
    // Given a registered user, when they delete the account, then one
    // `user.account_deleted` carrying nothing personal.
    let events = when(&[], delete.clone()).unwrap();
    assert_eq!(
        events,
        vec![UserEvent::AccountDeleted(AccountDeleted {
            user_id: ME,
            at: at()
        })]
    );
    // Given a deleted account, every command is refused as for no user,
    // deleting again too, and the stream cannot be registered again.
    let s = given(std::slice::from_ref(&delete));
    assert!(s.profile.is_none());
    assert_eq!(s.deleted_at, Some(at()));
    assert_eq!(s.decide(&delete), Err(DomainError::UserNotFound));
    let rename = C::ChangeDisplayName {
        display_name: Personal::Plain("다시".into()),
        at: at(),
    };
    assert_eq!(s.decide(&rename), Err(DomainError::UserNotFound));
    let again = C::Register {
        user_id: ME,
        username: Username::parse("minsu").unwrap(),
        sealed_username: Personal::Plain("minsu".into()),
        display_name: Personal::Plain("김민수".into()),
        at: at(),
    };
    assert_eq!(s.decide(&again), Err(DomainError::UserAlreadyExists));
    // Given no registration, deleting is refused.
    assert_eq!(
        User::default().decide(&delete),
        Err(DomainError::UserNotFound)
    );
}

#[test]
fn sealed_fields_compare_by_their_seal() {
    let sealed = |s: &str| Personal::Sealed { sealed: s.into() };
    let rename = |s: &str| C::ChangeDisplayName {
        display_name: sealed(s),
        at: at(),
    };
    let s = given(&[rename("AAAA")]);
    assert_eq!(s.decide(&rename("AAAA")), Ok(vec![]));
    assert_eq!(s.decide(&rename("BBBB")).unwrap().len(), 1);
}

#[test]
fn notifications_are_read_forward_only_and_only_ones_own() {
    use crate::notification::NotificationId;
    let read = |position: i64, of: UserId| C::MarkNotificationsRead {
        up_to: NotificationId::of(position, of),
        at: at(),
    };
    assert!(matches!(
        &when(&[], read(7, ME)).unwrap()[..],
        [UserEvent::NotificationsRead(e)] if e.user_id == ME && e.position == 7
    ));
    assert_eq!(given(&[read(7, ME)]).profile.unwrap().notifications_read, 7);
    // An older or the same one again: nothing to record.
    assert_eq!(when(&[read(7, ME)], read(5, ME)), Ok(vec![]));
    assert_eq!(when(&[read(7, ME)], read(7, ME)), Ok(vec![]));
    assert_eq!(when(&[read(7, ME)], read(9, ME)).unwrap().len(), 1);
    // Someone else's id, or a made-up one, names none of mine.
    assert_eq!(
        when(&[], read(7, OTHER)),
        Err(DomainError::NotificationNotFound)
    );
    let made_up = C::MarkNotificationsRead {
        up_to: NotificationId(Uuid::from_u128(99)),
        at: at(),
    };
    assert_eq!(when(&[], made_up), Err(DomainError::NotificationNotFound));
}
