//! The rows of a batch as column arrays, inserted with
//! `INSERT … SELECT FROM UNNEST(…)`: the events, their ids, the streams and
//! the idempotency answers in one statement, the rarer side rows (accounts,
//! passwords, keys) in one each, however many events the batch carries. A
//! planned batch's rows go to `eventlog_append_batch` instead ([`ONCE`]),
//! which inserts them the same way inside its own transaction.

use crate::append::{Request, Written};
use crate::{SideWrite, APPEND_LOCK_KEY};
use chrono::{DateTime, Utc};
use domain::{StreamId, StreamType};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// The rows every batch writes: events, their ids, idempotency answers.
const ROW_CTES: &str = "new_events AS ( \
         INSERT INTO events (position, event_id, stream_id, stream_type, version, \
                             event_type, schema_version, payload, metadata, recorded_at) \
         SELECT u.*, $10 FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], \
             $5::bigint[], $6::text[], $7::smallint[], $8::jsonb[], $9::jsonb[]) AS u \
     ), new_ids AS ( \
         INSERT INTO event_ids (event_id, position) \
         SELECT * FROM UNNEST($2::uuid[], $1::bigint[]) \
     ), new_answers AS ( \
         INSERT INTO idempotency_keys (user_id, key, request_hash, status, body) \
         SELECT * FROM UNNEST($15::uuid[], $16::text[], $17::bytea[], $18::smallint[], $19::jsonb[]) \
     )";

/// Each touched stream's new version and last position.
const STREAMS_UPSERT: &str = "INSERT INTO streams (stream_id, stream_type, version, position, updated_at) \
     SELECT u.*, $10 FROM UNNEST($11::uuid[], $12::text[], $13::bigint[], $14::bigint[]) AS u \
     ON CONFLICT (stream_id) DO UPDATE \
     SET version = EXCLUDED.version, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at";

/// A batch whose commits were checked against the streams read under the lock.
static CHECKED: LazyLock<String> = LazyLock::new(|| format!("WITH {ROW_CTES} {STREAMS_UPSERT}"));

/// A planned batch in one statement, its own transaction: the function
/// (migrations `0032_append_batch.sql`, its check by key since
/// `0033_append_check_by_key.sql`) takes the append lock, checks what
/// the plan assumed, draws the positions and writes the rows, and Postgres
/// commits before it answers. Its positions arguments are ordinals into the
/// positions it draws (1 for the batch's first event).
const ONCE: &str = "SELECT drawn, at_micros FROM eventlog_append_batch($1::bigint, $2::text, \
     $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::text[], $8::smallint[], $9::jsonb[], \
     $10::jsonb[], $11::uuid[], $12::text[], $13::bigint[], $14::bigint[], $15::uuid[], \
     $16::text[], $17::bytea[], $18::smallint[], $19::jsonb[], $20::bigint[], $21::uuid[], \
     $22::text[], $23::bigint[])";

/// What a planned batch assumed of the streams: each one's type and version
/// before the batch, as its first commit in the batch expected them.
#[derive(Default)]
pub(crate) struct Plan {
    pub stream_ids: Vec<Uuid>,
    pub stream_types: Vec<&'static str>,
    pub versions: Vec<i64>,
}

/// Column arrays of one batch's rows, borrowing the commits' JSON.
#[derive(Default)]
pub(crate) struct Rows<'a> {
    positions: Vec<i64>,
    event_ids: Vec<Uuid>,
    stream_ids: Vec<Uuid>,
    stream_types: Vec<&'static str>,
    versions: Vec<i64>,
    event_types: Vec<&'static str>,
    schema_versions: Vec<i16>,
    payloads: Vec<Json<&'a RawValue>>,
    metadata: Vec<Json<&'a RawValue>>,
    /// Final (type, version, position) of each stream touched; one row each,
    /// as an upsert may not touch a row twice.
    streams: HashMap<StreamId, (StreamType, i64, i64)>,
    credentials: CredentialRows,
    passwords: PasswordRows,
    answers: AnswerRows,
    /// New data keys: (user, wrapped key).
    data_keys: (Vec<Uuid>, Vec<Vec<u8>>),
    /// Users whose accounts are deleted.
    deleted: Vec<Uuid>,
}

/// New password hashes, in commit order (the last one of a user wins).
#[derive(Default)]
struct PasswordRows {
    user_ids: Vec<Uuid>,
    hashes: Vec<String>,
    keep: Vec<Option<Uuid>>,
}

