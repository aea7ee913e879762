//! The chaos suite: every part of a deployment a separate process on
//! loopback (a private Postgres, nats-server and redis-server; `cotalk serve`
//! for the command, projector and query roles), a bounded HTTP load
//! ([`super::client`]) and, in turn and at random points of it: `kill -9` of
//! the projector and query processes, a restart of NATS, a restart of Redis
//! (which empties it), a crash-restart of Postgres, and `kill -9` of the
//! command process while requests are in flight.
//!
//! During every dependency outage `/readyz` of a process using it must go
//! 503 and come back to 200. Afterwards: every acknowledged command's events
//! are in the log exactly once ([`super::log`]), the stream holds the log
//! once, each projection's digest equals a fresh rebuild's, the load never
//! saw a 500 and every 503 carried `Retry-After`. A summary table is printed
//! before anything is asserted.

use super::client::{HttpLoad, Seen};
use super::procs::{Cotalk, NatsServer, RedisServer, Scratch};
use super::standby::Replication;
use super::{
    assert_stream_holds_the_log_once, child_env, generations, log, reminders_fired, verify,
};
use projector::{source, ProjectorConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::TestEnv;

/// How long `/readyz` may take to notice an outage or a recovery.
const READINESS: Duration = Duration::from_secs(30);

/// How much chaos: rounds of every fault, and the load.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Each fault is injected this many times.
    pub rounds: usize,
    /// Commands each load worker sends.
    pub ops_per_worker: usize,
    /// Every command must be acknowledged within this of the load's start.
    pub limit: Duration,
}

/// One fault of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChaosFault {
    KillProjector,
    RestartNats,
    RestartRedis,
    RestartPostgres,
    KillCommand,
}

impl ChaosFault {
    /// The order of one round.
    const ROUND: [ChaosFault; 5] = [
        Self::KillProjector,
        Self::RestartNats,
        Self::RestartRedis,
        Self::RestartPostgres,
        Self::KillCommand,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::KillProjector => "kill -9 projector + query",
            Self::RestartNats => "nats-server restarted",
            Self::RestartRedis => "redis restarted (empty)",
            Self::RestartPostgres => "postgres crash-restarted",
            Self::KillCommand => "kill -9 command mid-batch",
        }
    }
}

/// The deployment. Fields drop in order: the children before the databases
/// (removed by the `TestEnv`, on the private server) and the servers.
pub struct Chaos {
    pub command: Cotalk,
    pub projector: Cotalk,
    pub query: Cotalk,
    pub cfg: ProjectorConfig,
    pub env: TestEnv,
    pub nats: NatsServer,
    pub redis: RedisServer,
    pub pg: Replication,
    pub _scratch: Scratch,
}

impl Chaos {
    /// Start the servers and the three `cotalk serve` children.
    pub async fn start() -> Chaos {
        let dir = Scratch::new("chaos");
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let pg = Replication::start_primary(&format!("chaos-{}", &tag[..12]))
            .await
            .unwrap_or_else(|e| panic!("cannot start the private postgres: {e}"));
        let env = TestEnv::on_server(&pg.primary_server()).await;
        let (nats, redis) =
            tokio::join!(NatsServer::start(&dir.path), RedisServer::start(&dir.path));
        let data_dir = dir.path.join("data");
        let cfg = ProjectorConfig::new(
            &env.namespace,
            env.write_pool.clone(),
            env.read_pool.clone(),
            &redis.url(),
            &nats.url(),
            &data_dir,
        )
        .with_pii(eventlog::pii::Pii::new(
            crate::support::MASTER_KEY.as_bytes(),
        ));
        let vars = child_env(&env, &redis.url(), &nats.url(), &data_dir);
        let (command, projector, query) = tokio::join!(
            Cotalk::start("command", vars.clone(), &dir.path),
            Cotalk::start("projector", vars.clone(), &dir.path),
            Cotalk::start("query", vars, &dir.path),
        );
        Chaos {
            command,
            projector,
            query,
            cfg,
            env,
            nats,
            redis,
            pg,
            _scratch: dir,
        }
    }

