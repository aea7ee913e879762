//! The reminder scheduler: durable timers driven by the log (issue 17).
//!
//! One scheduler is active across all nodes at a time ([`lease`]: a Postgres
//! advisory lock on a connection of its own). The active one
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
//! lease connection lost) drops the lease, waits with backoff and starts
//! again from the checkpoint; nothing fires without the lease.

pub mod due;
pub mod fire;
pub mod lease;

use chrono::Utc;
use domain::StreamId;
use eventlog::EventStore;
use fire::Outcome;
use lease::Lease;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// How often the active scheduler looks at the log and the due table (the
/// most a reminder is late by while the scheduler runs, plus the append).
const ACTIVE_POLL: Duration = Duration::from_millis(200);
/// How often a standby asks for the lease (the most a hand-over adds to a
/// reminder's lateness after the active one died).
const STANDBY_POLL: Duration = Duration::from_millis(300);
/// Rows fired per pass (the lease is renewed between passes).
const FIRE_BATCH: i64 = 200;
/// Log pages followed per pass.
const FOLLOW_PAGES: usize = 20;
/// First and longest wait after a failure.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// Why a scheduler pass failed (it is retried with backoff).
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

/// Run the scheduler until `cancel` fires: wait for the lease, then follow
/// and fire while holding it. `store` appends the reminder events (and its
/// pool reads the log and the due table); `database_url` opens the lease's
/// own connection.
pub async fn run(store: EventStore, database_url: String, cancel: CancellationToken) {
    let mut backoff = BACKOFF.0;
    while !cancel.is_cancelled() {
        let failure = match Lease::connect(&database_url).await {
            Ok(lease) => match hold(&store, lease, &cancel).await {
                Ok(()) => return,
                Err(e) => e,
            },
            Err(e) => SchedulerError::Database(e),
        };
        tracing::warn!(error = %failure, retry_in_ms = backoff.as_millis() as u64, "reminder scheduler paused");
        metrics::gauge!("cotalk_scheduler_active").set(0.0);
        if sleep(backoff, &cancel).await {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Wait for the lease on `lease`, then work while holding it; `Ok` once
/// cancelled (the lease released), `Err` when the connection or a pass
/// failed (the lease connection is dropped, so the lock is freed).
async fn hold(
    store: &EventStore,
    mut lease: Lease,
    cancel: &CancellationToken,
) -> Result<(), SchedulerError> {
    while !lease.try_acquire().await? {
        if sleep(STANDBY_POLL, cancel).await {
            lease.release().await;
            return Ok(());
        }
    }
    tracing::info!("reminder scheduler active (lease taken)");
    metrics::gauge!("cotalk_scheduler_active").set(1.0);
    loop {
        lease.renew().await?;
        pass(store).await?;
        if sleep(ACTIVE_POLL, cancel).await {
            metrics::gauge!("cotalk_scheduler_active").set(0.0);
            lease.release().await;
            return Ok(());
        }
    }
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
