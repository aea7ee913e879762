//! The one typed configuration of cotalk. Every option is a flag of
//! `cotalk serve` (and the other commands) and a `COTALK_*` environment
//! variable; the defaults make a single-machine `make run` work.

use api::ratelimit::{Rate, RateLimitConfig};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

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

    /// Master key of personal data (issue 18): wraps every user's data key
    /// and keys the username hashes. At least 32 characters; generated
    /// into the data directory (`master_key`) when unset. Every process of
    /// a deployment needs the same one, and it must never change (data keys
    /// and username hashes made under another do not open). Never logged.
    #[arg(
        long,
        env = "COTALK_MASTER_KEY",
        hide_env_values = true,
        global = true,
        value_parser = master_key
    )]
    pub master_key: Option<String>,
}

/// A master key: at least 32 characters.
fn master_key(s: &str) -> Result<String, String> {
    if s.chars().count() >= 32 {
        Ok(s.to_owned())
    } else {
        Err("the master key must be at least 32 characters".into())
    }
}

impl Config {
    /// The personal-data keys of this deployment: the configured master
    /// key, else the one generated into the data directory.
    pub fn pii(&self) -> std::io::Result<eventlog::pii::Pii> {
        let secret = api::auth::load_or_create_named_secret(
            self.master_key.as_deref(),
            &self.data_dir,
            "master_key",
        )?;
        Ok(eventlog::pii::Pii::new(&secret))
    }

    /// The URL queries read the read tables from.
    pub fn replica_url(&self) -> &str {
        self.read_replica_url
            .as_deref()
            .unwrap_or(&self.read_database_url)
    }
}

/// Logging, for every command.
#[derive(Debug, Clone, Default, Args)]
pub struct LogArgs {
    /// Which log lines to write, as `RUST_LOG` directives (`debug`,
    /// `projector=debug,tantivy=info`). Unset: cotalk's own crates at
    /// `info`, every dependency at `warn` (`telemetry::DEFAULT_FILTER`).
    #[arg(long, env = "RUST_LOG", global = true, value_parser = log_filter)]
    pub log_filter: Option<String>,

    /// Write log lines as JSON objects, one per line, instead of plain text.
    #[arg(long, env = "COTALK_LOG_JSON", global = true, default_value_t = false,
        action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    pub log_json: bool,
}

