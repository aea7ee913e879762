//! Given / when / then tests of the meet-up aggregate and its room. The
//! reminder schedule's tests and invariants are in `meetup_reminder_tests.rs`.

use super::room::{InviteAttendee, MeetupCommit, PlanMeetup};
use super::values::{MeetupPlace, MeetupTitle, RemindBefore, MAX_INVITEES};
use super::*;
use crate::event::{AttendeeInvited, MeetupPlanned, RoomEvent};
use crate::room::{Room, RoomCommand};
use crate::values::RoomName;
use chrono::TimeDelta;
use uuid::Uuid;

pub(super) const ORG: UserId = UserId(Uuid::from_u128(1));
pub(super) const BORA: UserId = UserId(Uuid::from_u128(2));
pub(super) const CHUL: UserId = UserId(Uuid::from_u128(3));
pub(super) const DAMI: UserId = UserId(Uuid::from_u128(4));
pub(super) const MEETUP: MeetupId = MeetupId(Uuid::from_u128(200));
pub(super) const ROOM: RoomId = RoomId(Uuid::from_u128(300));

pub(super) fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}
/// A week after [`at`].
pub(super) fn starts() -> DateTime<Utc> {
    at() + TimeDelta::days(7)
}

pub(super) fn plan_cmd(invitees: &[UserId]) -> PlanMeetup {
    PlanMeetup {
        meetup_id: MEETUP,
        room_id: ROOM,
        organizer: ORG,
        title: MeetupTitle::parse("한강 피크닉").unwrap(),
        starts_at: starts(),
        ends_at: Some(starts() + TimeDelta::hours(3)),
        place: MeetupPlace::parse_optional("여의도 한강공원").unwrap(),
        description: None,
        invitees: invitees.to_vec(),
        remind_before: RemindBefore::default(),
        at: at(),
    }
}

/// A meet-up and its room after `cmd` (which must succeed).
pub(super) fn planned(cmd: &PlanMeetup) -> (Meetup, Room) {
    let commit = Meetup::default()
        .plan(&Room::default(), cmd)
        .unwrap_or_else(|e| panic!("plan failed: {e}"));
    apply((Meetup::default(), Room::default()), &commit)
}

pub(super) fn apply((meetup, room): (Meetup, Room), commit: &MeetupCommit) -> (Meetup, Room) {
    (
        meetup.evolve_all(&commit.meetup),
        room.evolve_all(&commit.room),
    )
}

/// Given a plan with BORA and CHUL invited and these commands (each must
/// succeed), the meet-up.
pub(super) fn given(commands: &[MeetupCommand]) -> Meetup {
    let (meetup, _) = planned(&plan_cmd(&[BORA, CHUL]));
    commands.iter().fold(meetup, |m, c| {
        let events = m
            .decide(c)
            .unwrap_or_else(|e| panic!("given {c:?} failed: {e}"));
        m.evolve_all(&events)
    })
}

fn when(given_cmds: &[MeetupCommand], cmd: MeetupCommand) -> Result<Vec<MeetupEvent>, DomainError> {
    given(given_cmds).decide(&cmd)
}

/// `state` after `command`, which must succeed.
pub(super) fn after<A: Aggregate>(state: A, command: &A::Command) -> A
where
    A::Command: std::fmt::Debug,
{
    let events = state
        .decide(command)
        .unwrap_or_else(|e| panic!("{command:?} failed: {e}"));
    state.evolve_all(&events)
}

pub(super) fn rsvp(actor: UserId, answer: RsvpAnswer) -> MeetupCommand {
    MeetupCommand::Rsvp {
        actor,
        answer,
        at: at(),
    }
}
pub(super) fn cancel(actor: UserId) -> MeetupCommand {
    MeetupCommand::Cancel { actor, at: at() }
}
pub(super) fn change(actor: UserId, changes: MeetupChanges) -> MeetupCommand {
    MeetupCommand::Change {
        actor,
        changes,
        at: at(),
    }
}
pub(super) fn move_start(by: TimeDelta) -> MeetupCommand {
    change(
        ORG,
        MeetupChanges {
            starts_at: Some(starts() + by),
            ends_at: Some(None),
            ..MeetupChanges::default()
        },
    )
}
fn retitle(actor: UserId, title: &str) -> MeetupCommand {
    change(
        actor,
        MeetupChanges {
            title: Some(MeetupTitle::parse(title).unwrap()),
            ..MeetupChanges::default()
        },
    )
}
fn invite(actor: UserId, user_id: UserId) -> InviteAttendee {
    InviteAttendee {
        actor,
        user_id,
        at: at(),
    }
}

