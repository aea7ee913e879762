//! One batch transaction: take the append lock, check every commit against the
//! streams' current versions in queue order, give the accepted ones positions,
//! and insert all their rows with one multi-row statement per table.

use crate::batcher::DeadEpochs;
use crate::error::is_transient;
use crate::rows::Rows;
use crate::{AppendError, Commit, Committed, SideWrite, APPEND_LOCK_KEY};
use chrono::{DateTime, Utc};
use domain::{EventId, StreamId, UserId};
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

/// A commit with the ids its events will get.
#[derive(Debug)]
pub(crate) struct Request {
    pub commit: Commit,
    /// One per event, in order over all the commit's streams.
    pub event_ids: Vec<EventId>,
    /// Ids came from the caller: check them against the log. Store-made
    /// UUIDv7 ids are not checked (the primary key of `event_ids` still is the
    /// final guard).
    pub ids_supplied: bool,
}

impl Request {
    pub fn event_count(&self) -> usize {
        self.commit.streams.iter().map(|s| s.events.len()).sum()
    }

    /// Every (stream, epoch) this commit's decision was based on.
    pub fn epochs(&self) -> impl Iterator<Item = (StreamId, u64)> + '_ {
        self.commit
            .streams
            .iter()
            .filter_map(|s| s.epoch.map(|e| (s.stream_id, e)))
    }

    fn idempotency_keys(&self) -> impl Iterator<Item = (UserId, &str)> {
        self.commit.side_writes.iter().filter_map(|w| match w {
            SideWrite::Idempotency { user_id, key, .. } => Some((*user_id, key.as_str())),
            SideWrite::Credential { .. }
            | SideWrite::PasswordChanged { .. }
            | SideWrite::DataKey { .. }
            | SideWrite::AccountDeleted { .. } => None,
        })
    }
}

/// Timeouts applied inside the transaction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
}

/// Where a stream stands during the walk over a batch.
struct StreamState {
    stream_type: String,
    version: i64,
}

