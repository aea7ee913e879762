//! Telling every node that sessions are revoked: this node's deny list at
//! once, Redis (the catch-up source of nodes that start or reconnect later),
//! then NATS core (the push every running node follows; see
//! `src/serve/revocations.rs`).
//!
//! Redis is written before NATS so that a node that misses the push (it was
//! reconnecting) finds the entry when it catches up. Entries live one
//! access-token lifetime: after that every token of the session has expired
//! on its own and its refresh token is refused by the `sessions` table.

use api::revoked::RevokedSessions;
use api::ApiError;
use chrono::{Duration, Utc};
use readmodel::sessions::{queue_revoke, revoked_subject, Revocation};
use readmodel::{RedisConn, RedisTarget, Timeouts};
use std::sync::Arc;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Publishes revocations; cheap to clone.
#[derive(Clone)]
pub struct Revoker {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    redis: Option<RedisTarget>,
    conn: OnceCell<RedisConn>,
    nats: Option<async_nats::Client>,
    local: Arc<RevokedSessions>,
    access_ttl: Duration,
}

impl std::fmt::Debug for Revoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revoker")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

impl Revoker {
    /// A publisher into `namespace` on `redis` and `nats` (without NATS,
    /// other nodes learn from Redis only when they next catch up; without
    /// Redis, only this node knows: a single-node tool), adding to `local`,
    /// for tokens that live `access_ttl`.
    pub fn new(
        namespace: impl Into<String>,
        redis: Option<RedisTarget>,
        nats: Option<async_nats::Client>,
        local: Arc<RevokedSessions>,
        access_ttl: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                namespace: namespace.into(),
                redis,
                conn: OnceCell::new(),
                nats,
                local,
                access_ttl,
            }),
        }
    }

    /// This node's deny list.
    pub fn local(&self) -> &Arc<RevokedSessions> {
        &self.inner.local
    }

    async fn redis(&self, target: &RedisTarget) -> Result<RedisConn, redis::RedisError> {
        let timeouts = Timeouts::new(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(2),
        );
        self.inner
            .conn
            .get_or_try_init(|| target.connect_managed(timeouts, 1, 200))
            .await
            .cloned()
    }

    /// Revoke `sessions` everywhere: 503 when Redis cannot record it (the
    /// caller answers it, and a retry publishes again); a NATS failure is
    /// logged only (other nodes then catch up from Redis, see the module).
    pub async fn revoke(&self, sessions: &[Uuid]) -> Result<(), ApiError> {
        if sessions.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let now_ms = now.timestamp_millis();
        // One second beyond the lifetime: `exp` is whole seconds.
        let revocation = Revocation {
            session_ids: sessions.to_vec(),
            until_ms: (now + self.inner.access_ttl).timestamp_millis() + 1_000,
        };
        self.inner
            .local
            .extend(sessions.iter().map(|s| (*s, revocation.until_ms)), now_ms);
        let Some(client) = &self.inner.redis else {
            return Ok(());
        };
        let mut pipe = redis::pipe();
        queue_revoke(&mut pipe, &self.inner.namespace, &revocation, now_ms);
        let mut conn = self.redis(client).await.map_err(redis_down)?;
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(redis_down)?;
        metrics::counter!("cotalk_sessions_revoked_total").increment(sessions.len() as u64);
        let Some(nats) = &self.inner.nats else {
            return Ok(());
        };
        match serde_json::to_vec(&revocation) {
            Ok(payload) => {
                let subject = revoked_subject(&self.inner.namespace);
                if let Err(e) = nats.publish(subject, payload.into()).await {
                    tracing::warn!(error = %e, "revocation not pushed; nodes catch up from redis");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a revocation"),
        }
        Ok(())
    }
}

fn redis_down(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "redis unavailable for a revocation");
    ApiError::unavailable(
        "dependency_unavailable",
        "revocations cannot be recorded right now",
        1,
    )
}