/// A log filter: directives `tracing_subscriber`'s `EnvFilter` accepts.
pub fn log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("`{s}` is not a log filter: {e}"))
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
    /// Relay and the Redis and history projections, and the meet-up
    /// reminder scheduler.
    Projector,
    /// Only the meet-up reminder scheduler (one of several nodes competing
    /// for its lease).
    Scheduler,
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

    /// Lifetime of access tokens, in seconds. A revoked session's entry in
    /// every node's deny list is kept this long.
    #[arg(long, env = "COTALK_ACCESS_TTL_SECS", default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(10..=86400))]
    pub access_ttl_secs: u64,

    /// Lifetime of refresh tokens, in days (each rotation starts a new one).
    #[arg(long, env = "COTALK_REFRESH_TTL_DAYS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=365))]
    pub refresh_ttl_days: u64,

    /// Most events one group commit appends.
    #[arg(long, env = "COTALK_BATCH_MAX_EVENTS", default_value_t = 512)]
    pub batch_max_events: usize,

    /// How long the group commit waits for more commands when none is
    /// queued, in microseconds (0: a batch leaves as soon as the previous
    /// commit is done, with whatever queued meanwhile).
    #[arg(long, env = "COTALK_BATCH_MAX_WAIT_US", default_value_t = 0)]
    pub batch_max_wait_us: u64,

    /// Nice value of the group commit's thread, the one serial stage of the
    /// command path (unset: the process's). A value below the process's
    /// (say -10) needs `CAP_SYS_NICE` or `RLIMIT_NICE` (systemd
    /// `LimitNICE=`); without it the thread keeps the process's priority
    /// and the server logs a warning.
    #[arg(long, env = "COTALK_BATCHER_NICE", allow_negative_numbers = true,
        value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub batcher_nice: Option<i32>,

    /// Longest an indexed message waits for the search index's commit, in
    /// milliseconds: search answers may lag the other read models by this
    /// much (`X-Min-Position` waits for it). Fewer, larger commits cost less
    /// CPU: each writes a segment that merges then rewrite.
    #[arg(long, env = "COTALK_SEARCH_COMMIT_MS", default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub search_commit_ms: u64,

    /// Least time between two rounds of the relay woken by appends, in
    /// milliseconds. Under load the appends of that time leave as one page,
    /// one NATS message and one batch of each projection, so every hop
    /// downstream pays its per-batch cost less often (30 ms: a fifth less
    /// CPU per post for the whole pipeline than 5 ms, at saturation and at
    /// 1 000 posts/s), at the cost of up to that much more time before a
    /// post is visible. A post after a quiet spell is relayed at once.
    #[arg(long, env = "COTALK_RELAY_ROUND_GAP_MS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub relay_round_gap_ms: u64,

    /// Copies JetStream keeps of the event stream when the relay creates it
    /// (1 on one NATS server; 3 on a three-node NATS cluster, which then
    /// keeps every message through the loss of one node). Consumers inherit
    /// it. An existing stream is left as it is.
    #[arg(long, env = "COTALK_NATS_REPLICAS", default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(1..=5))]
    pub nats_replicas: u64,

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

    /// Where attachment bytes are kept: `s3://bucket[/prefix]` for an
    /// S3-compatible bucket (credentials, region and endpoint from the
    /// standard `AWS_*` variables), or `file:///dir` for a directory every
    /// node shares; unset, the node's own `{data_dir}/attachments`.
    #[arg(long, env = "COTALK_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,

    /// Largest attachment, in bytes (`POST /v1/rooms/{id}/attachments`);
    /// more is 413 `payload_too_large`, before or while the body is read.
    #[arg(long, env = "COTALK_MAX_ATTACHMENT_BYTES", default_value_t = 25 * 1024 * 1024,
        value_parser = clap::value_parser!(u64).range(1..=(4u64 << 30)))]
    pub max_attachment_bytes: u64,

    /// Seconds a client has to send a whole attachment once the server reads it.
    #[arg(long, env = "COTALK_UPLOAD_READ_TIMEOUT_SECS", default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub upload_read_timeout_secs: u64,

    /// Seconds after which an upload no message refers to is discarded
    /// and its bytes deleted (the orphan sweeper).
    #[arg(long, env = "COTALK_ORPHAN_UPLOAD_SECS", default_value_t = 86400,
        value_parser = clap::value_parser!(u64).range(1..=(365 * 86400)))]
    pub orphan_upload_secs: u64,

    /// Seconds between two passes of the orphan sweeper.
    #[arg(long, env = "COTALK_ORPHAN_SWEEP_INTERVAL_SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub orphan_sweep_interval_secs: u64,

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

    /// Seconds after posting during which an author may delete a message for
    /// everyone (room owners and admins: any time); later 403
    /// `delete_window_passed`. 0 to 10 years.
    #[arg(long, env = "COTALK_DELETE_WINDOW_SECS",
        default_value_t = domain::values::DeleteWindow::DEFAULT_SECS,
        value_parser = clap::value_parser!(u32).range(0..=315_360_000))]
    pub delete_window_secs: u32,

    /// Days a deleted account's username cannot be registered again
    /// (issue 18); 0 to 3650.
    #[arg(long, env = "COTALK_USERNAME_QUARANTINE_DAYS",
        default_value_t = command::state::DEFAULT_QUARANTINE_DAYS,
        value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub username_quarantine_days: u32,

    /// Rate limits.
    #[command(flatten)]
    pub rate: RateArgs,
}

