//! Projector leases (issue 19): two `cotalk serve --role projector` children
//! compete for the leases of the relay, the `redis` and `history`
//! projections and the reminder scheduler; the command side runs in this
//! process, the `search` projection in a `--role query` child.
//!
//! Each lease is active on exactly one node (its `/readyz` says `active`,
//! the other's `standby`, and `pg_locks` names the same process). The node
//! running the `redis` projection is killed (`kill -9`) in the middle of a
//! load, the other takes every lease over within a generous deadline, the
//! killed one comes back as a standby; after the load the active node is
//! killed again and more posts follow. Then every read model stands at the
//! log's head, equals a fresh rebuild (digests), holds each acknowledged
//! command exactly once, and the stream holds the log once, in order.

mod faults_support;
mod support;

use contract::ops::{LeaseState, Readiness};
use cotalk::config::Role;
use faults_support::load::Load;
use faults_support::procs::{Cotalk, Scratch};
use faults_support::{messenger_verify, verify};
use projector::{ProjectorConfig, Task};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Commands each load worker sends.
const OPS_PER_WORKER: usize = 200;
/// How long a hand-over may take before the test fails (the lease's bound
/// is about a second plus the task's start; this is only a deadline).
const TAKE_OVER: Duration = Duration::from_secs(30);

/// Every lease a projector node competes for.
fn lease_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = projector::LEASED.iter().map(|t| t.label()).collect();
    names.push(cotalk::scheduler::LEASE);
    names
}

