//! Postgres' own one-row-transaction rate measured with `pgbench` in the same
//! run as `bench append`: N clients, each committing one `INSERT` of a
//! message-sized row per transaction into a scratch table of a scratch
//! database (created and dropped here). It is the rate an event store with
//! one transaction per post could reach on this machine, with no HTTP and no
//! checks; cotalk's group commit should reach or pass it.

use super::cpu::Sampler;
use super::harness::BenchEnv;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};
use std::str::FromStr;
use std::time::Duration;

/// The transaction every pgbench client repeats.
const SCRIPT: &str = "INSERT INTO one_row (body) VALUES ('오늘 회의는 3시에 시작합니다. Meeting at 3pm, see you there');\n";

/// Run pgbench with `clients` clients for `seconds`; `{"skipped": why}` when
/// pgbench is not installed.
pub async fn run(env: &BenchEnv, clients: usize, seconds: u64) -> Result<Value> {
    let version = tokio::process::Command::new("pgbench")
        .arg("--version")
        .output()
        .await;
    let Some(version) = version.ok().filter(|o| o.status.success()) else {
        println!("  pgbench: not found on PATH, skipped");
        return Ok(json!({ "skipped": "pgbench not found on PATH" }));
    };
    let db = format!(
        "cotalk_bench_pgbench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let admin = PgConnectOptions::from_str(&format!("{}/postgres", env.server_url()))?;
    let mut conn = admin.connect().await?;
    conn.execute(format!("CREATE DATABASE \"{db}\"").as_str())
        .await?;
    let result = measure(env, &db, clients, seconds).await;
    let _ = conn
        .execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str())
        .await;
    let mut result = result?;
    result["version"] = json!(String::from_utf8_lossy(&version.stdout).trim());
    Ok(result)
}

async fn measure(env: &BenchEnv, db: &str, clients: usize, seconds: u64) -> Result<Value> {
    // Room for the CPU window inside the run (see below).
    let seconds = seconds.max(4);
    let url = format!("{}/{db}", env.server_url());
    let mut conn = PgConnectOptions::from_str(&url)?.connect().await?;
    conn.execute("CREATE TABLE one_row (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)")
        .await?;
    drop(conn);
    let script = tempfile_path(db);
    std::fs::write(&script, SCRIPT)?;
    let opts = PgConnectOptions::from_str(&url)?;
    let mut sampler = Sampler::default();
    sampler.postgres(&url, &[db.to_owned()]).await;
    let child = tokio::process::Command::new("pgbench")
        .args(["-n", "-j", "2"])
        .arg(format!("-c{clients}"))
        .arg(format!("-T{seconds}"))
        .arg("-f")
        .arg(&script)
        .arg("-h")
        .arg(opts.get_host())
        .arg("-p")
        .arg(opts.get_port().to_string())
        .arg("-U")
        .arg(opts.get_username())
        .arg(db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("run pgbench")?;
    if let Some(pid) = child.id() {
        sampler.process(super::cpu::LOAD_GENERATOR, pid);
    }
    // pgbench's backends exit with it, taking their CPU time along: CPU is
    // sampled inside the run, a second after its start and a second before
    // its end, and divided by the transactions of that window at the run's
    // rate.
    let margin = Duration::from_secs(1);
    let window = Duration::from_secs(seconds).saturating_sub(2 * margin);
    tokio::time::sleep(margin).await;
    let before = sampler.sample().await;
    tokio::time::sleep(window).await;
    let after = sampler.sample().await;
    let out = child.wait_with_output().await?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (tps, latency_ms, transactions) = parse_output(&text)?;
    let wall = after.seconds_since(&before);
    let cpu = sampler.per_post(&before, &after, (tps * wall).round() as u64);
    Ok(json!({
        "clients": clients,
        "threads": 2,
        "seconds": seconds,
        "tps": tps,
        "latency_avg_ms": latency_ms,
        "transactions": transactions,
        "cpu": cpu,
    }))
}

fn tempfile_path(db: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{db}.sql"))
}

/// `(tps, average latency in ms, transactions)` from pgbench's report.
fn parse_output(text: &str) -> Result<(f64, f64, u64)> {
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.split('/').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let tps = value("tps = ").context("no tps in pgbench's output")?;
    let latency = value("latency average = ").context("no latency in pgbench's output")?;
    let transactions = value("number of transactions actually processed: ")
        .context("no transaction count in pgbench's output")?;
    Ok((tps, latency, transactions as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbench_15s_report() {
        let text = "transaction type: /tmp/x.sql
scaling factor: 1
query mode: simple
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 177012
number of failed transactions: 0 (0.000%)
latency average = 3.612 ms
initial connection time = 41.237 ms
tps = 17701.912345 (without initial connection time)
";
        assert_eq!(parse_output(text).unwrap(), (17701.912345, 3.612, 177012));
        assert!(parse_output("tps = 1\n").is_err());
    }
}