#[test]
fn planning_creates_the_meetup_and_its_room_in_one_commit() {
    let commit = Meetup::default()
        .plan(&Room::default(), &plan_cmd(&[BORA, ORG, BORA, CHUL]))
        .unwrap();
    match (&commit.meetup[..], &commit.room[..]) {
        ([MeetupEvent::Planned(p)], [RoomEvent::Created(r)]) => {
            assert_eq!(
                p.invitees,
                vec![BORA, CHUL],
                "deduplicated, organizer dropped"
            );
            assert_eq!(p.details.remind_before_minutes, 30);
            assert_eq!(p.room_id, ROOM);
            assert_eq!((r.room_id, r.owner_id, r.direct), (ROOM, ORG, false));
            assert_eq!(r.members, vec![ORG, BORA, CHUL]);
            assert_eq!(r.name, p.details.title);
        }
        other => panic!("unexpected {other:?}"),
    }
    let (meetup, room) = apply(Default::default(), &commit);
    assert_eq!(meetup.attendees[&ORG], Some(RsvpAnswer::Going));
    assert_eq!(meetup.attendees[&BORA], None, "pending");
    assert_eq!((meetup.sequence, meetup.cancelled), (0, false));
    assert!(room.is_member(CHUL) && room.role(ORG) == Some(crate::room::RoomRole::Owner));
}

#[test]
fn a_meetup_ends_after_it_starts() {
    for end in [starts(), starts() - TimeDelta::minutes(1)] {
        let cmd = PlanMeetup {
            ends_at: Some(end),
            ..plan_cmd(&[])
        };
        let err = Meetup::default().plan(&Room::default(), &cmd).unwrap_err();
        assert_eq!(err, DomainError::MeetupEndsBeforeStart);
        assert_eq!((err.code(), err.status()), ("invalid_meetup", 422));
    }
    let open_ended = PlanMeetup {
        ends_at: None,
        ..plan_cmd(&[])
    };
    assert!(Meetup::default()
        .plan(&Room::default(), &open_ended)
        .is_ok());
}

#[test]
fn invitees_are_bounded() {
    let many: Vec<UserId> = (10..)
        .take(MAX_INVITEES + 1)
        .map(|n| UserId(Uuid::from_u128(n)))
        .collect();
    let err = Meetup::default()
        .plan(&Room::default(), &plan_cmd(&many))
        .unwrap_err();
    assert_eq!(
        (err.clone(), err.code()),
        (DomainError::TooManyInvitees, "invalid_meetup")
    );
    // The organizer named among them does not count.
    let mut just = many[..MAX_INVITEES].to_vec();
    just.push(ORG);
    assert!(Meetup::default()
        .plan(&Room::default(), &plan_cmd(&just))
        .is_ok());
}

#[test]
fn a_meetup_or_its_room_is_planned_once() {
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    assert_eq!(
        meetup.plan(&Room::default(), &plan_cmd(&[])),
        Err(DomainError::MeetupAlreadyExists)
    );
    assert_eq!(
        Meetup::default().plan(&room, &plan_cmd(&[])),
        Err(DomainError::RoomAlreadyExists)
    );
}

