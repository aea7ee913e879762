//! The query side's shared state: a Redis connection for the `redis`
//! projection, a read-only Postgres pool (the query role, possibly on a
//! replica) for the `history` projection, the namespace and the token keys.
//!
//! Neither dependency is needed to start: the Redis connection is made on
//! first use (and remade after an outage by the connection manager), the pool
//! connects lazily. A dependency that is down makes requests answer 503
//! `dependency_unavailable` and `/readyz` fail, never the process exit.

use crate::failure::dependency;
use api::authenticate::KnownUsers;
use api::ratelimit::{RateLimitConfig, RateLimits};
use api::revoked::RevokedSessions;
use api::{ApiError, TokenKeys};
use axum::extract::FromRef;
use readmodel::{RedisConn, RedisTarget, Timeouts};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{watch, OnceCell};

/// How the query side connects.
#[derive(Clone, Debug)]
pub struct QueryConfig {
    /// Redis holding the `redis` projection (`COTALK_REDIS_URL`).
    pub redis_url: String,
    /// The read database, or a streaming replica of it (`COTALK_READ_REPLICA_URL`).
    /// Whatever user it names, the pool logs in as [`migrations::QUERY_ROLE`].
    pub read_replica_url: String,
    /// Prefix of every Redis key (`COTALK_NAMESPACE`).
    pub namespace: String,
    /// Keys that check bearer tokens (shared with the command side).
    pub token_keys: Arc<TokenKeys>,
    /// Size of the read pool.
    pub max_connections: u32,
    /// Search and username-lookup limits (the defaults unless set).
    pub rate_limits: Arc<RateLimits>,
    /// The process's deny list of revoked sessions (a fresh one unless set;
    /// the process's revocation follower fills the one it shares).
    pub revoked: Arc<RevokedSessions>,
}

impl QueryConfig {
    /// A configuration with a read pool of 8 connections.
    pub fn new(
        redis_url: impl Into<String>,
        read_replica_url: impl Into<String>,
        namespace: impl Into<String>,
        token_keys: Arc<TokenKeys>,
    ) -> Self {
        Self {
            redis_url: redis_url.into(),
            read_replica_url: read_replica_url.into(),
            namespace: namespace.into(),
            token_keys,
            max_connections: 8,
            rate_limits: Arc::new(RateLimits::new(RateLimitConfig::DEFAULT)),
            revoked: Arc::default(),
        }
    }
}

