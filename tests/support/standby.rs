//! Throwaway Postgres servers for the read-replica test: a private primary
//! (`initdb` in a scratch directory) and a real hot standby of it made with
//! `pg_basebackup`, each on its own loopback port and its own socket directory.
//!
//! Why a private primary rather than the machine's server on 5432: a physical
//! base backup copies the whole cluster, and the shared server holds every
//! database every test run ever left there (gigabytes; over a minute to
//! copy). A primary holding only this test's two databases copies in about a
//! second, so the test stays bounded whatever state the shared server is in.
//! The binaries are the machine's own (`/usr/lib/postgresql/*/bin`).
//!
//! Postgres refuses to run as root, so when the test runs as root every
//! server tool runs as the `postgres` OS user (`runuser`) and the scratch
//! directory belongs to it. Servers are stopped (`-m immediate`) and the
//! directory removed on drop, also when the test panics or times out.

// Included by tests/replica.rs and by the chaos suite; each uses a part.
#![allow(dead_code)]

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::time::Instant;

/// What to do when the machine cannot run a standby.
const FIX: &str = "run scripts/services (it installs the PostgreSQL server binaries)";

/// Name of the physical replication slot the standby streams from: the
/// primary keeps every WAL segment the standby has not received yet.
const SLOT: &str = "cotalk_test_standby";

/// Where the server binaries are and who runs them.
#[derive(Clone, Debug)]
struct Tools {
    bin: PathBuf,
    /// Run through `runuser -u postgres --` (we are root).
    as_postgres: bool,
    /// Working directory of every tool (readable by whoever runs it).
    cwd: PathBuf,
}

impl Tools {
    fn find(cwd: &Path) -> Result<Self, String> {
        let bin = bin_dir().ok_or_else(|| {
            format!("no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) under /usr/lib/postgresql/*/bin or on PATH: {FIX}")
        })?;
        // /proc/self belongs to the effective user of this process.
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        Ok(Self {
            bin,
            as_postgres,
            cwd: cwd.to_owned(),
        })
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Run `tool` to completion within `limit`; its stderr is the error.
    async fn run(&self, tool: &str, args: &[&str], limit: Duration) -> Result<(), String> {
        let out = tokio::time::timeout(limit, self.command(tool, args).output())
            .await
            .map_err(|_| format!("{tool} did not finish within {limit:?}"))?
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{tool} {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim(),
        ))
    }

    /// `pg_ctl stop -m immediate`, synchronously (for `Drop`).
    fn stop(&self, data: &Path) {
        let exe = self.bin.join("pg_ctl");
        let data = data.to_string_lossy().into_owned();
        let args = ["-D", &data, "-m", "immediate", "-w", "-t", "10", "stop"];
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            std::process::Command::new(exe)
        };
        let _ = cmd
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding the tools we use,
/// or the directory of `initdb` on PATH.
fn bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| {
        ["initdb", "pg_ctl", "pg_basebackup", "postgres"]
            .iter()
            .all(|t| dir.join(t).is_file())
    };
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versioned.sort();
    if let Some((_, dir)) = versioned.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|dir| has_tools(dir)))
}

/// A free loopback port (free when asked; the start is retried on a clash).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// One running server: its data directory, port and socket directory.
struct Server {
    tools: Tools,
    data: PathBuf,
    port: u16,
}

impl Server {
    /// `pg_ctl start -w` on a free port, listening on loopback only and on a
    /// socket directory of its own. Retried on another port if the first one
    /// was taken in between.
    async fn start(tools: &Tools, data: PathBuf, socket_dir: &Path) -> Result<Self, String> {
        Self::start_on(tools, data, socket_dir, None).await
    }

