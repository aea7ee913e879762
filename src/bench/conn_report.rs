//! The figures of `cotalk bench connections` ([`super::connections`]):
//! the workers' tallies merged, memory per connection, the tables and the
//! JSON result.

use super::conn_client::Report;
use super::connections::{FanOut, Plan, TARGET_CONNECTIONS, TARGET_KIB};
use super::report::{num, Table};
use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// The workers' tallies, together.
pub(super) struct Received {
    latency: Histogram<u64>,
    frames: u64,
    missing: u64,
    duplicates: u64,
    unexpected: u64,
    closed: u64,
}

impl Received {
    /// The sum of every worker's [`Report::Received`].
    pub(super) fn merge(reports: Vec<Report>) -> Result<Self> {
        let mut all = Self {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            frames: 0,
            missing: 0,
            duplicates: 0,
            unexpected: 0,
            closed: 0,
        };
        for r in reports {
            let Report::Received {
                latency_us,
                frames,
                missing,
                duplicates,
                unexpected,
                closed,
            } = r
            else {
                bail!("a client worker answered out of turn");
            };
            for (value, count) in latency_us {
                all.latency.record_n(value, count)?;
            }
            all.frames += frames;
            all.missing += missing;
            all.duplicates += duplicates;
            all.unexpected += unexpected;
            all.closed += closed;
        }
        Ok(all)
    }
}

/// Resident memory of each node (KiB) and its connections.
pub(super) struct Memory {
    pub(super) connected: Vec<u64>,
    pub(super) before: Vec<u64>,
    pub(super) idle: Vec<u64>,
    pub(super) after: Vec<u64>,
}

/// KiB per connection between two samples.
fn per_conn(from: u64, to: u64, conns: u64) -> f64 {
    (to as f64 - from as f64) / conns.max(1) as f64
}

#[allow(clippy::too_many_arguments)]
pub(super) fn summarise(
    plan: &Plan,
    users: usize,
    rooms: usize,
    connect_secs: f64,
    failed: u64,
    m: &Memory,
    fanout: &FanOut,
    expected: u64,
    got: &Received,
) -> Value {
    let mib = |kib: u64| num(kib as f64 / 1024.0);
    let mut table = Table::new(
        &format!("connections: server memory per connection (target ≤ {TARGET_KIB} KiB per idle WebSocket at {TARGET_CONNECTIONS})"),
        &["node", "connections", "RSS empty MiB", "RSS idle MiB", "KiB/idle conn", "RSS after fan-out MiB", "KiB/conn after fan-out"],
    );
    let mut nodes = Vec::new();
    for k in 0..plan.nodes {
        let (c, b, i, a) = (m.connected[k], m.before[k], m.idle[k], m.after[k]);
        let (idle_kib, after_kib) = (per_conn(b, i, c), per_conn(b, a, c));
        table.row(vec![
            k.to_string(),
            c.to_string(),
            mib(b),
            mib(i),
            num(idle_kib),
            mib(a),
            num(after_kib),
        ]);
        nodes.push(json!({ "connections": c, "rss_empty_kib": b, "rss_idle_kib": i, "rss_after_fanout_kib": a,
            "kib_per_idle_connection": idle_kib, "kib_per_connection_after_fanout": after_kib }));
    }
    let total: u64 = m.connected.iter().sum();
    let sum = |v: &[u64]| v.iter().sum::<u64>();
    let overall_idle = per_conn(sum(&m.before), sum(&m.idle), total);
    let overall_after = per_conn(sum(&m.before), sum(&m.after), total);
    table.row(vec![
        "all".into(),
        total.to_string(),
        mib(sum(&m.before)),
        mib(sum(&m.idle)),
        num(overall_idle),
        mib(sum(&m.after)),
        num(overall_after),
    ]);
    table.print();
    let ms = |q: f64| got.latency.value_at_quantile(q) as f64 / 1000.0;
    let max_ms = got.latency.max() as f64 / 1000.0;
    let posts: u64 = fanout.per_room.iter().sum();
    let mut fan = Table::new(
        &format!("connections: fan-out, post → frame on every member's stream on every node ({} posts at {}/s)", plan.posts, plan.rate),
        &["posts acked", "errors", "frames expected", "received", "missing", "duplicates", "p50 ms", "p99 ms", "max ms", "closed"],
    );
    fan.row(vec![
        posts.to_string(),
        fanout.errors.to_string(),
        expected.to_string(),
        got.frames.to_string(),
        got.missing.to_string(),
        got.duplicates.to_string(),
        num(ms(0.5)),
        num(ms(0.99)),
        num(max_ms),
        got.closed.to_string(),
    ]);
    fan.print();
    let delivered = if got.missing == 0 && failed == 0 && fanout.errors == 0 {
        "every stream got every post of its room"
    } else {
        "FRAMES MISSING (or streams or posts failed)"
    };
    println!("fan-out across {} node(s): {delivered}", plan.nodes);
    let verdict = if (total as usize) < TARGET_CONNECTIONS || failed > 0 {
        "not measured (fewer connections than the target's)"
    } else if overall_idle <= TARGET_KIB {
        "met"
    } else {
        "not met"
    };
    println!("target ≤ {TARGET_KIB} KiB per idle WebSocket at {TARGET_CONNECTIONS} connections: {verdict}; connected in {connect_secs:.0} s, {failed} failed; frames from other rooms: {}", got.unexpected);
    json!({
        "params": { "nodes": plan.nodes, "connections": plan.connections, "client_procs": plan.procs,
            "streams_per_user": plan.streams, "members_per_room": plan.members, "users": users, "rooms": rooms,
            "posts": plan.posts, "rate_per_s": plan.rate, "idle_secs": plan.idle.as_secs() },
        "connect_secs": connect_secs,
        "failed": failed,
        "nodes": nodes,
        "kib_per_idle_connection": overall_idle,
        "kib_per_connection_after_fanout": overall_after,
        "fanout": { "posts_acked": posts, "errors": fanout.errors, "seconds": fanout.seconds,
            "frames_expected": expected, "frames_received": got.frames, "missing": got.missing,
            "duplicates": got.duplicates, "unexpected": got.unexpected, "closed": got.closed,
            "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": max_ms },
        "target": { "kib": TARGET_KIB, "connections": TARGET_CONNECTIONS, "verdict": verdict },
    })
}
