//! The due table (`meetup_reminders_due`), derived from the log: follow the
//! log from the table's checkpoint and, for every meet-up an event touched,
//! replace its rows with [`due_reminders`] of its current state. Moving the
//! start replaces the row with one under the new start's id; cancelling, a
//! decline or the reminder's own `meetup.reminder_due` leaves no row.

use super::SchedulerError;
use chrono::{DateTime, Utc};
use domain::event::MeetupEvent;
use domain::meetup::reminder::{due_reminders, reminder_event_id};
use domain::meetup::Meetup;
use domain::{Aggregate, StreamId, StreamType, UserId};
use sqlx::PgPool;
use uuid::Uuid;

/// The checkpoint row of the due table.
const CHECKPOINT: &str = "meetup_reminders_due";
/// Log events read per step.
const PAGE: i64 = 1000;
/// Stream events read per query when loading a meet-up.
const STREAM_PAGE: i64 = 1000;

/// One row of the due table. `starts_at` and `due_at` are as Postgres keeps
/// them (to the microsecond); `reminder_event_id` identifies the reminder
/// exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueRow {
    pub reminder_event_id: Uuid,
    pub meetup_id: Uuid,
    pub user_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// Follow one page of the log into the due table; the number of events read
/// (0: the table is up to date).
pub async fn follow(pool: &PgPool) -> Result<usize, SchedulerError> {
    let after: i64 =
        sqlx::query_scalar("SELECT position FROM scheduler_checkpoints WHERE name = $1")
            .bind(CHECKPOINT)
            .fetch_optional(pool)
            .await?
            .unwrap_or(0);
    // Only which meet-ups the page touched matters: each is reloaded whole.
    let page = eventlog::streams_touched(pool, after, PAGE, StreamType::Meetup).await?;
    let Some(last) = page.last else {
        return Ok(0);
    };
    // States are loaded before the transaction: each is at least as new as
    // the page, and a later event of the same meet-up replaces its rows again.
    let mut states = Vec::with_capacity(page.streams.len());
    for stream in page.streams {
        states.push((stream, load(pool, stream).await?.0));
    }
    let mut tx = pool.begin().await?;
    for (stream, meetup) in &states {
        sqlx::query("DELETE FROM meetup_reminders_due WHERE meetup_id = $1")
            .bind(stream.0)
            .execute(&mut *tx)
            .await?;
        for row in rows_of(*stream, meetup) {
            sqlx::query(
                "INSERT INTO meetup_reminders_due \
                 (reminder_event_id, meetup_id, user_id, starts_at, due_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reminder_event_id) DO UPDATE \
                 SET due_at = EXCLUDED.due_at",
            )
            .bind(row.reminder_event_id)
            .bind(row.meetup_id)
            .bind(row.user_id.0)
            .bind(row.starts_at)
            .bind(row.due_at)
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "INSERT INTO scheduler_checkpoints (name, position) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
    )
    .bind(CHECKPOINT)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(page.read)
}

/// The rows the meet-up owes.
fn rows_of(stream: StreamId, meetup: &Meetup) -> Vec<DueRow> {
    let Some(plan) = &meetup.plan else {
        return vec![];
    };
    due_reminders(meetup)
        .into_iter()
        .map(|r| DueRow {
            reminder_event_id: reminder_event_id(plan.meetup_id, r.starts_at, r.user_id).0,
            meetup_id: stream.0,
            user_id: r.user_id,
            starts_at: r.starts_at,
            due_at: r.due_at,
        })
        .collect()
}

/// Up to `limit` rows due at `now`, earliest first.
pub async fn due_at(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueRow>, SchedulerError> {
    type Row = (Uuid, Uuid, Uuid, DateTime<Utc>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT reminder_event_id, meetup_id, user_id, starts_at, due_at \
         FROM meetup_reminders_due WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, meetup, user, starts_at, due_at)| DueRow {
            reminder_event_id: id,
            meetup_id: meetup,
            user_id: UserId(user),
            starts_at,
            due_at,
        })
        .collect())
}

/// Forget a row the meet-up no longer owes (its state moved on; the next
/// event of the meet-up would replace it anyway).
pub async fn forget(pool: &PgPool, reminder_event_id: Uuid) -> Result<(), SchedulerError> {
    sqlx::query("DELETE FROM meetup_reminders_due WHERE reminder_event_id = $1")
        .bind(reminder_event_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The meet-up's current state and stream version, from its stream.
pub async fn load(pool: &PgPool, stream: StreamId) -> Result<(Meetup, i64), SchedulerError> {
    let mut state = Meetup::default();
    let mut version = 0;
    loop {
        let page = eventlog::read_stream_page(pool, stream, version, STREAM_PAGE).await?;
        let full = page.len() as i64 == STREAM_PAGE;
        for stored in page {
            let event = MeetupEvent::try_from(stored.event)
                .map_err(|_| SchedulerError::NotAMeetup(stream))?;
            state = state.evolve(&event);
            version = stored.version;
        }
        if !full {
            return Ok((state, version));
        }
    }
}
