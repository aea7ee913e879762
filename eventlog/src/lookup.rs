//! The small lookups the command side needs, on the tables the append
//! transaction writes: streams' current versions, credentials and stored
//! Idempotency-Key answers.

use crate::{Credential, StoreError, StoredAnswer};
use domain::{StreamId, StreamType, UserId};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

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

/// Which of `users` are users still: their stream exists, and holds no
/// `user.account_deleted` (a deleted account cannot be befriended, added,
/// invited or blocked). One query: the streams rows, and an index probe of
/// each user's own (short) stream in its partition.
pub(crate) async fn live_users(
    pool: &PgPool,
    users: &[UserId],
) -> Result<HashSet<UserId>, StoreError> {
    let uuids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT s.stream_id FROM streams s \
         WHERE s.stream_id = ANY($1) AND s.stream_type = 'user' AND s.version > 0 \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = s.stream_id \
                         AND e.event_type = 'user.account_deleted')",
    )
    .bind(&uuids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
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

/// The credential registered under `name_key` (the username's keyed hash),
/// or under the plain `username` for a row from before issue 18, if any,
/// with the position of the user's registration (the first event of their
/// stream, committed with the credential; one index lookup in one
/// partition). A name key is 64 hex digits and a username at most 32
/// characters, so the two can never match each other's rows.
pub(crate) async fn credential(
    pool: &PgPool,
    name_key: &str,
    username: &str,
) -> Result<Option<Credential>, StoreError> {
    let row: Option<(Uuid, String, Option<i64>)> = sqlx::query_as(
        "SELECT c.user_id, c.password_hash, e.position FROM credentials c \
         LEFT JOIN events e ON e.stream_id = c.user_id AND e.version = 1 \
         WHERE c.username = $1 OR c.username = $2 LIMIT 1",
    )
    .bind(name_key)
    .bind(username)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, password_hash, position)| Credential {
        user_id: UserId(id),
        password_hash,
        registered_at: position.unwrap_or(0),
    }))
}

/// The room whose `room.invite_created` carries `token_hash` (hex SHA-256
/// of an invite token), if any: one lookup in the partial index
/// `events_invite_token_idx`.
pub(crate) async fn invite_room(
    pool: &PgPool,
    token_hash: &str,
) -> Result<Option<domain::RoomId>, StoreError> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "SELECT stream_id FROM events \
         WHERE event_type = 'room.invite_created' AND payload->>'token_hash' = $1 LIMIT 1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id,)| domain::RoomId(id)))
}
