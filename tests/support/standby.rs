//! Throwaway Postgres servers for the read-replica test and the chaos suite:
//! a private primary (`initdb` in a scratch directory), restartable on its
//! port, and a real hot standby of it made with `pg_basebackup`, each on its
//! own loopback port and its own socket directory (see `pg_server.rs`).
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

#[path = "pg_server.rs"]
mod pg_server;

use pg_server::{append, make_dir, Scratch, Server, Tools, FIX};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;
use tokio::time::Instant;

/// Name of the physical replication slot the standby streams from: the
/// primary keeps every WAL segment the standby has not received yet.
const SLOT: &str = "cotalk_test_standby";

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
