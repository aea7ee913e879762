//! The meet-up aggregate (issue 17): a planned event with attendees and
//! their answers, changed and cancelled by its organizer, with a group room
//! of its own and reminders before it starts.
//!
//! A meet-up is its own stream (`meetup`), apart from its room: the room's
//! stream takes every message of the chat, and a meet-up's rules (organizer,
//! answers, reminders) never depend on messages, so keeping them apart keeps
//! both streams' optimistic appends from contending. What binds them is
//! decided here in one place: planning creates the room, inviting adds the
//! member (see `meetup_room.rs`, which returns the events of both streams
//! for one commit). The room's own rules apply after that: a member who
//! declines stays in the room until they leave it, and leaving the room does
//! not end attendance.
//!
//! - `meetup_values.rs` ([`values`]): titles, places, descriptions, the
//!   reminder lead time.
//! - `meetup_reminder.rs` ([`reminder`]): the reminder schedule and the
//!   deterministic id of each reminder's event.

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{
    MeetupCancelled, MeetupChanged, MeetupDetails, MeetupEvent, MeetupField, RsvpAnswer, RsvpGiven,
    StreamType,
};
use crate::ids::{MeetupId, RoomId, UserId};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

#[path = "meetup_values.rs"]
pub mod values;

#[path = "meetup_reminder.rs"]
pub mod reminder;

#[path = "meetup_room.rs"]
mod room;
pub use room::{InviteAttendee, MeetupCommit, PlanMeetup};

use values::{MeetupDescription, MeetupPlace, MeetupTitle, RemindBefore};

/// What the meet-up stream knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meetup {
    /// Set by `meetup.planned`; `None` means no such meet-up.
    pub plan: Option<Plan>,
    /// Every attendee (the organizer first among equals) with their answer;
    /// `None` is `pending`. Attendance only grows.
    pub attendees: BTreeMap<UserId, Option<RsvpAnswer>>,
    pub cancelled: bool,
    /// iCalendar's `SEQUENCE`: 0 when planned, +1 per change or cancellation.
    pub sequence: u32,
    /// Reminders already fired, by user and the start time they were for.
    pub fired: BTreeSet<(UserId, DateTime<Utc>)>,
}

/// A planned meet-up's fixed facts and current details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub meetup_id: MeetupId,
    pub room_id: RoomId,
    pub organizer: UserId,
    pub details: MeetupDetails,
    /// When the current start time was set (planned or moved): no reminder
    /// is due before it.
    pub start_set_at: DateTime<Utc>,
}

/// What the organizer changes (PATCH): `None` leaves a field as it is;
/// `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct MeetupChanges {
    pub title: Option<MeetupTitle>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub place: Option<Option<MeetupPlace>>,
    pub description: Option<Option<MeetupDescription>>,
    pub remind_before: Option<RemindBefore>,
}

/// Commands on one meet-up's stream alone. Planning and inviting also write
/// the room's stream and are decided by [`Meetup::plan`] and
/// [`Meetup::invite`] instead, so neither can be appended without its room
/// events.
#[derive(Clone, Debug)]
pub enum MeetupCommand {
    /// Change details (organizer only; nothing changed is no event).
    Change {
        actor: UserId,
        changes: MeetupChanges,
        at: DateTime<Utc>,
    },
    /// Cancel (organizer only; again is no event).
    Cancel { actor: UserId, at: DateTime<Utc> },
    /// Answer (any attendee; the same answer again is no event).
    Rsvp {
        actor: UserId,
        answer: RsvpAnswer,
        at: DateTime<Utc>,
    },
    /// The scheduler fires the reminder of `user_id` for the start time
    /// `starts_at` at `fired_at`. No event unless [`reminder::due_reminders`]
    /// owes it and it is due: a stale timer (the start moved, the meet-up was
    /// cancelled, the user declined, it fired already, it is early) fires
    /// nothing. The event goes under [`reminder::reminder_event_id`].
    FireReminder {
        user_id: UserId,
        starts_at: DateTime<Utc>,
        fired_at: DateTime<Utc>,
    },
}

impl Meetup {
    /// The plan, as `actor` may see it: it exists and they attend. Both
    /// failures are the same answer (`meetup_not_found`), so nothing leaks
    /// which meet-ups exist.
    pub fn as_attendee(&self, actor: UserId) -> Result<&Plan, DomainError> {
        match &self.plan {
            Some(plan) if self.attendees.contains_key(&actor) => Ok(plan),
            _ => Err(DomainError::MeetupNotFound),
        }
    }

    /// The plan, for a change by `actor`: an attendee who organizes it, of a
    /// meet-up not cancelled.
    fn as_organizer(&self, actor: UserId) -> Result<&Plan, DomainError> {
        let plan = self.as_attendee(actor)?;
        if plan.organizer != actor {
            return Err(DomainError::NotMeetupOrganizer);
        }
        Ok(plan)
    }

    /// Refuse changes to a cancelled meet-up (`meetup_cancelled`, 409).
    fn not_cancelled(&self) -> Result<(), DomainError> {
        if self.cancelled {
            Err(DomainError::MeetupCancelled)
        } else {
            Ok(())
        }
    }