/// The configuration could not be used (a malformed URL). Dependencies being
/// down is not an error here: see the module documentation.
#[derive(Debug, Error)]
pub enum QueryStateError {
    /// The Redis URL does not parse.
    #[error("bad redis url: {0}")]
    RedisUrl(#[source] redis::RedisError),
    /// The read database URL does not parse.
    #[error("bad read database url: {0}")]
    DatabaseUrl(#[source] migrations::MigrateError),
}

/// A Redis connection made on first use, so the process starts without Redis.
struct LazyRedis {
    target: RedisTarget,
    conn: OnceCell<RedisConn>,
}

impl LazyRedis {
    async fn get(&self) -> Result<RedisConn, redis::RedisError> {
        // Short timeouts: a request must fail fast (503) rather than hang when
        // Redis is gone; the connection reconnects on its own once it is back.
        let timeouts = Timeouts::new(Duration::from_secs(1), Duration::from_secs(2));
        self.conn
            .get_or_try_init(|| self.target.connect_managed(timeouts, 1, 200))
            .await
            .cloned()
    }
}

struct Inner {
    redis: LazyRedis,
    pool: PgPool,
    namespace: String,
    token_keys: Arc<TokenKeys>,
    rate_limits: Arc<RateLimits>,
    /// Users whose profile this node has seen (see `crate::auth`).
    known_users: KnownUsers,
    /// Sessions revoked recently (see `api::revoked`).
    revoked: Arc<RevokedSessions>,
    /// Last seen generation of the `redis` projection. Reads are issued for
    /// it and check the pointer in the same transaction, so a stale value
    /// costs one retry, never a mixed answer.
    redis_generation: AtomicI64,
    /// Same for the `history` projection.
    history_generation: AtomicI64,
}

/// The search index of this process, as the `search` projection publishes
/// it: `None` while no index is open; a new handle when a rebuild switches
/// generations (see `projector::TaskHandle::searcher`).
pub type SearcherWatch = watch::Receiver<Option<search::MessageSearcher>>;

/// Everything the query routes share. Cheap to clone.
#[derive(Clone)]
pub struct QueryState {
    inner: Arc<Inner>,
    /// Set only in a process that keeps a search index replica; without it
    /// the search route is not mounted.
    search: Option<SearcherWatch>,
}

impl std::fmt::Debug for QueryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryState")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

impl QueryState {
    /// Build the state. Connections are made lazily (see the module docs),
    /// so this fails only on a malformed URL.
    pub async fn connect(config: QueryConfig) -> Result<Self, QueryStateError> {
        let client = RedisTarget::open(&config.redis_url).map_err(QueryStateError::RedisUrl)?;
        let options = migrations::query_role_options(&config.read_replica_url)
            .map_err(QueryStateError::DatabaseUrl)?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options);
        let state = Self::build(
            client,
            pool,
            config.namespace,
            config.token_keys,
            config.rate_limits,
            config.revoked,
        );
        // Connect now when we can, so the first request does not pay for it.
        if let Err(e) = state.inner.redis.get().await {
            tracing::warn!(error = %e, "redis not reachable yet; will connect on first use");
        }
        Ok(state)
    }

    /// Build the state from a Redis client and an existing read pool (which
    /// must log in as the query role), with the default rate limits.
    pub fn from_parts(
        redis: impl Into<RedisTarget>,
        pool: PgPool,
        namespace: impl Into<String>,
        token_keys: Arc<TokenKeys>,
    ) -> Self {
        let limits = Arc::new(RateLimits::new(RateLimitConfig::DEFAULT));
        Self::build(
            redis.into(),
            pool,
            namespace.into(),
            token_keys,
            limits,
            Arc::default(),
        )
    }

    fn build(
        target: RedisTarget,
        pool: PgPool,
        namespace: String,
        token_keys: Arc<TokenKeys>,
        rate_limits: Arc<RateLimits>,
        revoked: Arc<RevokedSessions>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis: LazyRedis {
                    target,
                    conn: OnceCell::new(),
                },
                pool,
                namespace,
                token_keys,
                rate_limits,
                known_users: KnownUsers::default(),
                revoked,
                redis_generation: AtomicI64::new(1),
                history_generation: AtomicI64::new(1),
            }),
            search: None,
        }
    }

    /// Serve `GET /v1/search/messages` from this process's search index
    /// (its own replica, fed from NATS by the `search` projection).
    pub fn with_searcher(mut self, searcher: SearcherWatch) -> Self {
        self.search = Some(searcher);
        self
    }

    /// The search index, when this process keeps one.
    pub(crate) fn searcher(&self) -> Option<&SearcherWatch> {
        self.search.as_ref()
    }

    /// The namespace every Redis key starts with.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The read pool (query role).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The keys that check tokens.
    pub(crate) fn token_keys(&self) -> &TokenKeys {
        &self.inner.token_keys
    }

    /// Users this node knows to exist. Public so that tests driving the
    /// router with users whose profile they did not write can say so.
    pub fn known_users(&self) -> &KnownUsers {
        &self.inner.known_users
    }

    /// This process's deny list of revoked sessions.
    pub fn revoked(&self) -> &RevokedSessions {
        &self.inner.revoked
    }

    /// A Redis connection, or 503 when Redis cannot be reached.
    pub(crate) async fn redis(&self) -> Result<RedisConn, ApiError> {
        self.inner
            .redis
            .get()
            .await
            .map_err(|e| dependency("redis connect", e))
    }

    pub(crate) fn redis_generation(&self) -> i64 {
        self.inner.redis_generation.load(Ordering::Relaxed)
    }

    pub(crate) fn set_redis_generation(&self, generation: i64) {
        self.inner
            .redis_generation
            .store(generation, Ordering::Relaxed);
    }

    pub(crate) fn history_generation(&self) -> i64 {
        self.inner.history_generation.load(Ordering::Relaxed)
    }

    pub(crate) fn set_history_generation(&self, generation: i64) {
        self.inner
            .history_generation
            .store(generation, Ordering::Relaxed);
    }
}

impl FromRef<QueryState> for Arc<TokenKeys> {
    fn from_ref(state: &QueryState) -> Self {
        state.inner.token_keys.clone()
    }
}

impl FromRef<QueryState> for Arc<RateLimits> {
    fn from_ref(state: &QueryState) -> Self {
        state.inner.rate_limits.clone()
    }
}

/// Readiness of the query side: Redis answers `PING` and the read pool
/// answers `SELECT 1`. The error says which one failed.
pub async fn check_ready(state: &QueryState) -> Result<(), String> {
    let mut conn = state
        .inner
        .redis
        .get()
        .await
        .map_err(|e| format!("redis: {e}"))?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|e| format!("redis: {e}"))?;
    sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&state.inner.pool)
        .await
        .map_err(|e| format!("read database: {e}"))?;
    Ok(())
}
