//! Postgres' own one-row-transaction rate measured with `pgbench` in the same
//! run as `bench append`: N clients, each committing one `INSERT` of a
//! message-sized row per transaction into a scratch table of a scratch
//! database (created and dropped here). It is the rate an event store with
//! one transaction per post could reach on this machine, with no HTTP and no
//! checks; cotalk's group commit should reach or pass it.

use super::cpu::Sampler;
use super::harness::BenchEnv;
use super::procstat::{read_stat, ticks_per_second};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};
use std::str::FromStr;

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
    let me = std::process::id();
    // pgbench is this process's only child while it runs: its CPU time is
    // the growth of this process's waited-for children's time.
    let children = || read_stat(me).map_or(0, |s| s.cutime + s.cstime);
    let (children_before, before) = (children(), sampler.sample().await);
    let out = tokio::process::Command::new("pgbench")
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
        .output()
        .await
        .context("run pgbench")?;
    let after = sampler.sample().await;
    let pgbench_cpu_s = (children() - children_before) as f64 / ticks_per_second() as f64;
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
    let mut cpu = sampler.per_post(&before, &after, transactions);
    if let Some(groups) = cpu["groups"].as_array_mut() {
        groups.push(json!({
            "name": super::cpu::LOAD_GENERATOR,
            "cpu_s": pgbench_cpu_s,
            "us_per_post": 1e6 * pgbench_cpu_s / transactions.max(1) as f64,
        }));
    }
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
