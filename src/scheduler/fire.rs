//! Firing one due reminder: decide `MeetupCommand::FireReminder` on the
//! meet-up's current state and append the event under its deterministic id.

use super::due::{self, DueRow};
use super::SchedulerError;
use chrono::{DateTime, Utc};
use domain::event::MeetupEvent;
use domain::meetup::reminder::{due_reminders, reminder_event_id};
use domain::meetup::MeetupCommand;
use domain::{Aggregate, EventId, EventMetadata, StreamId, StreamType};
use eventlog::{AppendError, Commit, EventStore, StreamAppend};

/// What became of one due row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The reminder event is in the log now, `late_by_ms` after its due time.
    Fired { late_by_ms: u64 },
    /// The log already holds its id: someone fired it before (another
    /// scheduler, or this one before a crash).
    AlreadyFired,
    /// The meet-up no longer owes it (moved, cancelled, declined, fired).
    Stale,
    /// The meet-up changed while deciding; the next pass tries again.
    Retry,
}

/// Fire `row` at `now` (never before its due time: the domain refuses).
pub async fn fire(
    store: &EventStore,
    row: &DueRow,
    now: DateTime<Utc>,
) -> Result<Outcome, SchedulerError> {
    let stream = StreamId(row.meetup_id);
    let (meetup, version) = due::load(store.pool(), stream).await?;
    // The row's `starts_at` went through `timestamptz` (microseconds); the
    // reminder's identity has the start to the nanosecond, so it is found
    // again by its id among what the meet-up owes now.
    let owed = meetup.plan.as_ref().and_then(|plan| {
        due_reminders(&meetup).into_iter().find(|r| {
            reminder_event_id(plan.meetup_id, r.starts_at, r.user_id).0 == row.reminder_event_id
        })
    });
    let Some(owed) = owed else {
        due::forget(store.pool(), row.reminder_event_id).await?;
        return Ok(Outcome::Stale);
    };
    let command = MeetupCommand::FireReminder {
        user_id: owed.user_id,
        starts_at: owed.starts_at,
        fired_at: now,
    };
    let events = meetup.decide(&command).unwrap_or_default();
    let [MeetupEvent::ReminderDue(reminder)] = events.as_slice() else {
        due::forget(store.pool(), row.reminder_event_id).await?;
        return Ok(Outcome::Stale);
    };
    let late_by_ms = reminder.late_by_ms;
    let event_id: EventId = reminder.event_id();
    let commit = Commit {
        streams: vec![StreamAppend {
            stream_id: stream,
            stream_type: StreamType::Meetup,
            expected_version: version,
            events: events.into_iter().map(Into::into).collect(),
            epoch: None,
        }],
        metadata: EventMetadata {
            correlation_id: Some(event_id.0),
            ..EventMetadata::default()
        },
        side_writes: vec![],
    };
    match store.append_with_event_ids(commit, vec![event_id]).await {
        Ok(_) => Ok(Outcome::Fired { late_by_ms }),
        Err(AppendError::DuplicateEventId(_)) => Ok(Outcome::AlreadyFired),
        Err(AppendError::Conflict { .. }) => Ok(Outcome::Retry),
        Err(AppendError::Unavailable(reason)) => Err(SchedulerError::Unavailable(reason)),
        Err(e) => Err(SchedulerError::Rejected(e.to_string())),
    }
}
