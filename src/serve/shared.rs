//! What the parts of one `serve` process share: the configuration, one pool
//! per database, one NATS client, the token keys and limiters, the admin
//! token, and the query state (the query routes and the stream hub read
//! through the same one).

use super::component::Connections;
use crate::config::{Config, ServeArgs};
use anyhow::{Context, Result};
use api::ratelimit::RateLimits;
use api::revoked::RevokedSessions;
use api::TokenKeys;
use metrics_exporter_prometheus::PrometheusHandle;
use projector::ProjectorConfig;
use query::QueryState;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// A pool that does not fail when the database is down at start: connections
/// are made on demand, so the process starts and `/readyz` says what is missing.
pub fn lazy_pool(url: &str, max: u32) -> Result<PgPool> {
    Ok(lazy_pool_with(PgConnectOptions::from_str(url)?, max))
}

/// [`lazy_pool`] for the event-log database, whose statements run with
/// generic plans (issue 20). The log is partitioned 16 ways by stream:
/// Postgres planned the readers' `position > $1 ORDER BY position LIMIT $2`
/// afresh for every execution, as its generic plan looked dearer than a
/// custom one, and planning 16 partitions cost more than reading them.
/// Generic plans prune partitions by a stream parameter when they start.
pub fn log_pool(url: &str, max: u32) -> Result<PgPool> {
    let options =
        PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_generic_plan")]);
    Ok(lazy_pool_with(options, max))
}

fn lazy_pool_with(options: PgConnectOptions, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options)
}

/// The process's Postgres pools, one per database.
#[derive(Clone, Debug)]
pub struct Pools {
    /// The event-log (write) database.
    pub log: PgPool,
    /// The read database (history tables, checkpoints, generation pointers).
    pub read: PgPool,
}

/// Everything the parts of one process share.
pub struct Shared {
    /// Connections and names.
    pub config: Config,
    /// Options of `serve`.
    pub args: ServeArgs,
    /// The process's metrics registry.
    pub metrics: PrometheusHandle,
    /// Fires at shutdown; every background task watches it.
    pub cancel: CancellationToken,
    /// Keys that sign and check session tokens (command and query sides).
    pub keys: Arc<TokenKeys>,
    /// One set of limiters for the command and query routes of the process.
    pub limits: Arc<RateLimits>,
    /// The admin token of `/metrics` and `GET /ops/status`.
    pub admin_token: String,
    /// The personal-data master key (issue 18).
    pub pii: eventlog::pii::Pii,
    /// One pool per database.
    pub pools: Pools,
    /// The process's deny list of revoked sessions (command and query
    /// routes, streams), kept current by [`Shared::follow_revocations`].
    pub revoked: Arc<RevokedSessions>,
    /// Notified by this process's event store after every committed batch;
    /// the relay, when it runs here, waits on it instead of polling.
    pub appended: Arc<tokio::sync::Notify>,
    /// What this process's relay published lately, decoded, for the
    /// projections of this process (every [`Shared::projector`] shares it).
    pub published: projector::published::Published,
    follower: std::sync::Mutex<bool>,
    nats: OnceCell<async_nats::Client>,
    query: OnceCell<QueryState>,
}

impl Shared {
    /// Load the secrets and make the pools, sized for `connections`.
    pub fn new(
        config: Config,
        args: ServeArgs,
        metrics: PrometheusHandle,
        cancel: CancellationToken,
        connections: Connections,
    ) -> Result<Self> {
        let admin_token = load_admin_token(&config)?;
        let secret =
            api::auth::load_or_create_secret(config.token_secret.as_deref(), &config.data_dir)
                .context("load or create the token secret")?;
        let keys = Arc::new(TokenKeys::new(
            &secret,
            chrono::Duration::seconds(args.access_ttl_secs as i64),
        ));
        let limits = Arc::new(RateLimits::new(args.rate.limits()));
        let pii = config.pii().context("load or create the master key")?;
        // A pool no part uses never connects; one connection keeps it valid.
        let pools = Pools {
            log: log_pool(&config.database_url, connections.log.max(1))?,
            read: lazy_pool(&config.read_database_url, connections.read.max(1))?,
        };
        Ok(Self {
            config,
            args,
            metrics,
            cancel,
            keys,
            limits,
            admin_token,
            pii,
            pools,
            revoked: Arc::default(),
            appended: Arc::default(),
            published: Default::default(),
            follower: std::sync::Mutex::new(false),
            nats: OnceCell::new(),
            query: OnceCell::new(),
        })
    }

