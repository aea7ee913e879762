//! Events of the meet-up stream (issue 17). Part of [`crate::event`]'s
//! contract (same naming, same versioning); a file of its own only to keep
//! `event.rs` readable. The rules that produce them live in
//! [`crate::meetup`].

use crate::error::DomainError;
use crate::ids::{EventId, MeetupId, RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An attendee's answer to a meet-up. `pending` (no answer yet) is not an
/// answer anyone can give: it is the absence of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RsvpAnswer {
    Going,
    Maybe,
    Declined,
}

impl RsvpAnswer {
    /// Parse an answer as a client sends it; anything else (`pending`
    /// included) is `invalid_rsvp`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "going" => Ok(Self::Going),
            "maybe" => Ok(Self::Maybe),
            "declined" => Ok(Self::Declined),
            _ => Err(DomainError::InvalidRsvp),
        }
    }

    /// The answer's name, as stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Going => "going",
            Self::Maybe => "maybe",
            Self::Declined => "declined",
        }
    }

    /// Whether an attendee who answered this is reminded (API.md: `going`
    /// or `maybe`).
    pub fn is_reminded(self) -> bool {
        matches!(self, Self::Going | Self::Maybe)
    }
}

/// The details of a meet-up the organizer can change (everything but who
/// attends). [`MeetupPlanned`] carries the first ones, each
/// [`MeetupChanged`] the complete new ones, so a projection overwrites
/// rather than merges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetupDetails {
    /// 1–100 characters; also the name the meet-up's room was created with.
    pub title: String,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at` when present.
    pub ends_at: Option<DateTime<Utc>>,
    pub place: Option<String>,
    pub description: Option<String>,
    /// Attendees who answered `going` or `maybe` are reminded this long
    /// before `starts_at` (0–10080).
    pub remind_before_minutes: u32,
}

/// One changeable field of a meet-up, as listed in [`MeetupChanged::changed`]
/// (notifications say what changed without diffing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetupField {
    Title,
    StartsAt,
    EndsAt,
    Place,
    Description,
    RemindBeforeMinutes,
}

/// `organizer` planned a meet-up with its own group room `room_id`, created
/// in the same commit (its `room.created` lists the organizer and the
/// invitees). The organizer attends, answered `going`; each invitee attends
/// with no answer yet (`pending`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetupPlanned {
    pub meetup_id: MeetupId,
    pub room_id: RoomId,
    pub organizer: UserId,
    pub details: MeetupDetails,
    /// Deduplicated, never the organizer.
    pub invitees: Vec<UserId>,
    pub at: DateTime<Utc>,
}

/// The organizer changed some details. `details` are all of them after the
/// change; `changed` names the ones that differ (never empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetupChanged {
    pub meetup_id: MeetupId,
    pub details: MeetupDetails,
    pub changed: Vec<MeetupField>,
    /// 1 for the first change or cancellation, then 2, 3 … (iCalendar's
    /// `SEQUENCE`; the plan is sequence 0).
    pub sequence: u32,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// The organizer cancelled the meet-up. It is kept (answered with
/// `cancelled: true`, `STATUS:CANCELLED` in calendars) and nothing about it
/// changes any more; its room stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetupCancelled {
    pub meetup_id: MeetupId,
    /// Bumped like a change, so calendars replace the entry.
    pub sequence: u32,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// An attendee (`by`) invited `user_id`, who now attends with no answer yet;
/// a `room.member_added` on the meet-up's room goes with it unless they are
/// in the room already.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendeeInvited {
    pub meetup_id: MeetupId,
    pub user_id: UserId,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// An attendee answered (or changed their answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsvpGiven {
    pub meetup_id: MeetupId,
    pub user_id: UserId,
    pub answer: RsvpAnswer,
    pub at: DateTime<Utc>,
}

/// The reminder of `user_id` for the meet-up starting at `starts_at` came
/// due and was fired (the notification and frame come from this event).
/// Stored under the id [`MeetupReminderDue::event_id`], a pure function of
/// the meet-up, the user and the start time, so the log's unique event id
/// lets it be recorded at most once whoever fires it, however often.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetupReminderDue {
    pub meetup_id: MeetupId,
    pub user_id: UserId,
    pub starts_at: DateTime<Utc>,
    /// `starts_at − remind_before_minutes` when it fired.
    pub due_at: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    /// `fired_at − due_at` in milliseconds (never negative: none fires early).
    pub late_by_ms: u64,
}

impl MeetupReminderDue {
    /// The id this event must be stored under.
    pub fn event_id(&self) -> EventId {
        crate::meetup::reminder::reminder_event_id(self.meetup_id, self.starts_at, self.user_id)
    }
}

/// A user's calendar feed got a new token (issue 17): the feed
/// (`GET /v1/me/calendar.ics?token=`) answers to the token whose SHA-256 is
/// `token_hash` (hex) and to no earlier one. Only the hash is logged; the
/// token itself is shown once, to its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFeedRotated {
    pub user_id: UserId,
    pub token_hash: String,
    pub at: DateTime<Utc>,
}

/// Events of a meet-up stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeetupEvent {
    Planned(MeetupPlanned),
    Changed(MeetupChanged),
    Cancelled(MeetupCancelled),
    AttendeeInvited(AttendeeInvited),
    RsvpGiven(RsvpGiven),
    ReminderDue(MeetupReminderDue),
}

impl MeetupEvent {
    /// The meet-up the event belongs to.
    pub fn meetup_id(&self) -> MeetupId {
        match self {
            Self::Planned(e) => e.meetup_id,
            Self::Changed(e) => e.meetup_id,
            Self::Cancelled(e) => e.meetup_id,
            Self::AttendeeInvited(e) => e.meetup_id,
            Self::RsvpGiven(e) => e.meetup_id,
            Self::ReminderDue(e) => e.meetup_id,
        }
    }
}
