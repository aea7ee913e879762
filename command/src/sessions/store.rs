//! The `sessions` and `refresh_tokens` tables (event-log database, outside
//! the log): creating a session, rotating its refresh token with reuse
//! detection, listing and revoking.
//!
//! Refresh tokens are 256 bits from the operating system's CSPRNG,
//! base64url; only their SHA-256 is stored. Rotation runs in one
//! transaction that locks the presented token's row, so of two requests
//! presenting the same token one rotates and the other is a reuse.

use api::ApiError;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use domain::UserId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// A refresh token as handed to the client, with what it belongs to.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The session.
    pub session_id: Uuid,
    /// The refresh token (shown once, stored hashed).
    pub refresh_token: String,
    /// When it stops working.
    pub refresh_expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Rotation {
    /// It was the session's current token: here is the next one.
    Rotated {
        /// Whose session.
        user: UserId,
        /// The new token.
        issued: Issued,
    },
    /// It had been used already: the session is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
    },
    /// Unknown, expired, or of a revoked session.
    Invalid,
}

/// A live session, as `GET /v1/me/sessions` lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRow {
    /// Its id.
    pub session_id: Uuid,
    /// When the login happened.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last used (the login, at first).
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` of the login.
    pub user_agent: String,
}

/// A database failure: 503 when the database is unreachable or overloaded,
/// 500 otherwise.
pub fn db_error(e: sqlx::Error) -> ApiError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => crate::runner::unavailable(e),
        sqlx::Error::Database(ref d)
            if d.code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c == "53300") =>
        {
            crate::runner::unavailable(e)
        }
        other => ApiError::internal("sessions table", other),
    }
}

/// A presented refresh token's row: its session, when it was used, the
/// session's user, refresh expiry and revocation.
type PresentedRow = (
    Uuid,
    Option<DateTime<Utc>>,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// A fresh refresh token and its hash.
fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// SHA-256 of a presented token.
fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Longest `User-Agent` kept.
const USER_AGENT_MAX: usize = 256;

/// Start a session of `user` (a login), with its first refresh token.
pub async fn create(
    pool: &PgPool,
    user: UserId,
    user_agent: &str,
    refresh_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    let session_id = Uuid::now_v7();
    let (refresh_token, token_hash) = new_token();
    let refresh_expires_at = now + refresh_ttl;
    let agent: String = user_agent.chars().take(USER_AGENT_MAX).collect();
    sqlx::query(
        "WITH s AS (INSERT INTO sessions \
           (session_id, user_id, user_agent, created_at, last_used_at, refresh_expires_at) \
           VALUES ($1, $2, $3, $4, $4, $5)) \
         INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($6, $1, $4)",
    )
    .bind(session_id)
    .bind(user.0)
    .bind(agent)
    .bind(now)
    .bind(refresh_expires_at)
    .bind(token_hash)
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(Issued {
        session_id,
        refresh_token,
        refresh_expires_at,
    })
}

/// Present a refresh token: rotate it, or detect its reuse (see [`Rotation`]).
pub async fn rotate(
    pool: &PgPool,
    presented: &str,
    refresh_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Rotation, ApiError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let row: Option<PresentedRow> = sqlx::query_as(
        "SELECT t.session_id, t.used_at, s.user_id, s.refresh_expires_at, s.revoked_at \
             FROM refresh_tokens t JOIN sessions s USING (session_id) \
             WHERE t.token_hash = $1 FOR UPDATE",
    )
    .bind(hash(presented))
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    let Some((session_id, used_at, user, expires_at, revoked_at)) = row else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE session_id = $1")
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        return Ok(Rotation::Reused { session_id });
    }
    let (refresh_token, token_hash) = new_token();
    let refresh_expires_at = now + refresh_ttl;
    sqlx::query(
        "WITH used AS (UPDATE refresh_tokens SET used_at = $3 WHERE token_hash = $1), \
              s AS (UPDATE sessions SET last_used_at = $3, refresh_expires_at = $5 \
                    WHERE session_id = $2) \
         INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($4, $2, $3)",
    )
    .bind(hash(presented))
    .bind(session_id)
    .bind(now)
    .bind(token_hash)
    .bind(refresh_expires_at)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Rotation::Rotated {
        user: UserId(user),
        issued: Issued {
            session_id,
            refresh_token,
            refresh_expires_at,
        },
    })
}

/// The user's live sessions (not revoked, refresh token not expired),
/// newest first.
pub async fn list(
    pool: &PgPool,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, ApiError> {
    sqlx::query_as(
        "SELECT session_id, created_at, last_used_at, user_agent FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND refresh_expires_at > $2 \
         ORDER BY created_at DESC, session_id DESC",
    )
    .bind(user.0)
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(db_error)
}

/// The user's live sessions other than `except`.
pub async fn live_ids(
    pool: &PgPool,
    user: UserId,
    except: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ApiError> {
    let rows = list(pool, user, now).await?;
    Ok(rows
        .into_iter()
        .map(|r| r.session_id)
        .filter(|id| Some(*id) != except)
        .collect())
}

/// Whether `session` is a live session of `user`.
pub async fn is_live(
    pool: &PgPool,
    user: UserId,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE session_id = $1 AND user_id = $2 \
         AND revoked_at IS NULL AND refresh_expires_at > $3)",
    )
    .bind(session)
    .bind(user.0)
    .bind(now)
    .fetch_one(pool)
    .await
    .map_err(db_error)
}

/// Revoke `sessions` of `user`; the ids that were live.
pub async fn revoke(
    pool: &PgPool,
    user: UserId,
    sessions: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ApiError> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $3 \
         WHERE user_id = $1 AND session_id = ANY($2) AND revoked_at IS NULL \
         RETURNING session_id",
    )
    .bind(user.0)
    .bind(sessions)
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(db_error)
}

/// How long a revoked or expired session's row is kept: longer than any
/// access token lives (at most a day, `COTALK_ACCESS_TTL_SECS`), so a node
/// catching up on revocations ([`revoked_since`]) still finds it.
pub const ENDED_KEPT: Duration = Duration::days(1);

/// Rows one [`sweep`] statement deletes (a pass repeats it).
const SWEEP_BATCH: i64 = 1000;

/// Delete up to [`SWEEP_BATCH`] sessions (their refresh tokens go with them)
/// that were revoked, or whose refresh token expired, more than
/// [`ENDED_KEPT`] before `now`; how many went.
pub async fn sweep(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, ApiError> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE session_id IN (\
           SELECT session_id FROM sessions \
            WHERE revoked_at < $1 OR refresh_expires_at < $1 LIMIT $2)",
    )
    .bind(now - ENDED_KEPT)
    .bind(SWEEP_BATCH)
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected())
}

/// Sessions of `user` revoked at or after `since`, other than `already`.
pub async fn revoked_since(
    pool: &PgPool,
    user: UserId,
    since: DateTime<Utc>,
    already: &[Uuid],
) -> Result<Vec<Uuid>, ApiError> {
    sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE user_id = $1 AND revoked_at >= $2 \
         AND NOT (session_id = ANY($3))",
    )
    .bind(user.0)
    .bind(since)
    .bind(already)
    .fetch_all(pool)
    .await
    .map_err(db_error)
}

/// The user's current password hash and the log position of their
/// registration (for a token's `reg`).
pub async fn credential_of(pool: &PgPool, user: UserId) -> Result<Option<(String, i64)>, ApiError> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT c.password_hash, e.position FROM credentials c \
         LEFT JOIN events e ON e.stream_id = c.user_id AND e.version = 1 \
         WHERE c.user_id = $1",
    )
    .bind(user.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    Ok(row.map(|(hash, position)| (hash, position.unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_differ() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(ha, hash(&a));
    }
}
