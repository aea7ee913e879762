//! The reminder schedule: given / when / then tests and its invariants.

use super::reminder::{due_reminders, reminder_event_id, DueReminder};
use super::tests::{
    after, at, cancel, given, move_start, plan_cmd, planned, rsvp, starts, BORA, CHUL, MEETUP, ORG,
};
use super::values::RemindBefore;
use super::*;
use chrono::TimeDelta;
use proptest::prelude::*;
use std::collections::HashSet;
use uuid::Uuid;

fn fire(user_id: UserId, starts_at: DateTime<Utc>, fired_at: DateTime<Utc>) -> MeetupCommand {
    MeetupCommand::FireReminder {
        user_id,
        starts_at,
        fired_at,
    }
}

fn due_at() -> DateTime<Utc> {
    starts() - TimeDelta::minutes(30)
}

#[test]
fn going_and_maybe_are_reminded_declined_and_pending_are_not() {
    let m = given(&[rsvp(BORA, RsvpAnswer::Maybe)]);
    let due = due_reminders(&m);
    let users: Vec<UserId> = due.iter().map(|r| r.user_id).collect();
    assert_eq!(
        users,
        vec![ORG, BORA],
        "the organizer is going; CHUL is pending"
    );
    assert!(due
        .iter()
        .all(|r| r.starts_at == starts() && r.due_at == due_at()));
    let m = given(&[
        rsvp(BORA, RsvpAnswer::Declined),
        rsvp(ORG, RsvpAnswer::Declined),
    ]);
    assert_eq!(due_reminders(&m), vec![]);
}

#[test]
fn a_reminder_fires_once_never_early_and_says_how_late() {
    let m = given(&[]);
    assert_eq!(
        m.decide(&fire(ORG, starts(), due_at() - TimeDelta::seconds(1))),
        Ok(vec![])
    );
    let late = due_at() + TimeDelta::milliseconds(2_500);
    let events = m.decide(&fire(ORG, starts(), late)).unwrap();
    let fired = match &events[..] {
        [MeetupEvent::ReminderDue(r)] => r.clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        (fired.due_at, fired.fired_at, fired.late_by_ms),
        (due_at(), late, 2_500)
    );
    assert_eq!(fired.event_id(), reminder_event_id(MEETUP, starts(), ORG));
    let m = m.evolve_all(&events);
    assert_eq!(
        m.decide(&fire(ORG, starts(), late)),
        Ok(vec![]),
        "fired already"
    );
    assert_eq!(due_reminders(&m), vec![], "nothing else owed");
}

#[test]
fn stale_timers_fire_nothing() {
    let later = starts() + TimeDelta::days(1);
    // Moved: the old start time is owed nothing.
    assert_eq!(
        given(&[move_start(TimeDelta::hours(2))]).decide(&fire(ORG, starts(), later)),
        Ok(vec![])
    );
    // Cancelled, declined, pending, not an attendee, no meet-up.
    assert_eq!(
        given(&[cancel(ORG)]).decide(&fire(ORG, starts(), later)),
        Ok(vec![])
    );
    let declined = given(&[rsvp(ORG, RsvpAnswer::Declined)]);
    assert_eq!(declined.decide(&fire(ORG, starts(), later)), Ok(vec![]));
    assert_eq!(given(&[]).decide(&fire(CHUL, starts(), later)), Ok(vec![]));
    let stranger = UserId(Uuid::from_u128(99));
    assert_eq!(
        given(&[]).decide(&fire(stranger, starts(), later)),
        Ok(vec![])
    );
    assert_eq!(
        Meetup::default().decide(&fire(ORG, starts(), later)),
        Ok(vec![])
    );
}

