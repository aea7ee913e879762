//! CPU time per post of every process a bench involves, from `/proc`: the
//! cotalk server(s) by role, Postgres, Redis, NATS, and the load generator
//! (this process) on its own. Wall-clock figures swing on a shared 2-core
//! machine; CPU time per unit of work moves far less.
//!
//! Each group is sampled before and after a step as a set of processes
//! (pid and start time) with their user + system time, and the difference is
//! taken per process: one that appeared during the step counts whole, one
//! that exited during it is lost (the benches keep their connections open,
//! so nothing they cause exits mid-step).
//!
//! Postgres is a shared server: its group is the postmaster, its background
//! processes (checkpointer, WAL writer, autovacuum, …) and the client
//! backends of the bench's own databases, listed from `pg_stat_activity` at
//! each sample; other clients' backends are left out, and so are the
//! bench's own probes (connections named [`BENCH_PROBE`]). Redis and NATS are
//! single processes (all threads counted) and any other client's work on
//! them during a step counts too: run benches on a quiet machine.

use super::cpu_find;
use super::procstat::{ticks_per_second, ProcTable};
use super::report::{num, Table};
use crate::config::Config;
use serde_json::{json, Value};
use sqlx::{ConnectOptions, PgConnection};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Instant;

/// `application_name` of the connections a bench itself reads through
/// while it measures (`bench e2e`'s visibility probe): their backends'
/// CPU is the load generator's work, not the server's.
pub const BENCH_PROBE: &str = "cotalk-bench-probe";

/// Name of the load generator's group (this process).
pub const LOAD_GENERATOR: &str = "load generator";

/// How a group's processes are found at each sample.
enum Source {
    /// The process and everything descending from it.
    Tree(u32),
    /// This one process only (its threads included).
    One(u32),
    /// The postmaster, background processes and the bench's own backends.
    Postgres {
        conn: tokio::sync::Mutex<PgConnection>,
        postmaster: u32,
        databases: Vec<String>,
    },
}

struct Group {
    name: String,
    source: Source,
}

/// The processes of one bench and how to sample them.
#[derive(Default)]
pub struct Sampler {
    groups: Vec<Group>,
    /// Groups that could not be found here, with the reason.
    pub missing: Vec<String>,
}

/// CPU time of every group's processes at one moment, in clock ticks.
pub struct Sample {
    at: Instant,
    groups: Vec<HashMap<(u32, u64), u64>>,
}

impl Sample {
    /// Wall-clock seconds from `earlier` to this sample.
    pub fn seconds_since(&self, earlier: &Sample) -> f64 {
        self.at.duration_since(earlier.at).as_secs_f64()
    }
}

impl Sampler {
    /// Every process a bench involves: `servers` are the cotalk processes
    /// the bench started (role, pid); Postgres backends count when connected
    /// to one of `databases` (reached through `database_url`); then Redis,
    /// NATS and this process as the load generator. What cannot be found is
    /// printed and listed in [`Sampler::missing`].
    pub async fn discover(
        config: &Config,
        servers: &[(&str, u32)],
        database_url: &str,
        databases: &[String],
    ) -> Self {
        let mut s = Self::default();
        for (role, pid) in servers {
            s.add(&format!("cotalk {role}"), Source::Tree(*pid));
        }
        s.postgres(database_url, databases).await;
        match cpu_find::redis_pid(&config.redis_url).await {
            Ok(pid) => s.add("redis-server", Source::One(pid)),
            Err(e) => s.missing.push(format!("redis-server: {e:#}")),
        }
        let nats_url = config.nats_url.clone();
        match tokio::task::spawn_blocking(move || cpu_find::nats_pid(&nats_url)).await {
            Ok(Ok(pid)) => s.add("nats-server", Source::One(pid)),
            Ok(Err(e)) => s.missing.push(format!("nats-server: {e:#}")),
            Err(e) => s.missing.push(format!("nats-server: {e}")),
        }
        s.add(LOAD_GENERATOR, Source::One(std::process::id()));
        for m in &s.missing {
            println!("  cpu: not measured: {m}");
        }
        s
    }

    /// Add the Postgres group (postmaster, background processes, backends of
    /// `databases`), or note why it is missing.
    pub async fn postgres(&mut self, database_url: &str, databases: &[String]) {
        match postgres(database_url, databases).await {
            Ok(source) => self.add("postgres", source),
            Err(e) => self.missing.push(format!("postgres: {e:#}")),
        }
    }

    /// Add one process (with its threads) as the group `name`.
    pub fn process(&mut self, name: &str, pid: u32) {
        self.add(name, Source::One(pid));
    }

    fn add(&mut self, name: &str, source: Source) {
        self.groups.push(Group {
            name: name.to_owned(),
            source,
        });
    }

