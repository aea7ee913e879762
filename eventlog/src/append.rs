//! One batch transaction: take the append lock, check every commit against the
//! streams' current versions in queue order, give the accepted ones positions,
//! and insert all their rows with one multi-row statement per table.

use crate::batcher::DeadEpochs;
use crate::error::is_transient;
use crate::rows::{Plan, Rows};
use crate::{AppendError, Commit, Committed, SideWrite, APPEND_LOCK_KEY};
use chrono::{DateTime, Utc};
use domain::{EventId, StoredEvent, StreamId, UserId};
use serde_json::value::{to_raw_value, RawValue};
use sqlx::{Executor, PgConnection, Row};
use std::collections::hash_map::Entry;
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
    /// The events' payloads, one per event in order, and the commit's
    /// metadata, as JSON text. Encoded on the caller's task by
    /// [`Request::new`], not on the batcher's thread, which is busy while a
    /// batch holds the append lock.
    pub payloads: Vec<Box<RawValue>>,
    pub metadata: Box<RawValue>,
}

/// Where a written commit's events went: the caller's task makes the
/// [`Committed`] of it ([`Request::committed`]), moving the events instead
/// of the batcher's thread copying them.
#[derive(Debug)]
pub(crate) struct Written {
    /// The positions of the commit's events, in order.
    pub positions: Vec<i64>,
    /// [`Committed::position`].
    pub position: i64,
    /// The batch transaction's time, stored on every event.
    pub recorded_at: DateTime<Utc>,
}

impl Request {
    /// A commit with its event ids, its JSON encoded.
    pub fn new(
        commit: Commit,
        event_ids: Vec<EventId>,
        ids_supplied: bool,
    ) -> Result<Self, AppendError> {
        let unencodable = |e: serde_json::Error| AppendError::Rejected(format!("unencodable: {e}"));
        let payloads = commit
            .streams
            .iter()
            .flat_map(|s| &s.events)
            .map(|e| to_raw_value(&e.payload_ref()))
            .collect::<Result<_, _>>()
            .map_err(unencodable)?;
        let metadata = to_raw_value(&commit.metadata).map_err(unencodable)?;
        Ok(Self {
            commit,
            event_ids,
            ids_supplied,
            payloads,
            metadata,
        })
    }

    /// The stored events of this commit, written as `written` says.
    pub fn committed(self, written: Written) -> Committed {
        let Written {
            positions,
            position,
            recorded_at,
        } = written;
        let metadata = self.commit.metadata;
        let mut ids = self.event_ids.into_iter();
        let mut positions = positions.into_iter();
        let mut events = Vec::with_capacity(ids.len());
        for append in self.commit.streams {
            for (offset, event) in append.events.into_iter().enumerate() {
                let (Some(position), Some(event_id)) = (positions.next(), ids.next()) else {
                    break;
                };
                events.push(StoredEvent {
                    position,
                    event_id,
                    stream_id: append.stream_id,
                    stream_type: append.stream_type,
                    version: append.expected_version + offset as i64 + 1,
                    metadata: metadata.clone(),
                    recorded_at,
                    event,
                });
            }
        }
        Committed { position, events }
    }

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

/// Write `requests` on `conn`, inside a transaction that holds the append
/// lock ([`lock`]) and that the caller commits; `recorded_at` is the
/// transaction's time, which [`lock`] read. Returns one outcome
/// per request, in order. An `Err` means the transaction is broken and must
/// be rolled back: then nothing is stored.
pub(crate) async fn write_batch(
    conn: &mut PgConnection,
    requests: &[Request],
    dead: &mut DeadEpochs,
    recorded_at: DateTime<Utc>,
) -> Result<Vec<Result<Written, AppendError>>, sqlx::Error> {
    let Snapshot {
        positions: mut drawn,
        mut streams,
        taken,
    } = snapshot(conn, requests).await?;
    let outcomes = walk(requests, &mut streams, dead, &taken, Walk::Check);
    let accepted: Vec<&Request> = requests
        .iter()
        .zip(&outcomes)
        .filter_map(|(r, failure)| failure.is_none().then_some(r))
        .collect();
    // Positions were drawn for every event of the batch; a refused commit
    // leaves its numbers unused (a hole, as a rolled-back batch leaves).
    drawn.sort_unstable();
    let mut drawn = drawn.into_iter();
    let mut positions = Vec::with_capacity(drawn.len());
    for (request, failure) in requests.iter().zip(&outcomes) {
        let theirs = drawn.by_ref().take(request.event_count());
        if failure.is_none() {
            positions.extend(theirs);
        } else {
            theirs.for_each(drop);
        }
    }
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
    let mut written = Vec::with_capacity(accepted.len());
    let mut next = positions.into_iter();
    for request in accepted.iter().copied() {
        written.push(rows.add(request, &mut next, empty_head, recorded_at));
    }
    rows.insert(conn, recorded_at).await?;

    let mut written = written.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|failure| match failure {
            Some(error) => Err(error),
            None => written
                .next()
                .ok_or_else(|| AppendError::Unavailable("lost track of an accepted commit".into())),
        })
        .collect())
}