#[test]
fn moving_the_start_owes_a_new_reminder_and_moving_back_does_not() {
    let first = given(&[]);
    let fired = first.decide(&fire(ORG, starts(), due_at())).unwrap();
    let m = first.evolve_all(&fired);
    let moved = move_start(TimeDelta::hours(2));
    let m = after(m, &moved);
    assert_eq!(
        due_reminders(&m),
        vec![DueReminder {
            user_id: ORG,
            starts_at: starts() + TimeDelta::hours(2),
            due_at: due_at() + TimeDelta::hours(2),
        }]
    );
    assert_ne!(
        reminder_event_id(MEETUP, starts() + TimeDelta::hours(2), ORG),
        reminder_event_id(MEETUP, starts(), ORG)
    );
    let back = move_start(TimeDelta::zero());
    let m = after(m, &back);
    assert_eq!(
        due_reminders(&m),
        vec![],
        "that start was reminded of already"
    );
}

#[test]
fn changing_only_the_lead_time_moves_an_unfired_reminder_and_never_refires() {
    let lead = |minutes| MeetupCommand::Change {
        actor: ORG,
        changes: MeetupChanges {
            remind_before: Some(RemindBefore::from_minutes(minutes).unwrap()),
            ..MeetupChanges::default()
        },
        at: at(),
    };
    let m = given(&[lead(60)]);
    assert_eq!(due_reminders(&m)[0].due_at, starts() - TimeDelta::hours(1));
    let m = after(m, &fire(ORG, starts(), starts()));
    let m = after(m, &lead(10));
    assert_eq!(due_reminders(&m), vec![]);
}

#[test]
fn a_reminder_is_never_due_before_its_start_was_set() {
    // Planned 10 minutes ahead with the default 30: due at once, not "late".
    let soon = PlanMeetup {
        starts_at: at() + TimeDelta::minutes(10),
        ends_at: None,
        ..plan_cmd(&[])
    };
    let (m, _) = planned(&soon);
    assert_eq!(due_reminders(&m)[0].due_at, at());
    // Planned in the past: nobody is reminded.
    let past = PlanMeetup {
        starts_at: at() - TimeDelta::days(1),
        ends_at: None,
        ..plan_cmd(&[])
    };
    assert_eq!(due_reminders(&planned(&past).0), vec![]);
}

#[test]
fn reminder_ids_are_a_pure_function_of_meetup_start_and_user() {
    let id = reminder_event_id(MEETUP, starts(), BORA);
    assert_eq!(id, reminder_event_id(MEETUP, starts(), BORA));
    assert_ne!(id, reminder_event_id(MEETUP, starts(), CHUL));
    assert_ne!(
        id,
        reminder_event_id(MeetupId(Uuid::from_u128(7)), starts(), BORA)
    );
    assert_ne!(
        id,
        reminder_event_id(MEETUP, starts() + TimeDelta::nanoseconds(1), BORA)
    );
    assert_eq!(id.0.get_version_num(), 5);
    // Pinned (computed independently: SHA-1 of the namespace, the meet-up's
    // and the user's bytes, the start's seconds as i64 and nanoseconds as
    // u32, big-endian): a changed derivation would let every stored
    // reminder fire again.
    assert_eq!(id.to_string(), "eba5c1ba-4c55-5aaa-81a2-9d789de0a282");
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Step {
    Answer(usize, u8),
    MoveStart(i64),
    Lead(u32),
    Cancel,
    /// Fire every owed reminder at this many minutes after planning.
    Tick(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3, 0u8..3).prop_map(|(u, a)| Step::Answer(u, a)),
        2 => (-3i64..4).prop_map(|h| Step::MoveStart(h * 60)),
        1 => (0u32..120).prop_map(Step::Lead),
        1 => Just(Step::Cancel),
        3 => (0i64..20_000).prop_map(Step::Tick),
    ]
}

const ANSWERS: [RsvpAnswer; 3] = [RsvpAnswer::Going, RsvpAnswer::Maybe, RsvpAnswer::Declined];

