//! The system under test for a bench: fresh databases and namespace, a child
//! `cotalk serve` process on a free loopback port, users and rooms made
//! through the public API (with the typed client), and cleanup of everything
//! afterwards.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use contract::commands::{CreateRoomRequest, RegisterRequest};
use domain::{RoomId, UserId};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use testkit::client::Client;

/// Fresh names for one bench run.
#[derive(Debug, Clone)]
pub struct BenchEnv {
    /// The configuration the child server gets.
    pub config: Config,
    /// Log filter of the child processes (`--server-log`).
    pub server_log: String,
    /// Usernames of [`users`] are this and a number (`bench_user_` unless
    /// the run shares a deployment with others).
    pub user_prefix: String,
    server_url: String,
}

impl BenchEnv {
    /// New databases (on the configured server) and a new namespace; child
    /// processes log with `common.server_log`.
    pub fn new(base: &Config, common: &super::Common, label: &str) -> Result<Self> {
        let tag = format!("{label}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let opts = PgConnectOptions::from_str(&base.database_url)?;
        let server_url = format!(
            "postgres://{}@{}:{}",
            opts.get_username(),
            opts.get_host(),
            opts.get_port()
        );
        let mut config = base.clone();
        config.database_url = format!("{server_url}/cotalk_bench_{tag}");
        config.read_database_url = format!("{server_url}/cotalk_bench_{tag}_read");
        config.read_replica_url = None;
        config.namespace = format!("bench{tag}");
        config.data_dir = std::env::temp_dir().join(format!("cotalk-bench-{tag}"));
        config.token_secret = Some(format!("bench-secret-{}", uuid::Uuid::new_v4()));
        Ok(Self {
            config,
            server_log: common.server_log.clone(),
            user_prefix: "bench_user_".into(),
            server_url,
        })
    }

    /// `postgres://user@host:port` of the configured Postgres, no database.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Names of the run's two databases (event log, read models).
    pub fn database_names(&self) -> Vec<String> {
        [&self.config.database_url, &self.config.read_database_url]
            .iter()
            .map(|url| url.rsplit('/').next().unwrap_or_default().to_owned())
            .collect()
    }

    /// Create and migrate the databases.
    pub async fn prepare(&self) -> Result<()> {
        if server_binary()? == std::env::current_exe()? {
            return crate::serve::migrate(&self.config).await;
        }
        // Another build serves: its own migrations, not this build's.
        let mut cmd = server_command(self)?;
        cmd.arg("migrate");
        let status = tokio::task::spawn_blocking(move || cmd.status()).await??;
        if !status.success() {
            bail!("`{} migrate` failed: {status}", server_binary()?.display());
        }
        Ok(())
    }

    /// A pool on the bench's event-log database.
    pub async fn write_pool(&self, max: u32) -> Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(max)
            .connect(&self.config.database_url)
            .await?)
    }

    /// Drop the databases, the Redis keys and the JetStream stream of the run.
    pub async fn cleanup(&self) {
        let admin = format!("{}/postgres", self.server_url);
        if let Ok(opts) = PgConnectOptions::from_str(&admin) {
            if let Ok(mut conn) = opts.connect().await {
                for name in self.database_names() {
                    let _ = conn
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await;
                }
            }
        }
        if let Ok(client) = redis::Client::open(self.config.redis_url.as_str()) {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pattern = format!("{}:*", self.config.namespace);
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                for chunk in keys.chunks(1000) {
                    let _: Result<(), _> =
                        redis::cmd("UNLINK").arg(chunk).query_async(&mut conn).await;
                }
            }
        }
        if let Ok(nats) =
            async_nats::connect(readmodel::subjects::servers(&self.config.nats_url)).await
        {
            let js = async_nats::jetstream::new(nats);
            let _ = js
                .delete_stream(format!("{}-events", self.config.namespace))
                .await;
        }
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
    }
}

/// The binary the benches start as the server under test: this one, or
/// the one `COTALK_BENCH_SERVER` names (an older build, to measure it with
/// this build's load generator and figures, one right after the other).
pub fn server_binary() -> Result<std::path::PathBuf> {
    match std::env::var_os("COTALK_BENCH_SERVER").filter(|p| !p.is_empty()) {
        Some(path) => Ok(path.into()),
        None => Ok(std::env::current_exe()?),
    }
}