    /// Read every group's CPU time now.
    pub async fn sample(&self) -> Sample {
        // Postgres's backends are listed first so the /proc read that follows
        // sees all of them.
        let mut listed: Vec<Option<Vec<u32>>> = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            listed.push(match &g.source {
                Source::Postgres {
                    conn,
                    postmaster,
                    databases,
                } => {
                    let mut conn = conn.lock().await;
                    let pids: Vec<i32> = sqlx::query_scalar(
                        "SELECT pid FROM pg_stat_activity
                         WHERE backend_type <> 'client backend'
                            OR (datname = ANY($1) AND application_name <> $2)",
                    )
                    .bind(databases)
                    .bind(BENCH_PROBE)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap_or_default();
                    let mut pids: Vec<u32> = pids
                        .into_iter()
                        .filter_map(|p| u32::try_from(p).ok())
                        .collect();
                    pids.push(*postmaster);
                    Some(pids)
                }
                _ => None,
            });
        }
        let table = tokio::task::spawn_blocking(ProcTable::read)
            .await
            .unwrap_or_default();
        let groups = self
            .groups
            .iter()
            .zip(listed)
            .map(|(g, listed)| {
                let pids = match (&g.source, listed) {
                    (Source::Tree(pid), _) => table.tree(*pid),
                    (Source::One(pid), _) => vec![*pid],
                    (_, listed) => listed.unwrap_or_default(),
                };
                pids.iter()
                    .filter_map(|p| table.by_pid.get(p))
                    .map(|s| ((s.pid, s.starttime), s.ticks()))
                    .collect()
            })
            .collect();
        Sample {
            at: Instant::now(),
            groups,
        }
    }

    /// CPU used between two samples per unit of work (`posts`): per group in
    /// µs per post and in % of one core, and the total of every group but
    /// the load generator.
    pub fn per_post(&self, before: &Sample, after: &Sample, posts: u64) -> Value {
        let hz = ticks_per_second() as f64;
        let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let per = |cpu_s: f64| 1e6 * cpu_s / posts.max(1) as f64;
        let mut total = 0.0;
        let mut groups = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let ticks: u64 = after.groups[i]
                .iter()
                .map(|(k, t)| t.saturating_sub(before.groups[i].get(k).copied().unwrap_or(0)))
                .sum();
            let cpu_s = ticks as f64 / hz;
            if g.name != LOAD_GENERATOR {
                total += cpu_s;
            }
            groups.push(json!({ "name": g.name, "cpu_s": cpu_s, "us_per_post": per(cpu_s), "cores": cpu_s / wall }));
        }
        json!({
            "posts": posts,
            "wall_s": wall,
            "groups": groups,
            "total_us_per_post": per(total),
            "total_cores": total / wall,
            "missing": self.missing,
        })
    }
}

/// µs per post of the group `name` in [`Sampler::per_post`]'s figures.
pub fn group_us_per_post(cpu: &Value, name: &str) -> f64 {
    cpu["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["name"].as_str() == Some(name)))
        .and_then(|g| g["us_per_post"].as_f64())
        .unwrap_or(0.0)
}

/// The Postgres group: a connection of its own for listing backends.
async fn postgres(database_url: &str, databases: &[String]) -> anyhow::Result<Source> {
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(database_url)?
        .connect()
        .await?;
    let postmaster = cpu_find::postmaster_pid(&mut conn).await?;
    Ok(Source::Postgres {
        conn: tokio::sync::Mutex::new(conn),
        postmaster,
        databases: databases.to_vec(),
    })
}

/// Print a table of CPU per post: one row per `(label, per_post figures)`,
/// one column per group, then the total without the load generator.
pub fn print_table(title: &str, rows: &[(String, &Value)]) {
    let Some((_, first)) = rows.first() else {
        return;
    };
    let names: Vec<String> = first["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect();
    let mut header = vec!["step".to_owned(), "posts".to_owned()];
    header.extend(names.iter().cloned());
    header.push("total (without load gen.)".into());
    header.push("cores busy".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = Table::new(title, &header);
    for (label, cpu) in rows {
        let mut row = vec![label.clone(), cpu["posts"].to_string()];
        for name in &names {
            let known = cpu["groups"]
                .as_array()
                .is_some_and(|gs| gs.iter().any(|g| g["name"].as_str() == Some(name)));
            row.push(if known {
                num(group_us_per_post(cpu, name))
            } else {
                "-".into()
            });
        }
        row.push(num(cpu["total_us_per_post"].as_f64().unwrap_or(0.0)));
        row.push(format!("{:.2}", cpu["total_cores"].as_f64().unwrap_or(0.0)));
        t.row(row);
    }
    t.print();
}
