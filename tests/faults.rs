//! Fault tests of the projection pipeline (DESIGN.md problems 5 and 6).
//!
//! Each test runs a split deployment: the command side in this process, the
//! relay with the `redis` and `history` projections in a `cotalk serve --role
//! projector` child, and the `search` projection in a `--role query` child.
//! A bounded load of commands (users, friends, rooms, posts, edits, deletes,
//! read markers, kicks, adds, leaves, profile changes) runs from several
//! tasks while a fault is injected at random points of it. Once the load is
//! done and the relay and every projection stand at the log's head:
//!
//! - each projection's digest equals that of a fresh rebuild of it from the
//!   log into a new generation;
//! - every acknowledged command's effect is in each read model exactly once
//!   (history rows, Redis keys, search documents, checked against the
//!   answers the command side gave).
//!
//! The faults: `kill -9` of the projector processes (3 times), a restart of
//! a private nats-server (2 times), deleting the JetStream stream (2 times),
//! `FLUSHALL` of a private Redis (2 times). A failing run prints
//! `COTALK_FAULT_SEED=…`; set it to replay the same load and fault points.
//! Loopback only; every child is killed when the test ends.

mod faults_support;
mod support;

use faults_support::{scenario, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projector_killed_mid_stream_resumes_with_nothing_lost_or_doubled() {
    scenario(Fault::KillProjectors, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_during_a_burst() {
    scenario(Fault::RestartNats, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_stream_deleted_during_a_burst() {
    scenario(Fault::DeleteStream, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushed_during_a_burst_is_rebuilt_from_the_log() {
    scenario(Fault::FlushRedis, 2).await;
}