/// [`server_binary`] with the bench's databases, servers, namespace and
/// data directory in its environment.
fn server_command(env: &BenchEnv) -> Result<Command> {
    let c = &env.config;
    let mut cmd = Command::new(server_binary()?);
    cmd.env("COTALK_DATABASE_URL", &c.database_url)
        .env("COTALK_READ_DATABASE_URL", &c.read_database_url)
        .env("COTALK_REDIS_URL", &c.redis_url)
        .env("COTALK_NATS_URL", &c.nats_url)
        .env("COTALK_NAMESPACE", &c.namespace)
        .env("COTALK_DATA_DIR", &c.data_dir)
        .env(
            "COTALK_TOKEN_SECRET",
            c.token_secret.clone().unwrap_or_default(),
        )
        .env("RUST_LOG", &env.server_log)
        // Every bench client (a thousand WebSockets, a thousand HTTP
        // connections) comes from loopback: no per-address cap.
        .env("COTALK_MAX_CONNECTIONS_PER_ADDRESS", "1000000")
        // The load generator signs in hundreds of users from 127.0.0.1.
        .env("COTALK_RATE_EXEMPT_LOOPBACK", "true")
        .env_remove("COTALK_READ_REPLICA_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Ok(cmd)
}

/// A child `cotalk serve` process.
pub struct ChildServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl ChildServer {
    /// Start `cotalk serve --role ROLE` and wait until it is ready.
    pub async fn start(env: &BenchEnv, role: &str, extra_env: &[(&str, String)]) -> Result<Self> {
        let port = free_port()?;
        let mut cmd = server_command(env)?;
        cmd.args([
            "serve",
            "--role",
            role,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("start the server under test")?;
        let server = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await {
                if r.status().is_success() {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                bail!("server under test did not become ready in 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size so far, in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.pid())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak resident set size of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A logged-in bench user.
#[derive(Debug, Clone)]
pub struct BenchUser {
    pub id: UserId,
    pub token: String,
}

/// Register `n` users (`{env.user_prefix}{i}`), `parallel` at a time. Tokens are
/// minted with the bench server's secret rather than by logging in, which
/// would double the password hashing and measure nothing of interest here.
pub async fn users(
    client: &Client,
    env: &BenchEnv,
    n: usize,
    parallel: usize,
) -> Result<Vec<BenchUser>> {
    use futures::StreamExt;
    let secret = env.config.token_secret.clone().unwrap_or_default();
    let keys = api::TokenKeys::new(secret.as_bytes(), chrono::Duration::hours(6));
    let prefix = env.user_prefix.as_str();
    let made = futures::stream::iter(0..n)
        .map(|i| async move {
            let req = RegisterRequest {
                username: format!("{prefix}{i}"),
                display_name: format!("사용자 {i}"),
                password: "bench-password".into(),
            };
            Ok::<_, anyhow::Error>(client.register(&req).await?.user_id)
        })
        .buffered(parallel)
        .collect::<Vec<_>>()
        .await;
    let mut users = Vec::with_capacity(n);
    for id in made {
        let id = id?;
        // A session token like a login's (with `sid`), so requests pay the
        // deny-list check as clients' do.
        let (token, _) = keys
            .issue_session(id, 0, uuid::Uuid::now_v7(), chrono::Utc::now())
            .map_err(|e| anyhow::anyhow!("minting a bench token: {e:?}"))?;
        users.push(BenchUser { id, token });
    }
    Ok(users)
}

/// `n` rooms; room `r` is owned by user `r % len` and has the
/// `members_per_room` users that follow it (so rooms overlap).
pub async fn rooms(
    client: &Client,
    users: &[BenchUser],
    n: usize,
    members_per_room: usize,
) -> Result<Vec<(RoomId, Vec<usize>)>> {
    let mut out = Vec::with_capacity(n);
    for r in 0..n {
        let owner = r % users.len();
        let members: Vec<usize> = (0..members_per_room.min(users.len()))
            .map(|k| (owner + k) % users.len())
            .collect();
        out.push(create_room(client, users, r, members).await?);
    }
    Ok(out)
}

/// Disjoint rooms of `members` users each (the last may be smaller): every
/// user is in exactly one room.
pub async fn group_rooms(
    client: &Client,
    users: &[BenchUser],
    members: usize,
) -> Result<Vec<(RoomId, Vec<usize>)>> {
    use futures::StreamExt;
    let groups: Vec<Vec<usize>> = (0..users.len())
        .collect::<Vec<_>>()
        .chunks(members.max(1))
        .map(<[usize]>::to_vec)
        .collect();
    let made = futures::stream::iter(groups.into_iter().enumerate())
        .map(|(r, group)| create_room(client, users, r, group))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    made.into_iter().collect()
}

/// Create one room owned by `members[0]` with the others as members.
async fn create_room(
    client: &Client,
    users: &[BenchUser],
    r: usize,
    members: Vec<usize>,
) -> Result<(RoomId, Vec<usize>)> {
    let req = CreateRoomRequest {
        name: format!("bench room {r}"),
        members: members.iter().skip(1).map(|i| users[*i].id).collect(),
    };
    let room = client
        .auth(users[members[0]].token.clone())
        .create_room(&req)
        .await?;
    Ok((room.room_id, members))
}