/// Write `requests` on `conn`, which must be inside a transaction the caller
/// commits. Returns one outcome per request, in order. An `Err` means the
/// transaction is broken and must be rolled back: then nothing is stored.
pub(crate) async fn write_batch(
    conn: &mut PgConnection,
    requests: &[Request],
    dead: &mut DeadEpochs,
    limits: Limits,
) -> Result<Vec<Result<Committed, AppendError>>, sqlx::Error> {
    // The timeouts are set in the same round trip as the lock. lock_timeout is
    // read when a lock wait begins, so it already bounds this statement's wait;
    // statement_timeout applies from the next statement on.
    let recorded_at: DateTime<Utc> = sqlx::query_scalar(
        "WITH settings AS MATERIALIZED ( \
             SELECT set_config('lock_timeout', $2, true), set_config('statement_timeout', $3, true) \
         ), locked AS MATERIALIZED ( \
             SELECT pg_advisory_xact_lock($1) FROM settings \
         ) SELECT now() FROM locked",
    )
    .bind(APPEND_LOCK_KEY)
    .bind(millis(limits.lock_timeout))
    .bind(millis(limits.statement_timeout))
    .fetch_one(&mut *conn)
    .await?;

    let mut streams = load_streams(conn, requests).await?;
    let taken_keys = load_taken_keys(conn, requests).await?;
    let taken_ids = load_taken_ids(conn, requests).await?;

    // Walk the commits in queue order; each accepted one moves its streams on.
    let mut outcomes: Vec<Option<AppendError>> = Vec::with_capacity(requests.len());
    let mut batch_keys: HashSet<(UserId, &str)> = HashSet::new();
    let mut batch_ids: HashSet<EventId> = HashSet::new();
    for request in requests {
        let failure = validate(request)
            .err()
            .or_else(|| check_versions(request, &streams, dead))
            .or_else(|| {
                request
                    .idempotency_keys()
                    .any(|k| taken_keys.contains(&(k.0, k.1.to_owned())) || batch_keys.contains(&k))
                    .then_some(AppendError::IdempotencyKeyExists)
            })
            .or_else(|| {
                request
                    .event_ids
                    .iter()
                    .find(|id| {
                        request.ids_supplied && (taken_ids.contains(id) || batch_ids.contains(id))
                    })
                    .map(|id| AppendError::DuplicateEventId(*id))
            });
        if failure.is_some() {
            // Later commits decided on top of this one must fail too.
            for (stream_id, epoch) in request.epochs() {
                dead.mark(stream_id, epoch);
            }
        } else {
            for append in &request.commit.streams {
                let state = streams
                    .entry(append.stream_id)
                    .or_insert_with(|| StreamState {
                        stream_type: append.stream_type.as_str().to_owned(),
                        version: 0,
                    });
                state.version += append.events.len() as i64;
            }
            batch_keys.extend(request.idempotency_keys());
            batch_ids.extend(request.event_ids.iter().copied());
        }
        outcomes.push(failure);
    }

    let accepted: Vec<&Request> = requests
        .iter()
        .zip(&outcomes)
        .filter_map(|(r, failure)| failure.is_none().then_some(r))
        .collect();
    let total: usize = accepted.iter().map(|r| r.event_count()).sum();
    let mut positions: Vec<i64> = if total > 0 {
        sqlx::query_scalar("SELECT nextval('events_position_seq') FROM generate_series(1, $1)")
            .bind(total as i64)
            .fetch_all(&mut *conn)
            .await?
    } else {
        Vec::new()
    };
    positions.sort_unstable();
    // A commit without events answers with the head: this batch's last
    // position, or the log's if the batch appends nothing.
    let empty_head = if accepted.iter().any(|r| r.event_count() == 0) {
        match positions.last() {
            Some(last) => *last,
            None => {
                sqlx::query_scalar("SELECT coalesce(max(position), 0)::bigint FROM events")
                    .fetch_one(&mut *conn)
                    .await?
            }
        }
    } else {
        0
    };

    let mut rows = Rows::default();
    let mut committed = Vec::with_capacity(accepted.len());
    let mut next = positions.into_iter();
    for request in &accepted {
        committed.push(rows.add(request, &mut next, empty_head, recorded_at));
    }
    rows.insert(conn, recorded_at).await?;

    let mut committed = committed.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|failure| match failure {
            Some(error) => Err(error),
            None => committed
                .next()
                .ok_or_else(|| AppendError::Unavailable("lost track of an accepted commit".into())),
        })
        .collect())
}