fn command(m: &Meetup, s: &Step) -> Vec<MeetupCommand> {
    let users = [ORG, BORA, CHUL];
    match s {
        Step::Answer(u, a) => vec![rsvp(users[*u], ANSWERS[usize::from(*a)])],
        Step::MoveStart(minutes) => vec![move_start(TimeDelta::minutes(*minutes))],
        Step::Lead(minutes) => vec![MeetupCommand::Change {
            actor: ORG,
            changes: MeetupChanges {
                remind_before: Some(RemindBefore::from_minutes(i64::from(*minutes)).unwrap()),
                ..MeetupChanges::default()
            },
            at: at(),
        }],
        Step::Cancel => vec![cancel(ORG)],
        Step::Tick(minutes) => due_reminders(m)
            .into_iter()
            .map(|r| fire(r.user_id, r.starts_at, at() + TimeDelta::minutes(*minutes)))
            .collect(),
    }
}

proptest! {
    /// Whatever happens: the schedule owes exactly one reminder per attendee
    /// answering going or maybe (none after a cancellation), each due its lead
    /// time before the current start; each (user, start) fires at most once,
    /// never early; the sequence counts changes and the cancellation.
    #[test]
    fn reminders_fire_once_per_eligible_attendee_and_start(steps in prop::collection::vec(step(), 0..30)) {
        let mut m = given(&[]);
        let mut fired = HashSet::new();
        let mut bumps = 0;
        for s in &steps {
            for c in command(&m, s) {
                let Ok(events) = m.decide(&c) else { continue };
                for e in &events {
                    match e {
                        MeetupEvent::ReminderDue(r) => {
                            prop_assert!(r.fired_at >= r.due_at, "early: {r:?}");
                            prop_assert!(fired.insert(r.event_id()), "fired twice: {r:?}");
                            prop_assert!(!m.cancelled);
                        }
                        MeetupEvent::Changed(_) | MeetupEvent::Cancelled(_) => bumps += 1,
                        _ => {}
                    }
                }
                m = m.evolve_all(&events);
            }
            let due = due_reminders(&m);
            let plan = m.plan.as_ref().unwrap();
            if m.cancelled {
                prop_assert!(due.is_empty());
                continue;
            }
            let lead = TimeDelta::minutes(i64::from(plan.details.remind_before_minutes));
            let eligible: Vec<UserId> = m
                .attendees
                .iter()
                .filter(|(u, a)| a.is_some_and(RsvpAnswer::is_reminded)
                    && !m.fired.contains(&(**u, plan.details.starts_at)))
                .map(|(u, _)| *u)
                .collect();
            prop_assert_eq!(due.iter().map(|r| r.user_id).collect::<Vec<_>>(), eligible);
            for r in &due {
                prop_assert_eq!(r.starts_at, plan.details.starts_at);
                prop_assert_eq!(r.due_at, (r.starts_at - lead).max(plan.start_set_at));
                prop_assert!(!fired.contains(&reminder_event_id(MEETUP, r.starts_at, r.user_id)));
            }
        }
        prop_assert_eq!(m.sequence, bumps);
    }

    /// Moving the start by any amount moves every due time by the same.
    #[test]
    fn moving_the_start_moves_the_due_time(minutes in -10_000i64..10_000, lead in 0u32..=10_080) {
        let cmd = PlanMeetup {
            starts_at: at() + TimeDelta::days(30),
            ends_at: None,
            remind_before: RemindBefore::from_minutes(i64::from(lead)).unwrap(),
            ..plan_cmd(&[BORA])
        };
        let (m, _) = planned(&cmd);
        let m = after(m, &rsvp(BORA, RsvpAnswer::Going));
        let before = due_reminders(&m);
        let moved = MeetupCommand::Change {
            actor: ORG,
            changes: MeetupChanges {
                starts_at: Some(cmd.starts_at + TimeDelta::minutes(minutes)),
                ..MeetupChanges::default()
            },
            at: at(),
        };
        let m = after(m, &moved);
        let after = due_reminders(&m);
        prop_assert_eq!(before.len(), 2);
        prop_assert_eq!(after.len(), before.len());
        for (b, a) in before.iter().zip(&after) {
            prop_assert_eq!(a.user_id, b.user_id);
            prop_assert_eq!(a.due_at - b.due_at, TimeDelta::minutes(minutes));
            prop_assert_eq!(a.due_at, a.starts_at - TimeDelta::minutes(i64::from(lead)));
        }
    }
}
