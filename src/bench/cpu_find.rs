//! Finding the processes of the shared servers a bench drives (Postgres,
//! Redis, NATS) on this machine, read-only: they are run by someone else and
//! are never signalled. A server that is not on this machine (another host,
//! another pid namespace) is reported as missing rather than guessed.

use super::procstat::{read_stat, ProcTable};
use anyhow::{bail, Context, Result};

/// The Redis server's pid from `INFO server`, checked against `/proc`.
pub async fn redis_pid(url: &str) -> Result<u32> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .context("INFO server has no process_id")?;
    named(pid, "redis")
}

/// The process listening on the NATS URL's port: its socket's inode in
/// `/proc/net/tcp{,6}`, then the process holding that inode. Falls back to
/// the only process named `nats-server` when fds cannot be read.
pub fn nats_pid(url: &str) -> Result<u32> {
    let port = url_port(url.split(',').next().unwrap_or(url)).unwrap_or(4222);
    if let Some(pid) = listener_pid(port) {
        return named(pid, "nats");
    }
    let table = ProcTable::read();
    let mut nats = table
        .by_pid
        .values()
        .filter(|s| s.comm.starts_with("nats-server"));
    match (nats.next(), nats.next()) {
        (Some(s), None) => Ok(s.pid),
        _ => bail!("no process on this machine listens on port {port}"),
    }
}

/// The Postgres postmaster: the parent of this connection's backend.
pub async fn postmaster_pid(conn: &mut sqlx::PgConnection) -> Result<u32> {
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await?;
    let stat = u32::try_from(backend)
        .ok()
        .and_then(read_stat)
        .with_context(|| format!("postgres backend {backend} is not on this machine"))?;
    named(stat.ppid, "postgres")
}

/// `pid` if it exists here and its name starts with `prefix` (a pid from
/// another machine or namespace names some unrelated process, or none).
fn named(pid: u32, prefix: &str) -> Result<u32> {
    match read_stat(pid) {
        Some(s) if s.comm.starts_with(prefix) => Ok(pid),
        Some(s) => bail!("pid {pid} is {:?} here, not {prefix}", s.comm),
        None => bail!("pid {pid} is not on this machine"),
    }
}

/// The port a URL names (`nats://user@host:4222`, `http://host:8191/`).
pub(super) fn url_port(url: &str) -> Option<u16> {
    let host_port = url.rsplit('@').next().unwrap_or(url);
    let host_port = host_port.split("://").last().unwrap_or(host_port);
    let host_port = host_port.split('/').next().unwrap_or(host_port);
    host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
}

/// The pid holding a TCP socket that listens on `port` (any address).
pub(super) fn listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(listening_inodes(&text, port));
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| link.as_os_str() == w.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// Inodes of the sockets in a `/proc/net/tcp` table listening on `port`
/// (state `0A`).
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit_once(':')?.1;
            let listening = *f.get(3)? == "0A";
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| f.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:107E 00000000:0000 0A 00000000:00000000 00:00000000 00000000   112        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:107E 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   112        0 4444 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inodes(table, 4222), vec![31337]);
        assert_eq!(listening_inodes(table, 6379), vec![5555]);
        assert!(listening_inodes(table, 5432).is_empty());
    }
}