    fn decide_change(
        &self,
        actor: UserId,
        changes: &MeetupChanges,
        at: DateTime<Utc>,
    ) -> Result<Vec<MeetupEvent>, DomainError> {
        let plan = self.as_organizer(actor)?;
        self.not_cancelled()?;
        let old = &plan.details;
        let new = MeetupDetails {
            title: changes
                .title
                .as_ref()
                .map_or_else(|| old.title.clone(), |t| t.to_string()),
            starts_at: changes.starts_at.unwrap_or(old.starts_at),
            ends_at: changes.ends_at.unwrap_or(old.ends_at),
            place: changes.place.as_ref().map_or_else(
                || old.place.clone(),
                |p| p.as_ref().map(|p| p.as_str().to_owned()),
            ),
            description: changes.description.as_ref().map_or_else(
                || old.description.clone(),
                |d| d.as_ref().map(|d| d.as_str().to_owned()),
            ),
            remind_before_minutes: changes
                .remind_before
                .map_or(old.remind_before_minutes, RemindBefore::minutes),
        };
        check_span(new.starts_at, new.ends_at)?;
        let changed = changed_fields(old, &new);
        if changed.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![MeetupEvent::Changed(MeetupChanged {
            meetup_id: plan.meetup_id,
            details: new,
            changed,
            sequence: self.sequence + 1,
            by: actor,
            at,
        })])
    }

    fn decide_cancel(
        &self,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> Result<Vec<MeetupEvent>, DomainError> {
        let plan = self.as_organizer(actor)?;
        if self.cancelled {
            return Ok(vec![]);
        }
        Ok(vec![MeetupEvent::Cancelled(MeetupCancelled {
            meetup_id: plan.meetup_id,
            sequence: self.sequence + 1,
            by: actor,
            at,
        })])
    }

    fn decide_rsvp(
        &self,
        actor: UserId,
        answer: RsvpAnswer,
        at: DateTime<Utc>,
    ) -> Result<Vec<MeetupEvent>, DomainError> {
        let plan = self.as_attendee(actor)?;
        self.not_cancelled()?;
        if self.attendees.get(&actor) == Some(&Some(answer)) {
            return Ok(vec![]);
        }
        Ok(vec![MeetupEvent::RsvpGiven(RsvpGiven {
            meetup_id: plan.meetup_id,
            user_id: actor,
            answer,
            at,
        })])
    }
}

/// A meet-up ends after it starts (when it has an end at all).
pub(crate) fn check_span(
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
) -> Result<(), DomainError> {
    match ends_at {
        Some(end) if end <= starts_at => Err(DomainError::MeetupEndsBeforeStart),
        _ => Ok(()),
    }
}

/// The fields that differ between two sets of details, in a fixed order.
fn changed_fields(old: &MeetupDetails, new: &MeetupDetails) -> Vec<MeetupField> {
    [
        (old.title != new.title, MeetupField::Title),
        (old.starts_at != new.starts_at, MeetupField::StartsAt),
        (old.ends_at != new.ends_at, MeetupField::EndsAt),
        (old.place != new.place, MeetupField::Place),
        (old.description != new.description, MeetupField::Description),
        (
            old.remind_before_minutes != new.remind_before_minutes,
            MeetupField::RemindBeforeMinutes,
        ),
    ]
    .into_iter()
    .filter_map(|(differs, field)| differs.then_some(field))
    .collect()
}

impl Aggregate for Meetup {
    const STREAM_TYPE: StreamType = StreamType::Meetup;
    type Command = MeetupCommand;
    type Event = MeetupEvent;

    fn decide(&self, command: &MeetupCommand) -> Result<Vec<MeetupEvent>, DomainError> {
        use MeetupCommand as C;
        match command {
            C::Change { actor, changes, at } => self.decide_change(*actor, changes, *at),
            C::Cancel { actor, at } => self.decide_cancel(*actor, *at),
            C::Rsvp { actor, answer, at } => self.decide_rsvp(*actor, *answer, *at),
            C::FireReminder {
                user_id,
                starts_at,
                fired_at,
            } => Ok(reminder::fire(self, *user_id, *starts_at, *fired_at)
                .into_iter()
                .map(MeetupEvent::ReminderDue)
                .collect()),
        }
    }

    fn evolve(mut self, event: &MeetupEvent) -> Self {
        match event {
            MeetupEvent::Planned(e) => {
                self.attendees.insert(e.organizer, Some(RsvpAnswer::Going));
                for user in &e.invitees {
                    self.attendees.entry(*user).or_insert(None);
                }
                self.plan = Some(Plan {
                    meetup_id: e.meetup_id,
                    room_id: e.room_id,
                    organizer: e.organizer,
                    details: e.details.clone(),
                    start_set_at: e.at,
                });
            }
            MeetupEvent::Changed(e) => {
                if let Some(plan) = &mut self.plan {
                    if plan.details.starts_at != e.details.starts_at {
                        plan.start_set_at = e.at;
                    }
                    plan.details = e.details.clone();
                }
                self.sequence = e.sequence;
            }
            MeetupEvent::Cancelled(e) => {
                self.cancelled = true;
                self.sequence = e.sequence;
            }
            MeetupEvent::AttendeeInvited(e) => {
                self.attendees.entry(e.user_id).or_insert(None);
            }
            MeetupEvent::RsvpGiven(e) => {
                self.attendees.insert(e.user_id, Some(e.answer));
            }
            MeetupEvent::ReminderDue(e) => {
                self.fired.insert((e.user_id, e.starts_at));
            }
        }
        self
    }
}

#[cfg(test)]
#[path = "meetup_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "meetup_reminder_tests.rs"]
mod reminder_tests;