    /// As [`Server::start`]; on `port` when given (a restart keeps the port
    /// its clients know), with no retry on another one then.
    async fn start_on(
        tools: &Tools,
        data: PathBuf,
        socket_dir: &Path,
        port: Option<u16>,
    ) -> Result<Self, String> {
        let log = data.with_extension("log");
        let mut last = String::new();
        for _ in 0..3 {
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c hot_standby=on",
                socket_dir.display()
            );
            let (d, l) = (data.to_string_lossy(), log.to_string_lossy());
            let args = [
                "-D", &d, "-l", &l, "-o", &options, "-w", "-t", "30", "start",
            ];
            match tools.run("pg_ctl", &args, Duration::from_secs(35)).await {
                Ok(()) => {
                    return Ok(Self {
                        tools: tools.clone(),
                        data,
                        port,
                    })
                }
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                    last = format!(
                        "{e}; log: {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                    );
                    tools.stop(&data);
                }
            }
        }
        Err(last)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.tools.stop(&self.data);
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private primary and, once [`Replication::start_standby`] ran, a hot
/// standby streaming from it. Fields drop in order: standby, primary, files.
pub struct Replication {
    standby: Option<Server>,
    /// `None` only between [`Replication::stop_primary`] and
    /// [`Replication::restart_primary`].
    primary: Option<Server>,
    /// The primary's port, kept across a restart.
    primary_port: u16,
    scratch: Scratch,
    tools: Tools,
}

impl Replication {
    /// `initdb` a primary into a new scratch directory (named after `tag`)
    /// and start it: trust authentication and replication from loopback only.
    pub async fn start_primary(tag: &str) -> Result<Self, String> {
        let root = std::env::temp_dir().join(format!("cotalk-replica-{tag}"));
        std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let scratch = Scratch(root.clone());
        let tools = Tools::find(&root)?;
        if tools.as_postgres {
            let status = std::process::Command::new("chown")
                .arg("postgres:postgres")
                .arg(&root)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "cannot give {} to the postgres OS user (does it exist?): {FIX}",
                    root.display()
                ));
            }
        }
        let data = root.join("primary");
        let d = data.to_string_lossy();
        tools
            .run(
                "initdb",
                &[
                    "-D",
                    &d,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                Duration::from_secs(60),
            )
            .await?;
        // Shared by the standby too: pg_basebackup copies these files.
        let conf = "\n# cotalk replica test\n\
            wal_level = replica\n\
            max_wal_senders = 4\n\
            max_replication_slots = 4\n\
            hot_standby = on\n\
            fsync = off\n\
            shared_buffers = 32MB\n\
            max_connections = 100\n";
        append(&data.join("postgresql.conf"), conf)?;
        let hba = "local all all trust\n\
            host all all 127.0.0.1/32 trust\n\
            host replication all 127.0.0.1/32 trust\n";
        std::fs::write(data.join("pg_hba.conf"), hba)
            .map_err(|e| format!("write pg_hba.conf: {e}"))?;
        let sockets = make_dir(&tools, &root.join("primary-socket"))?;
        let primary = Server::start(&tools, data, &sockets).await?;
        Ok(Self {
            standby: None,
            primary_port: primary.port,
            primary: Some(primary),
            scratch,
            tools,
        })
    }

    /// A URL of database `db` on the primary, as the `postgres` superuser.
    pub fn primary_url(&self, db: &str) -> String {
        format!("{}/{db}", self.primary_server())
    }

    /// The primary's URL without a database (for `TestEnv::on_server`).
    pub fn primary_server(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.primary_port)
    }

    /// Stop the primary as a crash would (`pg_ctl stop -m immediate`: no
    /// shutdown checkpoint, every connection cut); the next start recovers
    /// from the WAL. Nothing of the OS cache is lost, so neither is any
    /// committed transaction, `fsync = off` notwithstanding.
    pub fn stop_primary(&mut self) {
        drop(self.primary.take());
    }

    /// Start the primary again on the port it had. Retried for a while: the
    /// port may still be held by the stopped server's sockets.
    pub async fn restart_primary(&mut self) -> Result<(), String> {
        if self.primary.is_some() {
            return Ok(());
        }
        let data = self.scratch.0.join("primary");
        let sockets = self.scratch.0.join("primary-socket");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Server::start_on(&self.tools, data.clone(), &sockets, Some(self.primary_port))
                .await
            {
                Ok(server) => {
                    self.primary = Some(server);
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// A URL of database `db` on the standby, as the `postgres` superuser.
    /// Panics before [`Replication::start_standby`].
    pub fn standby_url(&self, db: &str) -> String {
        let port = self
            .standby
            .as_ref()
            .map(|s| s.port)
            .expect("standby started");
        format!("postgres://postgres@127.0.0.1:{port}/{db}")
    }

    /// `pg_basebackup -R -X stream` of the primary (every database it holds
    /// now) into the scratch directory, then start it as a hot standby on
    /// another port. Returns once it accepts read-only connections.
    pub async fn start_standby(&mut self) -> Result<(), String> {
        let data = self.scratch.0.join("standby");
        let d = data.to_string_lossy().into_owned();
        let port = self.primary_port.to_string();
        let mut args: Vec<&str> =
            "-h 127.0.0.1 -U postgres -R -X stream --checkpoint=fast -N -C -S"
                .split(' ')
                .collect();
        args.extend([SLOT, "-p", &port, "-D", &d]);
        self.tools
            .run("pg_basebackup", &args, Duration::from_secs(30))
            .await
            .map_err(|e| {
                format!("{e}\n(this test writes 'host replication all 127.0.0.1/32 trust' into the private primary's pg_hba.conf; a refusal means that file was not read)")
            })?;
        let sockets = make_dir(&self.tools, &self.scratch.0.join("standby-socket"))?;
        self.standby = Some(Server::start(&self.tools, data, &sockets).await?);
        Ok(())
    }

    /// A superuser pool on database `db` of the primary.
    pub async fn primary_pool(&self, db: &str) -> Result<PgPool, String> {
        pool(&self.primary_url(db)).await
    }

    /// A superuser pool on database `db` of the standby.
    pub async fn standby_pool(&self, db: &str) -> Result<PgPool, String> {
        pool(&self.standby_url(db)).await
    }

    /// Wait (up to `limit`) until the primary reports our standby streaming
    /// from the slot; returns the `pg_stat_replication` row's state.
    pub async fn wait_streaming(&self, limit: Duration) -> Result<String, String> {
        let admin = self.primary_pool("postgres").await?;
        let deadline = Instant::now() + limit;
        loop {
            let state: Option<String> = sqlx::query_scalar(
                "SELECT r.state FROM pg_stat_replication r
                 JOIN pg_replication_slots s ON s.active_pid = r.pid
                 WHERE s.slot_name = $1",
            )
            .bind(SLOT)
            .fetch_optional(&admin)
            .await
            .map_err(|e| format!("read pg_stat_replication: {e}"))?;
            if state.as_deref() == Some("streaming") {
                admin.close().await;
                return Ok("streaming".into());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the standby is not streaming from the primary after {limit:?} (state {state:?})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A small superuser pool.
async fn pool(url: &str) -> Result<PgPool, String> {
    let options: PgConnectOptions = url.parse().map_err(|e| format!("{url}: {e}"))?;
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| format!("connect {url}: {e}"))
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("append to {}: {e}", path.display()))
}

/// A directory the servers can write (their socket directory).
fn make_dir(tools: &Tools, dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    if tools.as_postgres {
        let ok = std::process::Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!(
                "cannot give {} to the postgres OS user",
                dir.display()
            ));
        }
    }
    Ok(dir.to_owned())
}