/// Columns of `credentials`.
#[derive(Default)]
struct CredentialRows {
    user_ids: Vec<Uuid>,
    usernames: Vec<String>,
    hashes: Vec<String>,
}

/// Columns of `idempotency_keys`.
#[derive(Default)]
struct AnswerRows {
    user_ids: Vec<Uuid>,
    keys: Vec<String>,
    request_hashes: Vec<Vec<u8>>,
    statuses: Vec<i16>,
    bodies: Vec<serde_json::Value>,
    /// The position of the answer's commit (an ordinal, for [`ONCE`]).
    positions: Vec<i64>,
}

impl<'a> Rows<'a> {
    /// Add an accepted commit, drawing its positions from `positions`.
    pub fn add(
        &mut self,
        request: &'a Request,
        positions: &mut impl Iterator<Item = i64>,
        empty_head: i64,
        recorded_at: DateTime<Utc>,
    ) -> Written {
        let commit = &request.commit;
        let mut ids = request.event_ids.iter();
        let mut payloads = request.payloads.iter();
        let mut written = Vec::with_capacity(request.event_ids.len());
        for append in &commit.streams {
            for (offset, event) in append.events.iter().enumerate() {
                // The iterators were sized from the accepted commits' events.
                let (Some(position), Some(id), Some(payload)) =
                    (positions.next(), ids.next(), payloads.next())
                else {
                    break;
                };
                let version = append.expected_version + offset as i64 + 1;
                self.positions.push(position);
                self.event_ids.push(id.0);
                self.stream_ids.push(append.stream_id.0);
                self.stream_types.push(append.stream_type.as_str());
                self.versions.push(version);
                self.event_types.push(event.event_type());
                self.schema_versions.push(event.schema_version() as i16);
                self.payloads.push(Json(payload));
                self.metadata.push(Json(&request.metadata));
                self.streams
                    .insert(append.stream_id, (append.stream_type, version, position));
                written.push(position);
            }
        }
        let position = written.last().copied().unwrap_or(empty_head);
        for write in &commit.side_writes {
            match write {
                SideWrite::Credential {
                    user_id,
                    username,
                    password_hash,
                } => {
                    self.credentials.user_ids.push(user_id.0);
                    self.credentials.usernames.push(username.clone());
                    self.credentials.hashes.push(password_hash.clone());
                }
                SideWrite::PasswordChanged {
                    user_id,
                    password_hash,
                    keep_session,
                } => {
                    self.passwords.user_ids.push(user_id.0);
                    self.passwords.hashes.push(password_hash.clone());
                    self.passwords.keep.push(*keep_session);
                }
                SideWrite::DataKey { user_id, wrapped } => {
                    self.data_keys.0.push(user_id.0);
                    self.data_keys.1.push(wrapped.clone());
                }
                SideWrite::AccountDeleted { user_id } => self.deleted.push(user_id.0),
                SideWrite::Idempotency {
                    user_id,
                    key,
                    request_hash,
                    status,
                    body,
                } => {
                    let mut body = body.clone();
                    if let Some(object) = body.as_object_mut() {
                        object.insert("position".into(), position.into());
                    }
                    self.answers.user_ids.push(user_id.0);
                    self.answers.keys.push(key.clone());
                    self.answers.request_hashes.push(request_hash.clone());
                    // The walk's validation kept statuses within 100..=599.
                    self.answers.statuses.push(*status as i16);
                    self.answers.bodies.push(body);
                    self.answers.positions.push(position);
                }
            }
        }
        Written {
            positions: written,
            position,
            recorded_at,
        }
    }

