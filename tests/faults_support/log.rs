//! The event log against the acknowledgements: every acknowledged command's
//! events are in the log exactly once. Each event carries the command's
//! `Idempotency-Key` and `command_id` in its metadata (one `command_id` per
//! execution), so the events of one key grouped together must come from one
//! execution and end at the position the answer named. The scheduler's
//! `meetup.reminder_due` events carry no key (no client asked for them):
//! [`reminders`] counts them instead, and that no reminder fired twice.

use super::client::{Ack, UploadAck};
use sqlx::PgPool;
use std::collections::BTreeMap;

/// How the log compares with the acknowledgements.
#[derive(Debug, Default)]
pub struct LogCheck {
    /// Acknowledged commands none of whose events are in the log, or whose
    /// events do not end at the acknowledged position.
    pub lost: Vec<String>,
    /// Acknowledged commands executed more than once (events of two or more
    /// `command_id`s under one key).
    pub duplicated: Vec<String>,
    /// Keys in the log that no acknowledgement names (the load retries every
    /// command until acknowledged, so there must be none).
    pub unacknowledged: Vec<String>,
    /// Events in the log without an idempotency key (every command of the
    /// load sends one), the scheduler's reminders aside; uploads take none
    /// and are checked by [`check_uploads`].
    pub unkeyed: i64,
    /// The position of the last keyed event (the last acknowledged command's).
    pub last_keyed: i64,
}

impl LogCheck {
    /// Every acknowledged command's events exactly once, and nothing else
    /// keyed or unkeyed in the log.
    pub fn assert_exactly_once(&self) {
        assert!(self.lost.is_empty(), "lost: {:?}", self.lost);
        assert!(
            self.duplicated.is_empty(),
            "duplicated: {:?}",
            self.duplicated
        );
        assert!(
            self.unacknowledged.is_empty() && self.unkeyed == 0,
            "events of no acknowledged command: {:?}, {} without a key \
             (the log must start empty: for the cluster, scripts/cluster-cotalk reset)",
            self.unacknowledged,
            self.unkeyed
        );
    }
}

/// The scheduler's reminders in the log.
#[derive(Debug, Default)]
pub struct Reminders {
    /// `meetup.reminder_due` events.
    pub fired: i64,
    /// Distinct (meet-up, user, start) among them: equal to `fired` when
    /// none fired twice.
    pub distinct: i64,
    /// The largest `late_by_ms` (how late the latest one fired).
    pub worst_late_ms: i64,
    /// The position of the last of them (0: none).
    pub last_position: i64,
}

/// Count the reminders of `pool`'s log.
pub async fn reminders(pool: &PgPool) -> Reminders {
    let (fired, distinct, worst, last): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT count(*)::bigint,
                count(DISTINCT (payload->>'meetup_id', payload->>'user_id',
                                (payload->>'starts_at')::timestamptz))::bigint,
                max((payload->>'late_by_ms')::bigint), max(position)
           FROM events WHERE event_type = 'meetup.reminder_due'",
    )
    .fetch_one(pool)
    .await
    .expect("count the reminders");
    Reminders {
        fired,
        distinct,
        worst_late_ms: worst.unwrap_or(0),
        last_position: last.unwrap_or(0),
    }
}

/// Compare the log of `pool` with `acks`.
pub async fn check(pool: &PgPool, acks: &[Ack]) -> LogCheck {
    let rows: Vec<(Option<String>, i64, i64, i64)> = sqlx::query_as(
        "SELECT metadata->>'idempotency_key', count(*)::bigint,
                count(DISTINCT metadata->>'command_id')::bigint, max(position)
           FROM events
          WHERE event_type <> 'meetup.reminder_due'
            AND (metadata->>'idempotency_key' IS NOT NULL
                 OR event_type <> 'room.attachment_uploaded')
          GROUP BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("group the log by idempotency key");
    let mut out = LogCheck::default();
    let mut by_key: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (key, events, executions, last) in rows {
        match key {
            Some(k) => {
                out.last_keyed = out.last_keyed.max(last);
                by_key.insert(k, (events, executions, last));
            }
            None => out.unkeyed += events,
        }
    }
    for ack in acks {
        match by_key.remove(&ack.key) {
            None => out.lost.push(format!("{}: no events", ack.key)),
            Some((events, executions, last)) => {
                if executions > 1 {
                    out.duplicated.push(format!(
                        "{}: {events} events from {executions} executions",
                        ack.key
                    ));
                } else if last != ack.position {
                    out.lost.push(format!(
                        "{}: acknowledged at {} but its events end at {last}",
                        ack.key, ack.position
                    ));
                }
            }
        }
    }
    out.unacknowledged = by_key.into_keys().collect();
    out
}

/// Acknowledged uploads missing from the log or recorded at another
/// position than their answer named. Uploads the load retried after losing
/// the answer may be in the log unacknowledged (the contract's orphans);
/// returns those too, as a count.
pub async fn check_uploads(pool: &PgPool, uploads: &[UploadAck]) -> (Vec<String>, usize) {
    let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT payload->'attachment'->>'attachment_id', position
           FROM events WHERE event_type = 'room.attachment_uploaded'",
    )
    .fetch_all(pool)
    .await
    .expect("read the uploads in the log");
    let mut logged: BTreeMap<String, i64> = rows
        .into_iter()
        .map(|(id, p)| (id.unwrap_or_default(), p))
        .collect();
    let mut lost = Vec::new();
    for u in uploads {
        match logged.remove(&u.attachment_id.to_string()) {
            Some(p) if p == u.position => {}
            Some(p) => lost.push(format!(
                "upload {}: acknowledged at {} but logged at {p}",
                u.attachment_id, u.position
            )),
            None => lost.push(format!("upload {}: not in the log", u.attachment_id)),
        }
    }
    (lost, logged.len())
}
