//! The pieces of a throwaway Postgres server that `standby.rs` builds its
//! primary and standby from: the machine's server binaries (run as the
//! `postgres` OS user when we are root), one server started with `pg_ctl` on
//! a loopback port and a socket directory of its own and stopped
//! (`-m immediate`) on drop, and a scratch directory removed on drop.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// What to do when the machine cannot run a standby.
pub(super) const FIX: &str = "run scripts/services (it installs the PostgreSQL server binaries)";

/// Where the server binaries are and who runs them.
#[derive(Clone, Debug)]
pub(super) struct Tools {
    bin: PathBuf,
    /// Run through `runuser -u postgres --` (we are root).
    pub(super) as_postgres: bool,
    /// Working directory of every tool (readable by whoever runs it).
    cwd: PathBuf,
}

impl Tools {
    pub(super) fn find(cwd: &Path) -> Result<Self, String> {
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
    pub(super) async fn run(
        &self,
        tool: &str,
        args: &[&str],
        limit: Duration,
    ) -> Result<(), String> {
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
    pub(super) fn stop(&self, data: &Path) {
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
pub(super) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// One running server: its data directory, port and socket directory.
pub(super) struct Server {
    tools: Tools,
    data: PathBuf,
    pub(super) port: u16,
}

impl Server {
    /// `pg_ctl start -w` on a free port, listening on loopback only and on a
    /// socket directory of its own. Retried on another port if the first one
    /// was taken in between.
    pub(super) async fn start(
        tools: &Tools,
        data: PathBuf,
        socket_dir: &Path,
    ) -> Result<Self, String> {
        Self::start_on(tools, data, socket_dir, None).await
    }

    /// As [`Server::start`]; on `port` when given (a restart keeps the port
    /// its clients know), with no retry on another one then.
    pub(super) async fn start_on(
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
pub(super) struct Scratch(pub(super) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("append to {}: {e}", path.display()))
}

/// A directory the servers can write (their socket directory).
pub(super) fn make_dir(tools: &Tools, dir: &Path) -> Result<PathBuf, String> {
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