/// `/readyz`'s leases of `node` (empty if it does not answer).
async fn leases_of(node: &Cotalk) -> BTreeMap<String, LeaseState> {
    let answer = reqwest::Client::new()
        .get(format!("{}/readyz", node.base()))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    match answer {
        Ok(res) => res
            .json::<Readiness>()
            .await
            .map(|r| r.leases)
            .unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

/// The pid in the `application_name` of the session holding lease `name`.
async fn holder_pid(cfg: &ProjectorConfig, name: &str) -> Option<u32> {
    let key = lease::LeaseKey::new(&cfg.namespace, name);
    let holder = lease::holder(&cfg.write_pool, &key).await.ok()??;
    holder.application_name?.rsplit('-').next()?.parse().ok()
}

/// Wait until every lease is active on exactly one of the running `nodes`
/// (by its `/readyz`, and `pg_locks` names that node's process), every
/// running node lists every lease, and, if `on` is given, `nodes[on]` holds
/// them all. Returns which node holds each lease.
async fn settled(
    cfg: &ProjectorConfig,
    nodes: &mut [&mut Cotalk],
    on: Option<usize>,
) -> BTreeMap<&'static str, usize> {
    let deadline = Instant::now() + TAKE_OVER;
    loop {
        let mut reports = BTreeMap::new();
        for (i, node) in nodes.iter_mut().enumerate() {
            node.assert_running();
            if node.pid().is_some() {
                reports.insert(i, leases_of(node).await);
            }
        }
        let mut holders = BTreeMap::new();
        for name in lease_names() {
            let active: Vec<usize> = reports
                .iter()
                .filter(|(_, r)| r.get(name) == Some(&LeaseState::Active))
                .map(|(i, _)| *i)
                .collect();
            let listed = reports.values().all(|r| r.contains_key(name));
            if let ([i], true) = (active.as_slice(), listed) {
                if holder_pid(cfg, name).await == nodes[*i].pid() {
                    holders.insert(name, *i);
                }
            }
        }
        let done = holders.len() == lease_names().len()
            && on.is_none_or(|on| holders.values().all(|i| *i == on));
        if done {
            return holders;
        }
        assert!(
            Instant::now() < deadline,
            "leases not settled (all on node {on:?}) within {TAKE_OVER:?}: {reports:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_projector_takes_every_lease_over_when_the_active_one_is_killed() {
    let seed = faults_support::seed();
    eprintln!("projector leases: COTALK_FAULT_SEED={seed}");
    let env = testkit::TestEnv::new().await;
    let dir = Scratch::new(&env.namespace);
    let data_dir = dir.path.join("data");
    let cfg = ProjectorConfig::new(
        &env.namespace,
        env.write_pool.clone(),
        env.read_pool.clone(),
        &env.redis_url,
        &env.nats_url,
        &data_dir,
    )
    .with_pii(eventlog::pii::Pii::new(support::MASTER_KEY.as_bytes()));
    let vars = faults_support::child_env(&env, &env.redis_url, &env.nats_url, &data_dir);
    let server = support::start_with(env, Role::Command, None).await;
    let logs = [dir.path.join("a"), dir.path.join("b")];
    for l in &logs {
        std::fs::create_dir_all(l).unwrap();
    }
    let mut nodes = [
        Cotalk::start("projector", vars.clone(), &logs[0]).await,
        Cotalk::start("projector", vars.clone(), &logs[1]).await,
    ];
    let mut query = Cotalk::start("query", vars, &dir.path).await;
    let load = Load::setup(&server, seed, OPS_PER_WORKER).await;
    let (base, planned) = (load.acked(), load.planned());

    let [a, b] = &mut nodes;
    let holders = settled(&cfg, &mut [a, b], None).await;
    eprintln!("leases held: {holders:?}");

    // Kill the node running `redis` a quarter into the load.
    let injector = async {
        while load.acked() < base + planned / 4 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let victim = holders[Task::Projection(projector::ProjectionName::Redis).label()];
        let survivor = 1 - victim;
        nodes[victim].kill9();
        let killed_at = (Instant::now(), load.acked());
        let [a, b] = &mut nodes;
        settled(&cfg, &mut [a, b], Some(survivor)).await;
        eprintln!(
            "node {survivor} took every lease over {:?} after node {victim} was killed",
            killed_at.0.elapsed()
        );
        nodes[victim].start_again().await;
        let [a, b] = &mut nodes;
        settled(&cfg, &mut [a, b], Some(survivor)).await;
        (survivor, killed_at.1)
    };
    let ((), (survivor, acked_at_kill)) = tokio::join!(load.run(), injector);
    assert!(
        acked_at_kill < base + planned,
        "the kill came after the load"
    );

    // Again once the load is over, then more posts.
    let victim = survivor;
    let survivor = 1 - victim;
    nodes[victim].kill9();
    let [a, b] = &mut nodes;
    settled(&cfg, &mut [a, b], Some(survivor)).await;
    load.post_more(20).await;
    let ledger = load.ledger.into_inner().unwrap();

    let reminders = faults_support::reminders_fired(&cfg, ledger.reminders_owed).await;
    assert_eq!(
        (reminders.fired as usize, reminders.distinct as usize),
        (ledger.reminders_owed, ledger.reminders_owed),
        "reminders fired once each"
    );
    let head = projector::source::head(&cfg.write_pool).await.unwrap();
    assert_eq!(
        head,
        reminders.last_position.max(ledger.max_position),
        "log head vs last acknowledged position (or reminder)"
    );
    let live = faults_support::generations(&cfg).await;
    faults_support::wait_caught_up(&cfg, &mut nodes[survivor], &mut query, live, head).await;
    query.terminate().await;
    nodes[survivor].terminate().await;
    faults_support::assert_stream_holds_the_log_once(&cfg).await;
    let docs = verify::assert_equal_to_rebuild(&cfg, live, head).await;
    verify::assert_history_exact(&cfg, live[1], &ledger).await;
    messenger_verify::assert_history_attachments(&cfg, live[1], &ledger).await;
    verify::assert_redis_exact(&cfg, live[0], &ledger).await;
    verify::assert_search_exact(docs, &ledger);
    faults_support::cleanup_shared(&cfg, true, true, live[0]).await;
}
