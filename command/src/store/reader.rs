//! Reads of the event log and the command side's tables. [`read_all`] and
//! [`read_stream_page`] are free functions on a pool because the projector
//! crate (relay, replay) calls them without an [`super::EventStore`].

use super::{Credential, StoreError, StoredAnswer};
use domain::{DomainEvent, EventId, EventMetadata, StoredEvent, StreamId, StreamType, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use uuid::Uuid;

const EVENT_COLUMNS: &str = "position, event_id, stream_id, stream_type, version, event_type, \
     schema_version, payload, metadata, recorded_at";

/// Up to `limit` events with a position above `after`, in position order.
///
/// Gap-safe: appends are serialised (see the module doc of `store`), so when
/// this returns position `p`, every event below `p` that will ever be
/// committed already is. A caller may continue from the last position it got
/// and never skips an event, and never waits on a hole a rollback left.
pub async fn read_all(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit.max(0))
        .fetch_all(pool)
        .await?;
    rows.iter().map(decode_row).collect()
}

/// Up to `limit` events of one stream with a version above `after_version`, in
/// version order.
pub async fn read_stream_page(
    pool: &PgPool,
    stream_id: StreamId,
    after_version: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 \
         ORDER BY version LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(stream_id.0)
        .bind(after_version)
        .bind(limit.max(0))
        .fetch_all(pool)
        .await?;
    rows.iter().map(decode_row).collect()
}

/// Turn one `events` row (all columns, by name) into a [`StoredEvent`],
/// upcasting older payload versions through [`DomainEvent::decode`].
pub fn decode_row(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let position: i64 = row.try_get("position")?;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let stream_type: String = row.try_get("stream_type")?;
    let stream_type = StreamType::parse(&stream_type)
        .ok_or_else(|| corrupt(format!("unknown stream type {stream_type}")))?;
    let schema_version: i16 = row.try_get("schema_version")?;
    let schema_version = u16::try_from(schema_version)
        .map_err(|_| corrupt(format!("negative schema version {schema_version}")))?;
    let event_type: String = row.try_get("event_type")?;
    let payload: serde_json::Value = row.try_get("payload")?;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    let metadata: EventMetadata =
        serde_json::from_value(metadata).map_err(|e| corrupt(format!("bad metadata: {e}")))?;
    let event = DomainEvent::decode(&event_type, schema_version, payload)
        .map_err(|source| StoreError::Decode { position, source })?;
    Ok(StoredEvent {
        position,
        event_id: EventId(row.try_get("event_id")?),
        stream_id: StreamId(row.try_get("stream_id")?),
        stream_type,
        version: row.try_get("version")?,
        metadata,
        recorded_at: row.try_get("recorded_at")?,
        event,
    })
}

/// Type and current version of each of `ids` that exists.
pub(crate) async fn stream_versions(
    pool: &PgPool,
    ids: &[StreamId],
) -> Result<HashMap<StreamId, (StreamType, i64)>, StoreError> {
    let uuids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT stream_id, stream_type, version FROM streams WHERE stream_id = ANY($1)",
    )
    .bind(&uuids)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, stream_type, version)| {
            let parsed = StreamType::parse(&stream_type).ok_or_else(|| StoreError::Corrupt {
                position: 0,
                reason: format!("stream {id} has unknown type {stream_type}"),
            })?;
            Ok((StreamId(id), (parsed, version)))
        })
        .collect()
}

/// The stored answer to `key` sent by `user`, if any.
pub(crate) async fn idempotent_answer(
    pool: &PgPool,
    user: UserId,
    key: &str,
) -> Result<Option<StoredAnswer>, StoreError> {
    let row: Option<(Vec<u8>, i16, serde_json::Value)> = sqlx::query_as(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user.0)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|(request_hash, status, body)| {
        let status = u16::try_from(status).map_err(|_| StoreError::Corrupt {
            position: 0,
            reason: format!("idempotency answer with status {status}"),
        })?;
        Ok(StoredAnswer {
            request_hash,
            status,
            body,
        })
    })
    .transpose()
}

/// The credential registered under `username`, if any, with the position
/// of the user's registration (the first event of their stream, committed
/// with the credential; one index lookup in one partition).
pub(crate) async fn credential(
    pool: &PgPool,
    username: &str,
) -> Result<Option<Credential>, StoreError> {
    let row: Option<(Uuid, String, Option<i64>)> = sqlx::query_as(
        "SELECT c.user_id, c.password_hash, e.position FROM credentials c \
         LEFT JOIN events e ON e.stream_id = c.user_id AND e.version = 1 \
         WHERE c.username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, password_hash, position)| Credential {
        user_id: UserId(id),
        password_hash,
        registered_at: position.unwrap_or(0),
    }))
}

/// Position of the last committed event (0 for an empty log).
pub(crate) async fn head(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(max(position), 0)::bigint FROM events")
            .fetch_one(pool)
            .await?,
    )
}