/// Rate limits of `cotalk serve` (429 `rate_limited` with `Retry-After`
/// beyond them; see `api::ratelimit` and `api::login_limit`). Defaults are
/// [`RateLimitConfig::DEFAULT`]; a value that is not a positive number (or a
/// boolean, for the switches) stops start-up.
#[derive(Debug, Clone, Args)]
pub struct RateArgs {
    /// Failed logins per account per minute. Beyond it, addresses that failed
    /// against the account are refused and others are delayed, never refused.
    #[arg(long, env = "COTALK_RATE_LOGIN_PER_ACCOUNT_PER_MIN",
        default_value_t = RateLimitConfig::DEFAULT.login_failures_per_account.burst,
        value_parser = positive)]
    pub rate_login_per_account_per_min: f64,

    /// Failed logins and sign-ups per client address per minute.
    #[arg(long, env = "COTALK_RATE_LOGIN_PER_ADDRESS_PER_MIN",
        default_value_t = RateLimitConfig::DEFAULT.login_per_address.burst,
        value_parser = positive)]
    pub rate_login_per_address_per_min: f64,

    /// Milliseconds a login from an address without failures waits while
    /// the account's failure budget is exhausted (0–60000).
    #[arg(long, env = "COTALK_RATE_LOGIN_DELAY_MS",
        default_value_t = RateLimitConfig::DEFAULT.locked_login_delay.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub rate_login_delay_ms: u64,

    /// Posts per user per second.
    #[arg(long, env = "COTALK_RATE_POST_PER_SEC",
        default_value_t = RateLimitConfig::DEFAULT.post_per_user.per_second,
        value_parser = positive)]
    pub rate_post_per_sec: f64,

    /// Posts a user may send at once after being idle.
    #[arg(long, env = "COTALK_RATE_POST_BURST",
        default_value_t = RateLimitConfig::DEFAULT.post_per_user.burst,
        value_parser = positive)]
    pub rate_post_burst: f64,

    /// Searches per user per second.
    #[arg(long, env = "COTALK_RATE_SEARCH_PER_SEC",
        default_value_t = RateLimitConfig::DEFAULT.search_per_user.per_second,
        value_parser = positive)]
    pub rate_search_per_sec: f64,

    /// Searches a user may send at once after being idle.
    #[arg(long, env = "COTALK_RATE_SEARCH_BURST",
        default_value_t = RateLimitConfig::DEFAULT.search_per_user.burst,
        value_parser = positive)]
    pub rate_search_burst: f64,

    /// `GET /v1/users?username=` lookups per user per second.
    #[arg(long, env = "COTALK_RATE_USER_LOOKUP_PER_SEC",
        default_value_t = RateLimitConfig::DEFAULT.user_lookup_per_user.per_second,
        value_parser = positive)]
    pub rate_user_lookup_per_sec: f64,

    /// Username lookups a user may send at once after being idle.
    #[arg(long, env = "COTALK_RATE_USER_LOOKUP_BURST",
        default_value_t = RateLimitConfig::DEFAULT.user_lookup_per_user.burst,
        value_parser = positive)]
    pub rate_user_lookup_burst: f64,

    /// Invite token uses (previews and joins) per user per second.
    #[arg(long, env = "COTALK_RATE_INVITE_PER_SEC",
        default_value_t = RateLimitConfig::DEFAULT.invite_per_user.per_second,
        value_parser = positive)]
    pub rate_invite_per_sec: f64,

    /// Invite token uses a user may make at once after being idle.
    #[arg(long, env = "COTALK_RATE_INVITE_BURST",
        default_value_t = RateLimitConfig::DEFAULT.invite_per_user.burst,
        value_parser = positive)]
    pub rate_invite_burst: f64,

    /// Take the client address from the first `X-Forwarded-For` entry (only
    /// behind a proxy that overwrites that header).
    #[arg(long, env = "COTALK_RATE_TRUST_FORWARDED_FOR",
        default_value_t = RateLimitConfig::DEFAULT.trust_forwarded_for,
        action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    pub rate_trust_forwarded_for: bool,

    /// Exempt loopback clients from the per-address limits. Off by default:
    /// behind a reverse proxy on the same host every client is 127.0.0.1.
    /// For local tools that sign in many users (tests, benches).
    #[arg(long, env = "COTALK_RATE_EXEMPT_LOOPBACK",
        default_value_t = RateLimitConfig::DEFAULT.exempt_loopback,
        action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    pub rate_exempt_loopback: bool,
}

