//! Reminders as a pure function of a meet-up's state.
//!
//! Each attendee whose answer is `going` or `maybe` is owed one reminder per
//! start time, due `remind_before_minutes` before it. The scheduler (a later
//! phase) keeps [`due_reminders`] of every meet-up in a table derived from
//! the log and, when one comes due, appends `meetup.reminder_due` decided by
//! [`MeetupCommand::FireReminder`](super::MeetupCommand::FireReminder) under
//! the id [`reminder_event_id`].
//!
//! Why "exactly once" holds: the id is a UUIDv5 of (meet-up, user, start
//! time), so two schedulers, or one that crashed between appending and
//! recording that it did, produce the same id for the same reminder, and the
//! log's unique event id lets only one append succeed. Moving the start
//! gives a new id (a new reminder is owed); moving it back to a time already
//! reminded of gives the old id, which the log already holds, and the
//! state's `fired` set owes nothing. Changing only the lead time moves the
//! due time of a reminder not yet fired, never fires a second one. A
//! cancelled meet-up owes nothing.

use super::Meetup;
use crate::event::MeetupReminderDue;
use crate::ids::{EventId, MeetupId, UserId};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// The namespace of reminder event ids. Fixed forever: changing it would let
/// every reminder fire again.
const REMINDER_NAMESPACE: Uuid = Uuid::from_u128(0x2d4f_6a8b_0c1e_4f35_b7d9_e1f3_a5c7_e9b2);

/// One reminder owed and not yet fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DueReminder {
    pub user_id: UserId,
    /// The start time it reminds of (part of its identity).
    pub starts_at: DateTime<Utc>,
    /// `starts_at − remind_before_minutes`, or when that start time was set
    /// if later: a reminder is never due before its meet-up was planned or
    /// moved there.
    pub due_at: DateTime<Utc>,
}

/// The event id of the reminder of `user_id` for the meet-up's start at
/// `starts_at` (UUIDv5 of the three, to the nanosecond).
pub fn reminder_event_id(
    meetup_id: MeetupId,
    starts_at: DateTime<Utc>,
    user_id: UserId,
) -> EventId {
    let mut key = [0u8; 44];
    key[..16].copy_from_slice(meetup_id.0.as_bytes());
    key[16..32].copy_from_slice(user_id.0.as_bytes());
    key[32..40].copy_from_slice(&starts_at.timestamp().to_be_bytes());
    key[40..].copy_from_slice(&starts_at.timestamp_subsec_nanos().to_be_bytes());
    EventId(Uuid::new_v5(&REMINDER_NAMESPACE, &key))
}

/// Every reminder the meet-up owes and has not fired, by user: none when it
/// is not planned or cancelled, or when its start was set at or after the
/// start itself (a meet-up planned in the past reminds nobody).
pub fn due_reminders(meetup: &Meetup) -> Vec<DueReminder> {
    let Some(plan) = &meetup.plan else {
        return vec![];
    };
    let starts_at = plan.details.starts_at;
    if meetup.cancelled || starts_at <= plan.start_set_at {
        return vec![];
    }
    let lead = TimeDelta::minutes(i64::from(plan.details.remind_before_minutes));
    let due_at = starts_at
        .checked_sub_signed(lead)
        .unwrap_or(starts_at)
        .max(plan.start_set_at);
    meetup
        .attendees
        .iter()
        .filter(|(_, answer)| answer.is_some_and(|a| a.is_reminded()))
        .filter(|(user, _)| !meetup.fired.contains(&(**user, starts_at)))
        .map(|(user, _)| DueReminder {
            user_id: *user,
            starts_at,
            due_at,
        })
        .collect()
}

/// The reminder event for `user_id` and `starts_at` fired at `fired_at`, if
/// it is owed and due (never early); `None` for a stale or early timer.
pub(super) fn fire(
    meetup: &Meetup,
    user_id: UserId,
    starts_at: DateTime<Utc>,
    fired_at: DateTime<Utc>,
) -> Option<MeetupReminderDue> {
    let plan = meetup.plan.as_ref()?;
    let due = due_reminders(meetup)
        .into_iter()
        .find(|r| r.user_id == user_id && r.starts_at == starts_at && r.due_at <= fired_at)?;
    let late_by_ms = (fired_at - due.due_at).num_milliseconds().max(0);
    Some(MeetupReminderDue {
        meetup_id: plan.meetup_id,
        user_id,
        starts_at,
        due_at: due.due_at,
        fired_at,
        late_by_ms: u64::try_from(late_by_ms).unwrap_or(0),
    })
}
