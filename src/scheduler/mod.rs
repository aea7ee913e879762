//! The reminder scheduler: durable timers driven by the log (issue 17).
//!
//! One scheduler is active across all nodes at a time (the `scheduler`
//! lease: a Postgres advisory lock on a connection of its own, see the
//! `lease` crate). The active one
//!
//! 1. follows the log from its checkpoint into the due table
//!    `meetup_reminders_due` ([`due`]: every touched meet-up's rows are
//!    replaced by `domain::meetup::reminder::due_reminders` of its state, so
//!    moving the start reschedules and cancelling removes), then
//! 2. fires every row whose `due_at` has passed ([`fire`]): it decides
//!    `MeetupCommand::FireReminder` and appends `meetup.reminder_due` under
//!    the reminder's deterministic event id. The log refuses an id it holds,
//!    which the scheduler takes as "already fired": a crash between the
//!    append and anything after it, or two schedulers during a lease
//!    hand-over, cannot record a reminder twice.
//!
//! A reminder whose time passed while no scheduler ran is still in the table
//! (or is put back by following the log) and fires on the next pass, late,
//! with `late_by_ms` in the event. Every failure (Postgres restarting, the
//! lease connection lost, a failed pass) stops the scheduler and gives the
//! lease up; it waits with backoff and competes again, starting from the
//! checkpoint. Nothing fires without the lease.

pub mod due;
pub mod fire;

use chrono::Utc;
use domain::StreamId;
use eventlog::EventStore;
use fire::Outcome;
use lease::{LeaseKey, Leased, Timing};
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// How often the active scheduler looks at the log and the due table (the
/// most a reminder is late by while the scheduler runs, plus the append).
const ACTIVE_POLL: Duration = Duration::from_millis(200);
/// How often a standby asks for the lease (with the lease's settle time,
/// the most a hand-over adds to a reminder's lateness after the active one
/// died).
const STANDBY_POLL: Duration = Duration::from_millis(300);
/// Rows fired per pass.
const FIRE_BATCH: i64 = 200;
/// Log pages followed per pass.
const FOLLOW_PAGES: usize = 20;
/// The scheduler's lease name (its `application_name` is then
/// `cotalk-scheduler-<pid>`).
pub const LEASE: &str = "scheduler";

/// Why a scheduler pass failed (the scheduler gives the lease up and
/// competes again after a backoff).
#[derive(Debug, Error)]
pub enum SchedulerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event log: {0}")]
    Store(#[from] eventlog::StoreError),
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    #[error("append refused: {0}")]
    Rejected(String),
    #[error("stream {0} holds an event that is not a meet-up's")]
    NotAMeetup(StreamId),
}

/// Run the scheduler of `namespace` until `cancel` fires: compete for its
/// lease on `database_url`, and follow and fire while holding it. `store`
/// appends the reminder events (and its pool reads the log and the due
/// table).
pub fn spawn(
    store: EventStore,
    database_url: String,
    namespace: &str,
    cancel: CancellationToken,
) -> Leased {
    let timing = Timing {
        standby_poll: STANDBY_POLL,
        ..Timing::default()
    };
    lease::spawn(
        database_url,
        LeaseKey::new(namespace, LEASE),
        timing,
        cancel,
        move |token| active(store.clone(), token),
    )
}

/// Follow and fire until `cancel` fires (the lease was lost or the process
/// stops) or a pass fails.
async fn active(store: EventStore, cancel: CancellationToken) {
    metrics::gauge!("cotalk_scheduler_active").set(1.0);
    loop {
        if let Err(e) = pass(&store).await {
            tracing::warn!(error = %e, "reminder scheduler pass failed");
            break;
        }
        if sleep(ACTIVE_POLL, &cancel).await {
            break;
        }
    }
    metrics::gauge!("cotalk_scheduler_active").set(0.0);
}

/// One pass: follow the log into the due table, then fire what is due.
async fn pass(store: &EventStore) -> Result<(), SchedulerError> {
    for _ in 0..FOLLOW_PAGES {
        if due::follow(store.pool()).await? == 0 {
            break;
        }
    }
    let now = Utc::now();
    for row in due::due_at(store.pool(), now, FIRE_BATCH).await? {
        match fire::fire(store, &row, Utc::now()).await? {
            Outcome::Fired { late_by_ms } => {
                tracing::info!(
                    meetup_id = %row.meetup_id, user_id = %row.user_id.0,
                    reminder_event_id = %row.reminder_event_id, late_by_ms,
                    "meet-up reminder fired"
                );
                metrics::counter!("cotalk_reminders_fired_total").increment(1);
                metrics::histogram!("cotalk_reminder_late_ms").record(late_by_ms as f64);
            }
            Outcome::AlreadyFired => {
                tracing::info!(reminder_event_id = %row.reminder_event_id, "reminder already fired");
                metrics::counter!("cotalk_reminders_already_fired_total").increment(1);
            }
            Outcome::Stale | Outcome::Retry => {}
        }
    }
    Ok(())
}

/// Sleep `period` unless cancelled first; `true` when cancelled.
async fn sleep(period: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(period) => false,
    }
}