    /// The touched streams as columns: ids, types, versions, positions.
    fn stream_columns(&self) -> (Vec<Uuid>, Vec<&'static str>, Vec<i64>, Vec<i64>) {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, (stream_type, version, position)) in &self.streams {
            columns.0.push(id.0);
            columns.1.push(stream_type.as_str());
            columns.2.push(*version);
            columns.3.push(*position);
        }
        columns
    }

    /// Write a planned batch whose positions are ordinals ([`ONCE`]), in one
    /// statement that is its own transaction: call it outside a
    /// transaction block. Returns the positions drawn, in the events'
    /// order, and the transaction's time in microseconds since the epoch.
    /// Only the rows of [`ONCE`] are written: a batch with other side
    /// writes is refused before anything is sent (`append::fits_once`
    /// keeps such batches off this path).
    pub async fn insert_once(
        self,
        conn: &mut PgConnection,
        lock_timeout: &str,
        plan: &Plan,
    ) -> Result<(Vec<i64>, i64), sqlx::Error> {
        if !(self.credentials.user_ids.is_empty()
            && self.passwords.user_ids.is_empty()
            && self.data_keys.0.is_empty()
            && self.deleted.is_empty())
        {
            return Err(sqlx::Error::Protocol(
                "a planned batch carries side writes it cannot write".into(),
            ));
        }
        let (ids, types, versions, positions) = self.stream_columns();
        let answers = &self.answers;
        sqlx::query_as(ONCE)
            .bind(APPEND_LOCK_KEY)
            .bind(lock_timeout)
            .bind(&self.event_ids)
            .bind(&self.stream_ids)
            .bind(&self.stream_types)
            .bind(&self.versions)
            .bind(&self.event_types)
            .bind(&self.schema_versions)
            .bind(&self.payloads)
            .bind(&self.metadata)
            .bind(&ids)
            .bind(&types)
            .bind(&versions)
            .bind(&positions)
            .bind(&answers.user_ids)
            .bind(&answers.keys)
            .bind(&answers.request_hashes)
            .bind(&answers.statuses)
            .bind(&answers.bodies)
            .bind(&answers.positions)
            .bind(&plan.stream_ids)
            .bind(&plan.stream_types)
            .bind(&plan.versions)
            .fetch_one(conn)
            .await
    }

    /// Insert the rows, in the transaction of the caller, which holds the
    /// append lock.
    pub async fn insert(
        self,
        conn: &mut PgConnection,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let answers = &self.answers;
        if !self.positions.is_empty() || !answers.user_ids.is_empty() {
            let (ids, types, versions, positions) = self.stream_columns();
            // One statement for the rows every batch writes (a round trip
            // each was most of a small batch's time under the lock).
            sqlx::query(CHECKED.as_str())
                .bind(&self.positions)
                .bind(&self.event_ids)
                .bind(&self.stream_ids)
                .bind(&self.stream_types)
                .bind(&self.versions)
                .bind(&self.event_types)
                .bind(&self.schema_versions)
                .bind(&self.payloads)
                .bind(&self.metadata)
                .bind(recorded_at)
                .bind(&ids)
                .bind(&types)
                .bind(&versions)
                .bind(&positions)
                .bind(&answers.user_ids)
                .bind(&answers.keys)
                .bind(&answers.request_hashes)
                .bind(&answers.statuses)
                .bind(&answers.bodies)
                .execute(&mut *conn)
                .await?;
        }
        let credentials = &self.credentials;
        if !credentials.user_ids.is_empty() {
            sqlx::query(
                "INSERT INTO credentials (user_id, username, password_hash) \
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[])",
            )
            .bind(&credentials.user_ids)
            .bind(&credentials.usernames)
            .bind(&credentials.hashes)
            .execute(&mut *conn)
            .await?;
        }
        let passwords = &self.passwords;
        if !passwords.user_ids.is_empty() {
            sqlx::query(
                "WITH latest AS (SELECT DISTINCT ON (id) id, h, keep \
                   FROM UNNEST($1::uuid[], $2::text[], $3::uuid[]) WITH ORDINALITY AS t(id, h, keep, n) \
                   ORDER BY id, n DESC), \
                 pw AS (UPDATE credentials c SET password_hash = latest.h FROM latest \
                   WHERE c.user_id = latest.id) \
                 UPDATE sessions s SET revoked_at = $4 FROM latest \
                 WHERE s.user_id = latest.id AND s.revoked_at IS NULL \
                   AND s.session_id IS DISTINCT FROM latest.keep",
            )
            .bind(&passwords.user_ids)
            .bind(&passwords.hashes)
            .bind(&passwords.keep)
            .bind(recorded_at)
            .execute(&mut *conn)
            .await?;
        }
        if !self.data_keys.0.is_empty() {
            sqlx::query(
                "INSERT INTO pii_keys (user_id, wrapped) SELECT * FROM UNNEST($1::uuid[], $2::bytea[])",
            )
            .bind(&self.data_keys.0)
            .bind(&self.data_keys.1)
            .execute(&mut *conn)
            .await?;
        }
        if !self.deleted.is_empty() {
            // Crypto-shredding: without the key row nothing opens the
            // user's sealed fields any more; the credentials (name key and
            // password hash) go with it.
            sqlx::query(
                "WITH keys AS (DELETE FROM pii_keys WHERE user_id = ANY($1)),                  creds AS (DELETE FROM credentials WHERE user_id = ANY($1))                  UPDATE sessions SET revoked_at = $2                  WHERE user_id = ANY($1) AND revoked_at IS NULL",
            )
            .bind(&self.deleted)
            .bind(recorded_at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