    /// Inject `fault` now; returns once everything it took down is back.
    async fn inject(&mut self, fault: ChaosFault, load: &HttpLoad, rng: &mut StdRng) {
        let pause = |rng: &mut StdRng, ms: std::ops::Range<u64>| {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(ms)))
        };
        match fault {
            ChaosFault::KillProjector => {
                pause(rng, 0..200).await;
                self.projector.kill9_and_restart().await;
                pause(rng, 0..100).await;
                self.query.kill9_and_restart().await;
            }
            ChaosFault::RestartNats => {
                self.nats.stop();
                wait_ready(&self.query, false, "nats down").await;
                pause(rng, 0..500).await;
                self.nats.start_again().await;
                wait_ready(&self.query, true, "nats back").await;
            }
            ChaosFault::RestartRedis => {
                self.redis.stop();
                wait_ready(&self.query, false, "redis down").await;
                pause(rng, 0..500).await;
                self.redis.start_again().await;
                wait_ready(&self.query, true, "redis back").await;
            }
            ChaosFault::RestartPostgres => {
                // pg_ctl runs synchronously; keep the other tasks moving.
                tokio::task::block_in_place(|| self.pg.stop_primary());
                wait_ready(&self.command, false, "postgres down").await;
                // Down until the load has met it (a 503 answered).
                let (seen, deadline) = (load.unavailable_answers(), Instant::now() + READINESS);
                while load.unavailable_answers() == seen {
                    assert!(
                        Instant::now() < deadline,
                        "no 503 answered to the load within {READINESS:?} of postgres going down"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                pause(rng, 0..1000).await;
                self.pg
                    .restart_primary()
                    .await
                    .unwrap_or_else(|e| panic!("cannot restart the private postgres: {e}"));
                wait_ready(&self.command, true, "postgres back").await;
            }
            ChaosFault::KillCommand => {
                // Mid-batch: while requests wait on an append.
                let deadline = Instant::now() + READINESS;
                while load.inflight() < 2 {
                    assert!(Instant::now() < deadline, "no command in flight to kill");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                self.command.kill9_and_restart().await;
                load.set_base(self.command.base());
            }
        }
    }
}

/// Poll `/readyz` of `child` until it says `ready` (200) or not (503 with
/// `Retry-After`).
async fn wait_ready(child: &Cotalk, ready: bool, what: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + READINESS;
    let mut last = String::new();
    loop {
        let res = http
            .get(format!("{}/readyz", child.base()))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        if let Ok(res) = res {
            let status = res.status().as_u16();
            let retry_after = res.headers().contains_key("retry-after");
            last = format!("{status} {}", res.text().await.unwrap_or_default());
            match (ready, status) {
                (true, 200) => return,
                (false, 503) => {
                    assert!(retry_after, "/readyz 503 without Retry-After: {last}");
                    return;
                }
                _ => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz of cotalk {} did not answer {} within {READINESS:?}; last: {last}",
            child.role,
            if ready { 200 } else { 503 }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run the suite with `plan`; prints the summary table, then asserts.
pub async fn run(plan: Plan) {
    let seed = super::seed();
    eprintln!("chaos {plan:?}: COTALK_FAULT_SEED={seed}");
    let started = Instant::now();
    let mut cl = Chaos::start().await;
    let load = HttpLoad::setup(cl.command.base(), seed, plan.ops_per_worker, plan.limit).await;
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc4a0_5eed);
    let faults: Vec<ChaosFault> = (0..plan.rounds).flat_map(|_| ChaosFault::ROUND).collect();
    // Spread over the load: each fault a random number of acknowledgements
    // after the previous one was over (the load runs on until the last).
    let slot = (load.planned() * 8 / 10 / faults.len().max(1)).max(2);
    let injector = async {
        let mut injected: BTreeMap<ChaosFault, usize> = BTreeMap::new();
        for (i, fault) in faults.iter().enumerate() {
            let threshold = load.acked() + rng.gen_range(1..slot);
            while load.acked() < threshold {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            cl.inject(*fault, &load, &mut rng).await;
            eprintln!(
                "{:>6.1}s fault {i}: {} after {threshold} acknowledgements",
                started.elapsed().as_secs_f64(),
                fault.label()
            );
            *injected.entry(*fault).or_default() += 1;
        }
        load.finish();
        injected
    };
    let ((), injected) = tokio::join!(load.run(), injector);
    let fired = reminders_fired(&cl.cfg, load.reminders_owed()).await;
    load.resolve_deletions(&cl.cfg.write_pool)
        .await
        .expect("every deletion whose answer was lost is in the log");
    let acks = load.acks.lock().unwrap().clone();
    let uploads = load.uploads.lock().unwrap().clone();
    let seen = std::mem::take(&mut *load.seen.lock().unwrap());

    let head = source::head(&cl.cfg.write_pool).await.unwrap();
    let logged = log::check(&cl.cfg.write_pool, &acks).await;
    let (uploads_lost, orphans) = log::check_uploads(&cl.cfg.write_pool, &uploads).await;
    eprintln!(
        "uploads: {} acknowledged, {orphans} retried copies (orphans)",
        uploads.len()
    );
    let live = generations(&cl.cfg).await;
    super::wait_caught_up(&cl.cfg, &mut cl.projector, &mut cl.query, live, head).await;
    cl.query.terminate().await;
    cl.projector.terminate().await;
    cl.command.terminate().await;
    assert_stream_holds_the_log_once(&cl.cfg).await;
    let (_, diverged) = verify::compare_to_rebuild(&cl.cfg, live, head).await;

    let owed = load.reminders_owed();
    let summary = Summary {
        injected,
        acknowledged: acks.len(),
        reminders: (owed, &fired),
        deletions: load.deletions(),
        lost: logged.lost.len(),
        duplicated: logged.duplicated.len(),
        diverged: diverged.len(),
        seen: &seen,
    };
    summary.print(seed, started.elapsed());
    logged.assert_exactly_once();
    assert!(uploads_lost.is_empty(), "uploads lost: {uploads_lost:?}");
    assert!(!uploads.is_empty(), "the load uploaded no file");
    assert!(diverged.is_empty(), "diverged from a rebuild: {diverged:?}");
    let max_ack = acks.iter().map(|a| a.position).max().unwrap_or(0);
    assert_eq!(
        logged.last_keyed, max_ack,
        "last keyed event vs last acknowledged position"
    );
    super::client::assert_answers(&seen, owed, &fired);
}

/// The table `make chaos` prints.
struct Summary<'a> {
    injected: BTreeMap<ChaosFault, usize>,
    acknowledged: usize,
    lost: usize,
    duplicated: usize,
    diverged: usize,
    /// Reminders owed, and what the log holds.
    reminders: (usize, &'a log::Reminders),
    /// Accounts the load deleted.
    deletions: usize,
    seen: &'a Seen,
}

impl Summary<'_> {
    fn print(&self, seed: u64, took: Duration) {
        let total: usize = self.injected.values().sum();
        let mut rows: Vec<(String, String)> = vec![("faults injected".into(), total.to_string())];
        for (fault, n) in &self.injected {
            rows.push((format!("  {}", fault.label()), n.to_string()));
        }
        let statuses = |pick: &dyn Fn(u16) -> bool| -> usize {
            self.seen
                .statuses
                .iter()
                .filter(|(s, _)| pick(**s))
                .map(|(_, n)| n)
                .sum()
        };
        rows.extend([
            (
                "commands acknowledged".into(),
                self.acknowledged.to_string(),
            ),
            ("lost".into(), self.lost.to_string()),
            ("duplicated".into(), self.duplicated.to_string()),
            ("diverged".into(), self.diverged.to_string()),
            (
                "reminders owed / fired / distinct".into(),
                format!(
                    "{} / {} / {}",
                    self.reminders.0, self.reminders.1.fired, self.reminders.1.distinct
                ),
            ),
            ("accounts deleted".into(), self.deletions.to_string()),
            (
                "latest reminder late by (ms)".into(),
                self.reminders.1.worst_late_ms.to_string(),
            ),
            (
                "503 answers (all with Retry-After)".into(),
                format!(
                    "{} ({})",
                    statuses(&|s| s == 503),
                    if self.seen.without_retry_after == 0 {
                        "yes"
                    } else {
                        "NO"
                    }
                ),
            ),
            (
                "500 answers".into(),
                statuses(&|s| s >= 500 && s != 503).to_string(),
            ),
            (
                "connections refused or cut".into(),
                self.seen.connection_errors.to_string(),
            ),
            ("requests timed out".into(), self.seen.timeouts.to_string()),
        ]);
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let line = "-".repeat(width + 12);
        let mut out = format!("\nchaos summary (COTALK_FAULT_SEED={seed}, {took:.1?})\n{line}\n");
        for (k, v) in rows {
            out.push_str(&format!("{k:<width$}  {v:>8}\n"));
        }
        out.push_str(&line);
        println!("{out}");
    }
}