#[test]
fn only_the_organizer_changes_and_each_change_bumps_the_sequence() {
    assert_eq!(
        when(&[], retitle(BORA, "다른 제목")),
        Err(DomainError::NotMeetupOrganizer)
    );
    assert_eq!(DomainError::NotMeetupOrganizer.status(), 403);
    assert_eq!(
        when(&[], retitle(DAMI, "다른 제목")),
        Err(DomainError::MeetupNotFound),
        "a non-attendee learns nothing"
    );
    let m = given(&[retitle(ORG, "첫 변경"), move_start(TimeDelta::hours(1))]);
    assert_eq!(m.sequence, 2);
    match &m.decide(&retitle(ORG, "세 번째")).unwrap()[..] {
        [MeetupEvent::Changed(c)] => {
            assert_eq!(c.sequence, 3);
            assert_eq!(c.changed, vec![MeetupField::Title]);
            assert_eq!(
                c.details.starts_at,
                starts() + TimeDelta::hours(1),
                "the rest kept"
            );
            assert_eq!(c.details.place.as_deref(), Some("여의도 한강공원"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_change_lists_what_changed_and_nothing_changed_is_no_event() {
    assert_eq!(when(&[], retitle(ORG, " 한강 피크닉 ")), Ok(vec![]));
    assert_eq!(when(&[], change(ORG, MeetupChanges::default())), Ok(vec![]));
    let clear_place = change(
        ORG,
        MeetupChanges {
            place: Some(None),
            remind_before: Some(RemindBefore::from_minutes(60).unwrap()),
            ..MeetupChanges::default()
        },
    );
    match &when(&[], clear_place).unwrap()[..] {
        [MeetupEvent::Changed(c)] => {
            assert_eq!(
                c.changed,
                vec![MeetupField::Place, MeetupField::RemindBeforeMinutes]
            );
            assert_eq!(
                (c.details.place.as_ref(), c.details.remind_before_minutes),
                (None, 60)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_change_keeps_the_end_after_the_start() {
    // Moving the start past the kept end is refused; moving both is fine.
    let past_end = change(
        ORG,
        MeetupChanges {
            starts_at: Some(starts() + TimeDelta::hours(5)),
            ..MeetupChanges::default()
        },
    );
    assert_eq!(when(&[], past_end), Err(DomainError::MeetupEndsBeforeStart));
    assert!(when(&[], move_start(TimeDelta::hours(5))).is_ok());
}

#[test]
fn cancellation_is_kept_bumps_the_sequence_and_freezes_the_meetup() {
    assert_eq!(
        when(&[], cancel(BORA)),
        Err(DomainError::NotMeetupOrganizer)
    );
    assert_eq!(when(&[], cancel(DAMI)), Err(DomainError::MeetupNotFound));
    let m = given(&[retitle(ORG, "변경"), cancel(ORG)]);
    assert!(m.cancelled && m.plan.is_some(), "kept, not deleted");
    assert_eq!(m.sequence, 2);
    assert_eq!(m.as_attendee(BORA).map(|p| p.meetup_id), Ok(MEETUP));
    assert_eq!(
        m.decide(&cancel(ORG)),
        Ok(vec![]),
        "cancelling again is nothing new"
    );
    let cancelled = [cancel(ORG)];
    for refused in [retitle(ORG, "취소 후 변경"), rsvp(BORA, RsvpAnswer::Going)] {
        let err = when(&cancelled, refused).unwrap_err();
        assert_eq!((err.code(), err.status()), ("meetup_cancelled", 409));
    }
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    let meetup = after(meetup, &cancel(ORG));
    assert_eq!(
        meetup.invite(&room, &invite(BORA, CHUL)),
        Err(DomainError::MeetupCancelled)
    );
}

#[test]
fn attendees_answer_and_answers_can_change() {
    match &when(&[], rsvp(BORA, RsvpAnswer::Maybe)).unwrap()[..] {
        [MeetupEvent::RsvpGiven(r)] => assert_eq!((r.user_id, r.answer), (BORA, RsvpAnswer::Maybe)),
        other => panic!("unexpected {other:?}"),
    }
    let m = given(&[
        rsvp(BORA, RsvpAnswer::Declined),
        rsvp(BORA, RsvpAnswer::Going),
    ]);
    assert_eq!(m.attendees[&BORA], Some(RsvpAnswer::Going));
    assert_eq!(
        m.decide(&rsvp(BORA, RsvpAnswer::Going)),
        Ok(vec![]),
        "same answer"
    );
    // The organizer may answer too.
    assert!(when(&[], rsvp(ORG, RsvpAnswer::Declined)).is_ok_and(|e| e.len() == 1));
}

#[test]
fn non_attendees_cannot_answer_and_pending_is_no_answer() {
    let err = when(&[], rsvp(DAMI, RsvpAnswer::Going)).unwrap_err();
    assert_eq!((err.code(), err.status()), ("meetup_not_found", 404));
    assert_eq!(
        Meetup::default().decide(&rsvp(BORA, RsvpAnswer::Going)),
        Err(DomainError::MeetupNotFound)
    );
    for bad in ["pending", "Going", "", "yes"] {
        let err = RsvpAnswer::parse(bad).unwrap_err();
        assert_eq!((err.code(), err.status()), ("invalid_rsvp", 422));
    }
    for answer in [RsvpAnswer::Going, RsvpAnswer::Maybe, RsvpAnswer::Declined] {
        assert_eq!(RsvpAnswer::parse(answer.as_str()), Ok(answer));
    }
}

#[test]
fn any_attendee_invites_and_the_invitee_joins_the_room() {
    let state = planned(&plan_cmd(&[BORA]));
    let commit = state.0.invite(&state.1, &invite(BORA, CHUL)).unwrap();
    assert_eq!(
        commit.meetup,
        vec![MeetupEvent::AttendeeInvited(AttendeeInvited {
            meetup_id: MEETUP,
            user_id: CHUL,
            by: BORA,
            at: at(),
        })]
    );
    match &commit.room[..] {
        [RoomEvent::MemberAdded(a)] => assert_eq!((a.room_id, a.user_id, a.by), (ROOM, CHUL, BORA)),
        other => panic!("unexpected {other:?}"),
    }
    let (meetup, room) = apply(state, &commit);
    assert_eq!(meetup.attendees[&CHUL], None);
    assert!(room.is_member(CHUL));
    let err = meetup.invite(&room, &invite(ORG, CHUL)).unwrap_err();
    assert_eq!((err.code(), err.status()), ("already_attending", 409));
    assert_eq!(
        meetup.invite(&room, &invite(DAMI, DAMI)),
        Err(DomainError::MeetupNotFound)
    );
    assert_eq!(
        meetup.invite(&Room::default(), &invite(ORG, DAMI)),
        Err(DomainError::RoomNotFound),
        "another room's state is refused"
    );
}

#[test]
fn declining_keeps_the_room_and_leaving_the_room_keeps_the_attendance() {
    let (meetup, room) = planned(&plan_cmd(&[BORA, CHUL]));
    let meetup = after(meetup, &rsvp(BORA, RsvpAnswer::Declined));
    assert!(room.is_member(BORA), "declining is no room event");
    // BORA leaves the room; still an attendee, BORA may invite, and the
    // invitee is added to the room by BORA all the same.
    let leave = RoomCommand::RemoveMember {
        actor: BORA,
        user_id: BORA,
        at: at(),
    };
    let room = after(room, &leave);
    assert!(!room.is_member(BORA) && meetup.as_attendee(BORA).is_ok());
    let commit = meetup.invite(&room, &invite(BORA, DAMI)).unwrap();
    assert!(matches!(&commit.room[..], [RoomEvent::MemberAdded(a)] if a.by == BORA));
}

#[test]
fn inviting_someone_already_in_the_room_adds_no_member() {
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    // DAMI joined the room without attending (an invite link, for example).
    let add = RoomCommand::AddMember {
        actor: BORA,
        user_id: DAMI,
        at: at(),
    };
    let room = after(room, &add);
    let commit = meetup.invite(&room, &invite(ORG, DAMI)).unwrap();
    assert_eq!((commit.meetup.len(), commit.room.len()), (1, 0));
}

#[test]
fn the_room_is_named_like_the_meetup() {
    let (_, room) = planned(&plan_cmd(&[]));
    assert_eq!(room.name, RoomName::parse("한강 피크닉").unwrap().as_str());
    let planned_event = match &Meetup::default()
        .plan(&Room::default(), &plan_cmd(&[]))
        .unwrap()
        .meetup[..]
    {
        [MeetupEvent::Planned(p)] => p.clone(),
        other => panic!("unexpected {other:?}"),
    };
    let MeetupPlanned { details, .. } = planned_event;
    assert_eq!(details.title, room.name);
}

fn title_changes(title: &str) -> MeetupChanges {
    MeetupChanges {
        title: Some(MeetupTitle::parse(title).unwrap()),
        ..MeetupChanges::default()
    }
}

#[test]
fn a_new_title_renames_the_room_in_the_same_commit() {
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    let commit = meetup
        .change(&room, ORG, &title_changes("북한산 등산"), at())
        .unwrap();
    assert!(
        matches!(&commit.meetup[..], [MeetupEvent::Changed(c)] if c.details.title == "북한산 등산")
    );
    match &commit.room[..] {
        [RoomEvent::Renamed(r)] => {
            assert_eq!(
                (r.room_id, r.name.as_str(), r.by),
                (ROOM, "북한산 등산", ORG)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let (meetup, room) = apply((meetup, room), &commit);
    assert_eq!(room.name, "북한산 등산");
    // Other details leave the room alone.
    let place = MeetupChanges {
        place: Some(MeetupPlace::parse_optional("도봉산역").unwrap()),
        ..MeetupChanges::default()
    };
    let commit = meetup.change(&room, ORG, &place, at()).unwrap();
    assert_eq!((commit.meetup.len(), commit.room.len()), (1, 0));
}

#[test]
fn a_room_renamed_by_hand_keeps_its_name() {
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    let rename = RoomCommand::Rename {
        actor: ORG,
        name: RoomName::parse("우리끼리").unwrap(),
        at: at(),
    };
    let room = after(room, &rename);
    let commit = meetup
        .change(&room, ORG, &title_changes("북한산 등산"), at())
        .unwrap();
    assert_eq!((commit.meetup.len(), commit.room.len()), (1, 0));
}

#[test]
fn only_the_organizer_renames_through_the_meetup() {
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    assert_eq!(
        meetup.change(&room, BORA, &title_changes("북한산 등산"), at()),
        Err(DomainError::NotMeetupOrganizer)
    );
    let same = meetup
        .change(&room, ORG, &title_changes("한강 피크닉"), at())
        .unwrap();
    assert_eq!(
        same,
        MeetupCommit {
            meetup: vec![],
            room: vec![]
        }
    );
}

#[test]
fn every_meetup_error_has_its_code_and_status() {
    let table = [
        (DomainError::InvalidMeetupTitle, "invalid_meetup", 422),
        (DomainError::InvalidMeetupPlace, "invalid_meetup", 422),
        (DomainError::InvalidMeetupDescription, "invalid_meetup", 422),
        (DomainError::InvalidRemindBefore, "invalid_meetup", 422),
        (DomainError::MeetupEndsBeforeStart, "invalid_meetup", 422),
        (DomainError::TooManyInvitees, "invalid_meetup", 422),
        (DomainError::MeetupNotFound, "meetup_not_found", 404),
        (
            DomainError::MeetupAlreadyExists,
            "meetup_already_exists",
            409,
        ),
        (DomainError::NotMeetupOrganizer, "not_meetup_organizer", 403),
        (DomainError::AlreadyAttending, "already_attending", 409),
        (DomainError::InvalidRsvp, "invalid_rsvp", 422),
        (DomainError::MeetupCancelled, "meetup_cancelled", 409),
    ];
    for (err, code, status) in table {
        assert_eq!((err.code(), err.status()), (code, status), "{err:?}");
    }
}

#[test]
fn meetup_events_go_to_the_meetup_stream_and_round_trip() {
    let (meetup, room) = planned(&plan_cmd(&[BORA]));
    let mut events = Meetup::default()
        .plan(&Room::default(), &plan_cmd(&[BORA]))
        .unwrap()
        .meetup;
    events.extend(meetup.invite(&room, &invite(BORA, CHUL)).unwrap().meetup);
    for c in [
        retitle(ORG, "바뀐 제목"),
        rsvp(BORA, RsvpAnswer::Going),
        cancel(ORG),
    ] {
        events.extend(meetup.decide(&c).unwrap());
    }
    for e in events {
        let e = crate::DomainEvent::from(e);
        assert_eq!(e.stream_type(), crate::StreamType::Meetup);
        assert_eq!(e.stream_id(), MEETUP.into());
        let text = e.payload().to_string();
        let back = crate::DomainEvent::decode_json(e.event_type(), e.schema_version(), &text);
        assert_eq!(back.unwrap(), e);
    }
    assert_eq!(
        crate::StreamType::parse("meetup"),
        Some(crate::StreamType::Meetup)
    );
    assert_eq!(crate::StreamType::Meetup.as_str(), "meetup");
}

#[test]
fn attendees_are_bounded_by_the_room_limit() {
    let user = |n: u128| UserId(Uuid::from_u128(10_000 + n));
    let invitees: Vec<UserId> = (0..MAX_INVITEES as u128).map(user).collect();
    let mut state = planned(&plan_cmd(&invitees));
    let mut n = MAX_INVITEES as u128;
    while state.0.attendees.len() < crate::values::MAX_ROOM_MEMBERS {
        let commit = state.0.invite(&state.1, &invite(ORG, user(n))).unwrap();
        state = apply(state, &commit);
        n += 1;
    }
    let err = state.0.invite(&state.1, &invite(ORG, user(n))).unwrap_err();
    assert_eq!((err.code(), err.status()), ("too_many_members", 422));
}