/// What of a batch's idempotency keys and caller-supplied event ids the
/// log already holds.
#[derive(Default)]
struct Taken {
    keys: HashSet<(UserId, String)>,
    ids: HashSet<EventId>,
}

impl Taken {
    /// Whether `key` of `user` is taken. A planned walk's set is empty, and
    /// the lookup's owned key would cost it an allocation per commit.
    fn holds_key(&self, (user, key): (UserId, &str)) -> bool {
        !self.keys.is_empty() && self.keys.contains(&(user, key.to_owned()))
    }
}

/// Why a walk is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Judge every commit; a refused one marks its epochs dead, so the
    /// commits decided on top of it are refused too.
    Check,
    /// See whether every commit would be accepted; stop at the first that
    /// would not, marking nothing (the batch is then walked again, checked).
    Plan,
}

/// Judge the commits in queue order against `streams` (each one's type and
/// version, advanced by the commits accepted before), the dead epochs and
/// what is `taken`. One refusal or `None` per commit, in order; a
/// [`Walk::Plan`] stops at the first refusal, the last of what it returns.
fn walk(
    requests: &[Request],
    streams: &mut HashMap<StreamId, StreamState>,
    dead: &mut DeadEpochs,
    taken: &Taken,
    why: Walk,
) -> Vec<Option<AppendError>> {
    let mut outcomes: Vec<Option<AppendError>> = Vec::with_capacity(requests.len());
    let mut batch_keys: HashSet<(UserId, &str)> = HashSet::new();
    let mut batch_ids: HashSet<EventId> = HashSet::new();
    for request in requests {
        let failure = validate(request)
            .err()
            .or_else(|| check_versions(request, streams, dead))
            .or_else(|| {
                request
                    .idempotency_keys()
                    .any(|k| taken.holds_key(k) || batch_keys.contains(&k))
                    .then_some(AppendError::IdempotencyKeyExists)
            })
            .or_else(|| {
                request
                    .event_ids
                    .iter()
                    .find(|id| {
                        request.ids_supplied && (taken.ids.contains(id) || batch_ids.contains(id))
                    })
                    .map(|id| AppendError::DuplicateEventId(*id))
            });
        if failure.is_some() {
            if why == Walk::Plan {
                outcomes.push(failure);
                break;
            }
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
    outcomes
}

/// Whether `request` may go in a batch written by [`write_once`]: it has
/// events (an event-less commit's position is the log's head, which only a
/// read gives) and no side writes but an Idempotency-Key answer (accounts,
/// passwords and keys are written by statements of their own, in a
/// transaction).
pub(crate) fn fits_once(request: &Request) -> bool {
    request.event_count() > 0
        && request
            .commit
            .side_writes
            .iter()
            .all(|w| matches!(w, SideWrite::Idempotency { .. }))
}

/// Judge `requests` from the commits alone: each stream is assumed to stand
/// where the first commit in the batch to touch it expects, and nothing the
/// batch writes to be taken. The plan, what the batch assumed of its
/// streams, when every commit passes the walk ([`Walk::Plan`]) and fits
/// [`write_once`]; `None` otherwise, and the batch is written checked.
pub(crate) fn plan(requests: &[Request], dead: &mut DeadEpochs) -> Option<Plan> {
    if !requests.iter().all(fits_once) {
        return None;
    }
    let mut plan = Plan::default();
    let mut streams = HashMap::new();
    for append in requests.iter().flat_map(|r| &r.commit.streams) {
        if let Entry::Vacant(entry) = streams.entry(append.stream_id) {
            let stream_type = append.stream_type.as_str();
            plan.stream_ids.push(append.stream_id.0);
            plan.stream_types.push(stream_type);
            plan.versions.push(append.expected_version);
            entry.insert(StreamState {
                stream_type: stream_type.to_owned(),
                version: append.expected_version,
            });
        }
    }
    let walked = walk(requests, &mut streams, dead, &Taken::default(), Walk::Plan);
    walked.iter().all(Option::is_none).then_some(plan)
}

/// Write a [`plan`]ned batch in one statement that is its own transaction
/// ([`Rows::insert_once`]): the append lock, the check of the plan, the
/// positions, the rows and the commit, with no round trip to this thread
/// while the lock is held. The steady state, where the repositories' caches
/// make the expected versions right. Call it on a connection outside a
/// transaction block.
///
/// `Ok`: written and committed, one [`Written`] per request. An error
/// response from the server (the plan does not hold, a taken key or id)
/// means nothing was written; anything else (a broken connection, an
/// answer that cannot be read) leaves the outcome unknown, and
/// [`written_before`] tells, under the lock.
pub(crate) async fn write_once(
    conn: &mut PgConnection,
    requests: &[Request],
    plan: &Plan,
    lock_timeout: Duration,
) -> Result<Vec<Written>, sqlx::Error> {
    let mut rows = Rows::default();
    // Ordinals, which the statement turns into the positions it draws.
    let mut ordinals = 1..;
    let drafts: Vec<Written> = requests
        .iter()
        .map(|request| rows.add(request, &mut ordinals, 0, DateTime::UNIX_EPOCH))
        .collect();
    let (drawn, micros) = rows.insert_once(conn, &millis(lock_timeout), plan).await?;
    let recorded_at = transaction_time(micros)?;
    let position = |ordinal: i64| {
        usize::try_from(ordinal - 1)
            .ok()
            .and_then(|i| drawn.get(i).copied())
            .ok_or_else(|| sqlx::Error::Protocol(format!("no position drawn for event {ordinal}")))
    };
    drafts
        .into_iter()
        .map(|draft| {
            Ok(Written {
                positions: draft
                    .positions
                    .into_iter()
                    .map(position)
                    .collect::<Result<_, _>>()?,
                position: position(draft.position)?,
                recorded_at,
            })
        })
        .collect()
}

/// Whether a batch [`write_once`] sent, whose answer was lost, is in the
/// log: every one of its events stored under its id, in
/// its stream, at its version (the statement is one transaction, all or
/// nothing). Read under the append lock, so that statement has either
/// committed by now or never will (it would find its streams moved on).
/// One [`Written`] per request, as the statement would have answered;
/// `None` if the batch is not there.
pub(crate) async fn written_before(
    conn: &mut PgConnection,
    requests: &[Request],
) -> sqlx::Result<Option<Vec<Written>>> {
    let ids: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| r.event_ids.iter().map(|id| id.0))
        .collect();
    let found: Vec<(Uuid, i64, Uuid, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT i.event_id, e.position, e.stream_id, e.version, e.recorded_at \
         FROM event_ids i JOIN events e ON e.position = i.position \
         WHERE i.event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    if found.len() != ids.len() {
        return Ok(None);
    }
    let found: HashMap<Uuid, (i64, Uuid, i64, DateTime<Utc>)> = found
        .into_iter()
        .map(|(id, position, stream, version, at)| (id, (position, stream, version, at)))
        .collect();
    let mut written = Vec::with_capacity(requests.len());
    for request in requests {
        let mut ids = request.event_ids.iter();
        let mut positions = Vec::with_capacity(request.event_ids.len());
        let mut recorded_at = None;
        for append in &request.commit.streams {
            for offset in 0..append.events.len() {
                let version = append.expected_version + offset as i64 + 1;
                match ids.next().and_then(|id| found.get(&id.0)) {
                    Some(&(position, stream, stored, at))
                        if stream == append.stream_id.0 && stored == version =>
                    {
                        positions.push(position);
                        recorded_at = Some(at);
                    }
                    _ => return Ok(None),
                }
            }
        }
        let (Some(&position), Some(recorded_at)) = (positions.last(), recorded_at) else {
            return Ok(None);
        };
        written.push(Written {
            positions,
            position,
            recorded_at,
        });
    }
    Ok(Some(written))
}

/// How a batch was written, for the counts in [`crate::BatchCounts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    Planned,
    Checked,
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
    let event_ids = (0..count).map(|_| EventId(Uuid::now_v7())).collect();
    let request = Request::new(commit, event_ids, false)?;
    let limits = Limits {
        lock_timeout: Duration::from_secs(30),
        statement_timeout: Duration::from_secs(30),
    };
    let written = match lock(conn, limits, Opening::Open).await {
        Ok(recorded_at) => {
            write_batch(
                conn,
                std::slice::from_ref(&request),
                &mut DeadEpochs::default(),
                recorded_at,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match written {
        Ok(mut outcomes) => outcomes
            .pop()
            .unwrap_or_else(|| Err(AppendError::Unavailable("no outcome".into())))
            .map(|written| request.committed(written)),
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

/// Who opens the batch's transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// [`lock`] sends `BEGIN` in the same round trip.
    Begin,
    /// The caller already opened it.
    Open,
}

/// Set the transaction's timeouts, take the append lock and read the
/// transaction's time (`now()`, stored on every event), in one round trip
/// (with `BEGIN` first when [`Opening::Begin`]).
/// The batch's statements run with generic plans: planned once per
/// connection rather than for every batch, which cost more than running
/// them. Simple-query text: every value in it is a number this module
/// formats. The time is read by a statement of its own, after the lock is
/// granted.
pub(crate) async fn lock(
    conn: &mut PgConnection,
    limits: Limits,
    opening: Opening,
) -> sqlx::Result<DateTime<Utc>> {
    let begin = match opening {
        Opening::Begin => "BEGIN; ",
        Opening::Open => "",
    };
    let sql = format!(
        "{begin}SET LOCAL lock_timeout = '{}'; SET LOCAL statement_timeout = '{}'; \
         SET LOCAL plan_cache_mode = force_generic_plan; \
         SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY}); \
         SELECT (extract(epoch FROM now()) * 1000000)::bigint",
        millis(limits.lock_timeout),
        millis(limits.statement_timeout),
    );
    let rows = conn.fetch_all(sql.as_str()).await?;
    let row = rows
        .last()
        .ok_or_else(|| sqlx::Error::Protocol("the lock statement returned no time".into()))?;
    // The time as microseconds (its precision): simple-query values come
    // as text, and a number parses for much less than a timestamp.
    transaction_time(row.try_get(0)?)
}

/// A transaction's time, read as microseconds since the epoch.
fn transaction_time(micros: i64) -> sqlx::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| sqlx::Error::Protocol(format!("transaction time {micros} out of range")))
}

/// What the walk over a batch needs from the database, read after the lock.
struct Snapshot {
    /// One fresh position per event of the batch, refused commits' included.
    positions: Vec<i64>,
    /// The streams the batch touches that exist, locked.
    streams: HashMap<StreamId, StreamState>,
    /// Idempotency keys of the batch already used, and caller-supplied
    /// event ids already in the log.
    taken: Taken,
}

/// One statement for all of it: a separate statement per read was a round
/// trip each inside the serialised append (issue 20). It runs after the lock
/// statement, so its snapshot sees every batch committed before ours.
async fn snapshot(conn: &mut PgConnection, requests: &[Request]) -> sqlx::Result<Snapshot> {
    let stream_ids: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| r.commit.streams.iter().map(|s| s.stream_id.0))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let (key_users, keys): (Vec<Uuid>, Vec<&str>) = requests
        .iter()
        .flat_map(Request::idempotency_keys)
        .map(|(user, key)| (user.0, key))
        .unzip();
    let supplied_ids: Vec<Uuid> = requests
        .iter()
        .filter(|r| r.ids_supplied)
        .flat_map(|r| r.event_ids.iter().map(|id| id.0))
        .collect();
    let events: i64 = requests.iter().map(|r| r.event_count() as i64).sum();
    type Row = (
        Vec<i64>,
        Vec<Uuid>,
        Vec<String>,
        Vec<i64>,
        Vec<Uuid>,
        Vec<String>,
        Vec<Uuid>,
    );
    let (positions, ids, types, versions, key_owners, used_keys, used_ids): Row = sqlx::query_as(
        "WITH s AS MATERIALIZED ( \
                 SELECT stream_id, stream_type, version FROM streams \
                 WHERE stream_id = ANY($1) FOR UPDATE \
             ), k AS MATERIALIZED ( \
                 SELECT k.user_id, k.key FROM idempotency_keys k \
                 JOIN UNNEST($3::uuid[], $4::text[]) AS u(user_id, key) \
                   ON k.user_id = u.user_id AND k.key = u.key \
             ) \
             SELECT \
                 ARRAY(SELECT nextval('events_position_seq') FROM generate_series(1, $2)), \
                 ARRAY(SELECT stream_id FROM s ORDER BY stream_id), \
                 ARRAY(SELECT stream_type FROM s ORDER BY stream_id), \
                 ARRAY(SELECT version FROM s ORDER BY stream_id), \
                 ARRAY(SELECT user_id FROM k ORDER BY user_id, key), \
                 ARRAY(SELECT key FROM k ORDER BY user_id, key), \
                 ARRAY(SELECT event_id FROM event_ids WHERE event_id = ANY($5))",
    )
    .bind(&stream_ids)
    .bind(events)
    .bind(&key_users)
    .bind(&keys)
    .bind(&supplied_ids)
    .fetch_one(&mut *conn)
    .await?;
    let streams = ids
        .into_iter()
        .zip(types.into_iter().zip(versions))
        .map(|(id, (stream_type, version))| {
            (
                StreamId(id),
                StreamState {
                    stream_type,
                    version,
                },
            )
        })
        .collect();
    Ok(Snapshot {
        positions,
        streams,
        taken: Taken {
            keys: key_owners.into_iter().map(UserId).zip(used_keys).collect(),
            ids: used_ids.into_iter().map(EventId).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchConfig, EventStore, StreamAppend};
    use domain::event::{MessagePosted, RoomEvent};
    use domain::{DomainEvent, EventMetadata, MessageId, RoomId, StreamType};
    use sqlx::PgPool;
    use testkit::TestEnv;

    /// A commit of `n` messages to `room`, expected at `expected`.
    fn messages(room: RoomId, expected: i64, n: u64) -> Commit {
        let events = (1..=n)
            .map(|i| {
                DomainEvent::from(RoomEvent::MessagePosted(MessagePosted {
                    room_id: room,
                    message_id: MessageId(Uuid::now_v7()),
                    seq: expected as u64 + i,
                    author_id: UserId(Uuid::from_u128(7)),
                    body: format!("메시지 {i}"),
                    reply_to: None,
                    attachments: vec![],
                    mentions: vec![],
                    at: DateTime::UNIX_EPOCH,
                }))
            })
            .collect();
        Commit {
            streams: vec![StreamAppend {
                stream_id: room.into(),
                stream_type: StreamType::Room,
                expected_version: expected,
                events,
                epoch: None,
            }],
            metadata: EventMetadata::default(),
            side_writes: Vec::new(),
        }
    }

    /// What [`written_before`] says of `request`, alone in its batch.
    async fn find(pool: &PgPool, request: Request) -> Option<Vec<Written>> {
        let mut conn = pool.acquire().await.expect("connection");
        written_before(&mut conn, std::slice::from_ref(&request))
            .await
            .expect("read the log")
    }

    /// A planned batch whose answer was lost (or came back as an error) is
    /// found in the log by its events' ids, streams and versions, with the
    /// positions and time it was written at; one that is not there, or only
    /// in part, is not.
    #[tokio::test]
    async fn a_batch_whose_answer_was_lost_is_found_in_the_log() {
        let env = TestEnv::new().await;
        let pool = PgPool::connect(&env.database_url).await.expect("connect");
        let store = EventStore::connect(pool.clone(), BatchConfig::default()).await;
        let room = RoomId(Uuid::now_v7());
        let stored = store.append(messages(room, 0, 2)).await.expect("append");
        assert_eq!(store.batch_counts().planned, 1);
        let ids: Vec<EventId> = stored.events.iter().map(|e| e.event_id).collect();
        let sent = Request::new(messages(room, 0, 2), ids.clone(), false).expect("request");
        let found = find(&pool, sent).await.expect("the batch is in the log");
        assert_eq!(
            found[0].positions,
            stored.events.iter().map(|e| e.position).collect::<Vec<_>>()
        );
        assert_eq!(found[0].position, stored.position);
        assert_eq!(found[0].recorded_at, stored.events[0].recorded_at);

        let elsewhere = Request::new(messages(room, 2, 2), ids.clone(), false).expect("request");
        assert!(find(&pool, elsewhere).await.is_none(), "other versions");
        let part = vec![ids[0], EventId(Uuid::now_v7())];
        let partly = Request::new(messages(room, 0, 2), part, false).expect("request");
        assert!(find(&pool, partly).await.is_none(), "one event missing");
        store.shutdown().await;
    }
}
