//! The one typed configuration of cotalk. Every option is a flag of
//! `cotalk serve` (and the other commands) and a `COTALK_*` environment
//! variable; the defaults make a single-machine `make run` work.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Connections and names shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Event-log (write side) database; created and migrated at start if missing.
    #[arg(
        long,
        env = "COTALK_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/cotalk",
        global = true
    )]
    pub database_url: String,

    /// Read database the projector writes (message history, checkpoints).
    #[arg(
        long,
        env = "COTALK_READ_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/cotalk_read",
        global = true
    )]
    pub read_database_url: String,

    /// Where queries read the read tables (a streaming replica); defaults to the read database.
    #[arg(long, env = "COTALK_READ_REPLICA_URL", global = true)]
    pub read_replica_url: Option<String>,

    /// Redis for read models.
    #[arg(
        long,
        env = "COTALK_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        global = true
    )]
    pub redis_url: String,

    /// NATS with JetStream.
    #[arg(
        long,
        env = "COTALK_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub nats_url: String,

    /// Prefix of every Redis key, JetStream stream and consumer name, so
    /// deployments (and test runs) can share one Redis and one NATS.
    #[arg(
        long,
        env = "COTALK_NAMESPACE",
        default_value = "cotalk",
        global = true
    )]
    pub namespace: String,

    /// Search index directories and generated secrets.
    #[arg(long, env = "COTALK_DATA_DIR", default_value = ".data", global = true)]
    pub data_dir: PathBuf,

    /// Token signing key; generated into the data directory when unset. Never logged.
    #[arg(
        long,
        env = "COTALK_TOKEN_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub token_secret: Option<String>,

    /// Token of the operator page (`/ops`) and `GET /ops/status`; generated
    /// into the data directory (`ops/token_secret`) when unset. Never logged.
    #[arg(
        long,
        env = "COTALK_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
}

impl Config {
    /// The URL queries read the read tables from.
    pub fn replica_url(&self) -> &str {
        self.read_replica_url
            .as_deref()
            .unwrap_or(&self.read_database_url)
    }
}

/// Which parts of cotalk a `serve` process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Everything in one process.
    All,
    /// Command routes (the write side).
    Command,
    /// Query routes, with this node's own search index replica.
    Query,
    /// Relay and the Redis and history projections.
    Projector,
}

/// Options of `cotalk serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTP address.
    #[arg(long, env = "COTALK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Which parts to run.
    #[arg(long, env = "COTALK_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// Lifetime of session tokens, in hours.
    #[arg(long, env = "COTALK_TOKEN_TTL_HOURS", default_value_t = 24)]
    pub token_ttl_hours: i64,

    /// Most events one group commit appends.
    #[arg(long, env = "COTALK_BATCH_MAX_EVENTS", default_value_t = 512)]
    pub batch_max_events: usize,

    /// How long the group commit waits for more commands, in microseconds.
    #[arg(long, env = "COTALK_BATCH_MAX_WAIT_US", default_value_t = 2000)]
    pub batch_max_wait_us: u64,

    /// Seconds a client has to send a whole request head (request line and
    /// headers), counted from its first byte, or from the connection's
    /// opening for its first request; then the connection is closed.
    #[arg(long, env = "COTALK_HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,

    /// Seconds a client has to send a whole request body once the server
    /// reads it; then 408 `request_timeout` and the connection is closed.
    #[arg(long, env = "COTALK_BODY_READ_TIMEOUT_SECS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_read_timeout_secs: u64,

    /// Seconds a keep-alive connection may wait for its next request.
    /// WebSockets (`/v1/stream`) are not cut by this or the read timeouts:
    /// they have their own heartbeat.
    #[arg(long, env = "COTALK_IDLE_TIMEOUT_SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout_secs: u64,

    /// Most open connections (WebSockets included) from one client address
    /// (one IPv6 /64); more are closed at once. Behind a reverse proxy every
    /// connection comes from the proxy: raise it there.
    #[arg(long, env = "COTALK_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_address: u32,

    /// Also serve `GET /metrics` without the admin token on this address,
    /// meant for a private network (on the main address it takes the admin token).
    #[arg(long, env = "COTALK_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Most `GET /v1/stream` connections one user may hold on one node; one
    /// more is closed with code 4029 (the newest is refused, see
    /// `query::stream`). At least 1.
    #[arg(
        long,
        env = "COTALK_MAX_STREAMS_PER_USER",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_streams_per_user: u32,

    /// Origins (`scheme://host[:port]`, comma-separated) whose pages may
    /// open `GET /v1/stream` besides the server's own; requests without an
    /// `Origin` header (non-browser clients) are always let in.
    #[arg(long, env = "COTALK_STREAM_ALLOWED_ORIGINS", default_value = "")]
    pub stream_allowed_origins: query::stream::AllowedOrigins,
}