/// A rate: a finite number above zero.
fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

impl RateArgs {
    /// The limiters' configuration.
    pub fn limits(&self) -> RateLimitConfig {
        RateLimitConfig {
            login_failures_per_account: Rate::per_minute(self.rate_login_per_account_per_min),
            login_per_address: Rate::per_minute(self.rate_login_per_address_per_min),
            locked_login_delay: Duration::from_millis(self.rate_login_delay_ms),
            post_per_user: Rate {
                per_second: self.rate_post_per_sec,
                burst: self.rate_post_burst,
            },
            search_per_user: Rate {
                per_second: self.rate_search_per_sec,
                burst: self.rate_search_burst,
            },
            user_lookup_per_user: Rate {
                per_second: self.rate_user_lookup_per_sec,
                burst: self.rate_user_lookup_burst,
            },
            invite_per_user: Rate {
                per_second: self.rate_invite_per_sec,
                burst: self.rate_invite_burst,
            },
            trust_forwarded_for: self.rate_trust_forwarded_for,
            exempt_loopback: self.rate_exempt_loopback,
        }
    }
}

impl Default for RateArgs {
    /// [`RateLimitConfig::DEFAULT`], as flags (for servers built in code).
    fn default() -> Self {
        let d = RateLimitConfig::DEFAULT;
        Self {
            rate_login_per_account_per_min: d.login_failures_per_account.burst,
            rate_login_per_address_per_min: d.login_per_address.burst,
            rate_login_delay_ms: d.locked_login_delay.as_millis() as u64,
            rate_post_per_sec: d.post_per_user.per_second,
            rate_post_burst: d.post_per_user.burst,
            rate_search_per_sec: d.search_per_user.per_second,
            rate_search_burst: d.search_per_user.burst,
            rate_user_lookup_per_sec: d.user_lookup_per_user.per_second,
            rate_user_lookup_burst: d.user_lookup_per_user.burst,
            rate_invite_per_sec: d.invite_per_user.per_second,
            rate_invite_burst: d.invite_per_user.burst,
            rate_trust_forwarded_for: d.trust_forwarded_for,
            rate_exempt_loopback: d.exempt_loopback,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("cotalk").chain(args.iter().copied())).map(|c| c.serve)
    }

    #[test]
    fn rate_defaults_are_the_limiters_defaults() {
        let parsed = parse(&[]).unwrap();
        assert_eq!(parsed.rate.limits(), RateLimitConfig::DEFAULT);
        assert_eq!(RateArgs::default().limits(), RateLimitConfig::DEFAULT);
        assert!(
            !parsed.rate.limits().exempt_loopback,
            "loopback is limited by default"
        );
    }

    #[test]
    fn rate_flags_are_read() {
        let parsed = parse(&[
            "--rate-login-per-account-per-min",
            "3",
            "--rate-user-lookup-burst",
            "2.5",
            "--rate-exempt-loopback",
            "--rate-trust-forwarded-for",
            "yes",
        ])
        .unwrap();
        let limits = parsed.rate.limits();
        assert_eq!(limits.login_failures_per_account, Rate::per_minute(3.0));
        assert_eq!(limits.user_lookup_per_user.burst, 2.5);
        assert!(limits.exempt_loopback && limits.trust_forwarded_for);
    }

    #[test]
    fn bad_rate_values_stop_start_up() {
        for (flag, value) in [
            ("--rate-post-per-sec", "fast"),
            ("--rate-post-burst", "0"),
            ("--rate-search-per-sec", "-1"),
            ("--rate-login-per-address-per-min", "NaN"),
            ("--rate-user-lookup-per-sec", "inf"),
            ("--rate-login-delay-ms", "600000"),
            ("--rate-exempt-loopback", "maybe"),
            ("--search-commit-ms", "5"),
        ] {
            let arg = format!("{flag}={value}");
            let e = parse(&[&arg])
                .err()
                .unwrap_or_else(|| panic!("{arg} was accepted"));
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{arg}");
            assert!(e.to_string().contains(flag), "{e}");
        }
    }
}