    /// The attachments' object store (`COTALK_OBJECT_STORE_URL`, else the
    /// data directory); a malformed URL stops start-up.
    pub fn attachment_store(&self) -> Result<attachments::Store> {
        attachments::Store::open(&attachments::StoreConfig {
            url: self.args.object_store_url.clone(),
            data_dir: self.config.data_dir.clone(),
        })
        .context("open the attachment store (COTALK_OBJECT_STORE_URL)")
    }

    /// The body limits of the upload route.
    pub fn upload_limits(&self) -> api::limits::BodyLimits {
        api::limits::BodyLimits {
            max_bytes: usize::try_from(self.args.max_attachment_bytes).unwrap_or(usize::MAX),
            read_timeout: Duration::from_secs(self.args.upload_read_timeout_secs),
        }
    }

    /// The NATS client the readiness check watches, connected on first use
    /// (retried in the background while NATS is down).
    pub async fn nats(&self) -> Result<async_nats::Client> {
        let client = self
            .nats
            .get_or_try_init(|| {
                async_nats::ConnectOptions::new()
                    .retry_on_initial_connect()
                    .connect(readmodel::subjects::servers(&self.config.nats_url))
            })
            .await
            .context("nats client")?;
        Ok(client.clone())
    }

    /// The query side's state, opened on first use (its connections are made
    /// lazily, so this fails only on a malformed URL).
    pub async fn query(&self) -> Result<QueryState> {
        let state = self
            .query
            .get_or_try_init(|| {
                QueryState::connect(query::QueryConfig {
                    rate_limits: self.limits.clone(),
                    revoked: self.revoked.clone(),
                    ..query::QueryConfig::new(
                        self.config.redis_url.clone(),
                        self.config.replica_url().to_owned(),
                        self.config.namespace.clone(),
                        self.keys.clone(),
                    )
                })
            })
            .await
            .context("connect the query side")?;
        Ok(state.clone())
    }

    /// Start the process's revocation follower (the first part that
    /// authenticates asks; it runs the task): `None` when already started.
    pub async fn follow_revocations(&self) -> Result<Option<tokio::task::JoinHandle<()>>> {
        {
            let mut started = self.follower.lock().unwrap_or_else(|e| e.into_inner());
            if *started {
                return Ok(None);
            }
            *started = true;
        }
        let c = &self.config;
        let sources = super::revocations::Sources {
            namespace: c.namespace.clone(),
            redis_url: c.redis_url.clone(),
            nats_url: c.nats_url.clone(),
        };
        let task = super::revocations::start(sources, self.revoked.clone(), self.cancel.clone())
            .await
            .context("start the revocation follower")?;
        Ok(Some(task))
    }

    /// The command side's sessions: revocations go to this node's deny
    /// list, Redis and NATS.
    pub async fn sessions(&self) -> Result<command::sessions::Sessions> {
        let c = &self.config;
        let redis = readmodel::RedisTarget::open(&c.redis_url).context("redis url")?;
        let revoker = command::sessions::Revoker::new(
            c.namespace.clone(),
            Some(redis),
            Some(self.nats().await?),
            self.revoked.clone(),
            self.keys.ttl(),
        );
        Ok(command::sessions::Sessions {
            revoker,
            refresh_ttl: chrono::Duration::days(self.args.refresh_ttl_days as i64),
        })
    }

    /// A projector configuration on the process's pools, publishing no
    /// live frames.
    pub fn projector(&self) -> ProjectorConfig {
        let c = &self.config;
        let mut config = ProjectorConfig::new(
            &c.namespace,
            self.pools.log.clone(),
            self.pools.read.clone(),
            &c.redis_url,
            &c.nats_url,
            &c.data_dir,
        )
        .with_pii(self.pii.clone());
        config.search.commit_interval = Duration::from_millis(self.args.search_commit_ms);
        config.relay.limits.replicas = self.args.nats_replicas as usize;
        config.relay.appended = Some(self.appended.clone());
        config.relay.min_round_gap = Duration::from_millis(self.args.relay_round_gap_ms);
        config.published = self.published.clone();
        config
    }
}

/// The admin token of `/ops/status` and `/metrics`: configured, or
/// generated into the data directory (and its file logged, never the token).
fn load_admin_token(config: &Config) -> Result<String> {
    let token = crate::ops_status::load_or_create_admin_token(
        config.admin_token.as_deref(),
        &config.data_dir,
    )
    .context("load or create the admin token")?;
    if config.admin_token.is_none() {
        tracing::info!(
            file = %crate::ops_status::admin_token_file(&config.data_dir).display(),
            "operator page /ops and /metrics: admin token kept in the data directory"
        );
    }
    Ok(token)
}