/// Run one commit on a connection whose transaction the caller controls, and
/// do not commit. For tests that hold an append transaction open, or roll it
/// back, while the batcher and readers run.
#[doc(hidden)]
pub async fn append_uncommitted(
    conn: &mut PgConnection,
    commit: Commit,
) -> Result<Committed, AppendError> {
    let count = commit.streams.iter().map(|s| s.events.len()).sum();
    let request = Request {
        commit,
        event_ids: (0..count).map(|_| EventId(Uuid::now_v7())).collect(),
        ids_supplied: false,
    };
    let limits = Limits {
        lock_timeout: Duration::from_secs(30),
        statement_timeout: Duration::from_secs(30),
    };
    match write_batch(
        conn,
        std::slice::from_ref(&request),
        &mut DeadEpochs::default(),
        limits,
    )
    .await
    {
        Ok(mut outcomes) => outcomes
            .pop()
            .unwrap_or_else(|| Err(AppendError::Unavailable("no outcome".into()))),
        Err(e) if is_transient(&e) => Err(AppendError::Unavailable(e.to_string())),
        Err(e) => Err(AppendError::Rejected(e.to_string())),
    }
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// Shape checks that need no database.
fn validate(request: &Request) -> Result<(), AppendError> {
    let reject = |reason: String| Err(AppendError::Rejected(reason));
    let mut seen = HashSet::new();
    for append in &request.commit.streams {
        if !seen.insert(append.stream_id) {
            return reject(format!(
                "stream {} appears twice in one commit",
                append.stream_id
            ));
        }
        if append.expected_version < 0 {
            return reject(format!(
                "negative expected version for {}",
                append.stream_id
            ));
        }
        if let Some(e) = append
            .events
            .iter()
            .find(|e| e.stream_type() != append.stream_type)
        {
            return reject(format!(
                "{} event in a {} stream",
                e.event_type(),
                append.stream_type.as_str()
            ));
        }
    }
    if request.event_ids.len() != request.event_count() {
        return reject("one event id per event is required".into());
    }
    if request.event_ids.iter().collect::<HashSet<_>>().len() != request.event_ids.len() {
        return reject("an event id appears twice in one commit".into());
    }
    for write in &request.commit.side_writes {
        if let SideWrite::Idempotency { status, .. } = write {
            if !(100..=599).contains(status) {
                return reject(format!("http status {status} out of range"));
            }
        }
    }
    let keys: HashSet<_> = request.idempotency_keys().collect();
    if keys.len() != request.idempotency_keys().count() {
        return reject("an idempotency key appears twice in one commit".into());
    }
    Ok(())
}

/// The version check, with the dead-epoch rule first.
fn check_versions(
    request: &Request,
    streams: &HashMap<StreamId, StreamState>,
    dead: &DeadEpochs,
) -> Option<AppendError> {
    request.commit.streams.iter().find_map(|append| {
        let current = streams.get(&append.stream_id);
        let actual = current.map_or(0, |s| s.version);
        let conflict = AppendError::Conflict {
            stream_id: append.stream_id,
            expected: append.expected_version,
            actual,
        };
        if append
            .epoch
            .is_some_and(|e| dead.contains(append.stream_id, e))
        {
            return Some(conflict);
        }
        if let Some(state) = current {
            if state.stream_type != append.stream_type.as_str() {
                return Some(AppendError::Rejected(format!(
                    "stream {} is a {} stream, not {}",
                    append.stream_id,
                    state.stream_type,
                    append.stream_type.as_str()
                )));
            }
        }
        (append.expected_version != actual).then_some(conflict)
    })
}

async fn load_streams(
    conn: &mut PgConnection,
    requests: &[Request],
) -> Result<HashMap<StreamId, StreamState>, sqlx::Error> {
    let ids: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| r.commit.streams.iter().map(|s| s.stream_id.0))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // FOR UPDATE is redundant while every writer takes the append lock, and
    // keeps the check sound against any writer that does not.
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT stream_id, stream_type, version FROM streams WHERE stream_id = ANY($1) FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, stream_type, version)| {
            (
                StreamId(id),
                StreamState {
                    stream_type,
                    version,
                },
            )
        })
        .collect())
}

async fn load_taken_keys(
    conn: &mut PgConnection,
    requests: &[Request],
) -> Result<HashSet<(UserId, String)>, sqlx::Error> {
    let (users, keys): (Vec<Uuid>, Vec<&str>) = requests
        .iter()
        .flat_map(Request::idempotency_keys)
        .map(|(user, key)| (user.0, key))
        .unzip();
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT k.user_id, k.key FROM idempotency_keys k \
         JOIN UNNEST($1::uuid[], $2::text[]) AS u(user_id, key) \
           ON k.user_id = u.user_id AND k.key = u.key",
    )
    .bind(&users)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(u, k)| (UserId(u), k)).collect())
}

async fn load_taken_ids(
    conn: &mut PgConnection,
    requests: &[Request],
) -> Result<HashSet<EventId>, sqlx::Error> {
    let ids: Vec<Uuid> = requests
        .iter()
        .filter(|r| r.ids_supplied)
        .flat_map(|r| r.event_ids.iter().map(|id| id.0))
        .collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM event_ids WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(EventId).collect())
}
