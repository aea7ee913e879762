//! `cotalk pii encrypt-legacy`: seal the personal fields of events written
//! before issue 18 in place (ARCHITECTURE.md "Personal data"; the one
//! sanctioned rewrite of the log).
//!
//! Events are otherwise immutable; this rewrites only payloads that carry a
//! plain personal field (`user.registered`, `user.display_name_changed`,
//! `user.status_message_changed` v1, `username.claimed` v1) to their v2
//! form, keeping event id, position, stream and version, and replaces plain
//! usernames in `credentials` by their name key. Every reader decodes both
//! forms to the same in-memory shape, so a projection, the relay or a
//! rebuild reading a row before or after its rewrite sees the same values.
//!
//! The log is walked in position ranges, each in its own transaction, which
//! first takes the append lock ([`crate::APPEND_LOCK_KEY`]): no commit (a
//! deletion in particular) interleaves with a batch, so a user deleted
//! meanwhile never gets a key back. A deleted user's legacy fields are
//! sealed under a key that is never stored: unreadable, like theirs.
//! Running it again finds nothing to rewrite.

use crate::pii::Pii;
use crate::{StoreError, APPEND_LOCK_KEY};
use domain::pii::{Field, Personal};
use domain::UserId;
use serde_json::{Map, Value};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What one run rewrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegacyReport {
    /// Event payloads sealed in place.
    pub events: u64,
    /// Data keys created (users registered before issue 18).
    pub keys_created: u64,
    /// Credentials rows whose plain username became the name key.
    pub credentials: u64,
}

/// The event types whose v1 payloads carry plain personal fields.
const LEGACY_TYPES: [&str; 4] = [
    "user.registered",
    "user.display_name_changed",
    "user.status_message_changed",
    "username.claimed",
];

/// Seal every legacy plain personal field in the log and in `credentials`,
/// `batch` positions (and credentials rows) per transaction.
pub async fn encrypt_legacy(
    pool: &PgPool,
    pii: &Pii,
    batch: i64,
) -> Result<LegacyReport, StoreError> {
    let batch = batch.max(1);
    let mut report = LegacyReport::default();
    let (head,): (Option<i64>,) = sqlx::query_as("SELECT max(position) FROM events")
        .fetch_one(pool)
        .await?;
    let head = head.unwrap_or(0);
    let mut after = 0i64;
    while after < head {
        let upto = after.saturating_add(batch).min(head);
        let mut tx = locked(pool).await?;
        seal_range(&mut tx, pii, after, upto, &mut report).await?;
        tx.commit().await?;
        after = upto;
    }
    loop {
        let mut tx = locked(pool).await?;
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT user_id, username FROM credentials \
             WHERE username !~ '^[0-9a-f]{64}$' LIMIT $1 FOR UPDATE",
        )
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            break;
        }
        for (user, name) in &rows {
            sqlx::query("UPDATE credentials SET username = $2 WHERE user_id = $1")
                .bind(user)
                .bind(pii.name_key(name))
                .execute(&mut *tx)
                .await?;
        }
        report.credentials += rows.len() as u64;
        tx.commit().await?;
    }
    Ok(report)
}

/// A transaction holding the append lock.
async fn locked(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Seal the legacy events with positions in `(after, upto]`.
async fn seal_range(
    tx: &mut Transaction<'static, Postgres>,
    pii: &Pii,
    after: i64,
    upto: i64,
    report: &mut LegacyReport,
) -> Result<(), StoreError> {
    let rows: Vec<(i64, Uuid, i64, String, Value)> = sqlx::query_as(
        "SELECT position, stream_id, version, event_type, payload FROM events \
         WHERE position > $1 AND position <= $2 AND schema_version = 1 \
         AND event_type = ANY($3) ORDER BY position",
    )
    .bind(after)
    .bind(upto)
    .bind(&LEGACY_TYPES[..])
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let corrupt = |position: i64, reason: &str| StoreError::Corrupt {
        position,
        reason: reason.to_owned(),
    };
    let mut users = Vec::new();
    for (position, _, _, _, payload) in &rows {
        let user = payload
            .get("user_id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| corrupt(*position, "legacy personal event without user_id"))?;
        users.push(UserId(user));
    }
    let keys = keys_for(tx, pii, &users, report).await?;
    for ((position, stream, version, event_type, payload), user) in rows.into_iter().zip(users) {
        let Value::Object(mut fields) = payload else {
            return Err(corrupt(position, "legacy payload is not an object"));
        };
        let key = &keys[&user];
        match event_type.as_str() {
            "username.claimed" => {
                if let Some(Value::String(name)) = fields.remove("username") {
                    fields.insert("name_key".into(), Value::String(pii.name_key(&name)));
                }
            }
            "user.registered" => {
                seal_field(&mut fields, key, "username", Field::Username);
                seal_field(&mut fields, key, "display_name", Field::DisplayName);
            }
            "user.display_name_changed" => {
                seal_field(&mut fields, key, "display_name", Field::DisplayName)
            }
            _ => seal_field(&mut fields, key, "status_message", Field::StatusMessage),
        }
        sqlx::query(
            "UPDATE events SET payload = $3, schema_version = 2 \
             WHERE stream_id = $1 AND version = $2",
        )
        .bind(stream)
        .bind(version)
        .bind(Value::Object(fields))
        .execute(&mut **tx)
        .await?;
        report.events += 1;
    }
    Ok(())
}

/// Replace a plain, non-empty `name` in `fields` by its sealed form.
fn seal_field(
    fields: &mut Map<String, Value>,
    key: &crate::pii::DataKey,
    name: &str,
    field: Field,
) {
    if let Some(Value::String(text)) = fields.get(name) {
        let sealed = key.seal(field, text);
        if let Ok(value) = serde_json::to_value::<Personal>(sealed) {
            fields.insert(name.to_owned(), value);
        }
    }
}

/// The data key of each of `users`: the stored one, a new stored one for a
/// user from before issue 18, or for a deleted user one that is never
/// stored (what it seals nobody can open).
async fn keys_for(
    tx: &mut Transaction<'static, Postgres>,
    pii: &Pii,
    users: &[UserId],
    report: &mut LegacyReport,
) -> Result<HashMap<UserId, crate::pii::DataKey>, StoreError> {
    let distinct: HashSet<UserId> = users.iter().copied().collect();
    let ids: Vec<Uuid> = distinct.iter().map(|u| u.0).collect();
    let stored: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT user_id, wrapped FROM pii_keys WHERE user_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    let deleted: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT stream_id FROM events \
         WHERE stream_id = ANY($1) AND event_type = 'user.account_deleted'",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let deleted: HashSet<Uuid> = deleted.into_iter().map(|(id,)| id).collect();
    let mut keys = HashMap::new();
    for (id, wrapped) in stored {
        let user = UserId(id);
        let key = pii
            .unwrap_key(user, &wrapped)
            .map_err(|e| StoreError::Corrupt {
                position: 0,
                reason: e.to_string(),
            })?;
        keys.insert(user, key);
    }
    for user in distinct {
        if keys.contains_key(&user) {
            continue;
        }
        let (key, wrapped) = pii.new_key(user);
        if !deleted.contains(&user.0) {
            sqlx::query("INSERT INTO pii_keys (user_id, wrapped) VALUES ($1, $2)")
                .bind(user.0)
                .bind(&wrapped)
                .execute(&mut **tx)
                .await?;
            report.keys_created += 1;
        }
        keys.insert(user, key);
    }
    Ok(keys)
}
