//! cotalk on a Redis Cluster (issue 19): a real cluster of three masters
//! with a replica each, a namespace with a hash tag, and the master serving
//! it killed with SIGKILL while messages keep being posted. Every message
//! acknowledged before and after is read back and pushed once, and the live
//! read models equal a rebuild from the log (a shadow rebuild, whose key
//! scan runs on the slot's master).

#[path = "support/redis_cluster.rs"]
mod redis_cluster;
mod stream_support;
mod support;

use cotalk::config::Role;
use projector::digest::redis_digest;
use projector::{generations, source};
use readmodel::ProjectionName;
use redis_cluster::RedisCluster;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::client::ClientError;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cotalk_serves_from_a_redis_cluster_through_a_master_failover() {
    let mut cluster = RedisCluster::start(3, 1).await;
    let mut env = testkit::TestEnv::new().await;
    env.redis_url = cluster.url();
    env.namespace = format!("{{{}}}", env.namespace);
    let s = support::start_with(env, Role::All, None).await;
    let cfg = s.projector_config();
    // Built live beside the served generation, through the failover too.
    let witness = CancellationToken::new();
    let w = projector::spawn_generation(&cfg, ProjectionName::Redis, 99, witness.clone())
        .await
        .unwrap();

    let (a, b) = (s.user("minji").await, s.user("bora").await);
    let room = s.room(&a, "클러스터", &[&b]).await.room_id;
    let mut stream = stream_support::connect(&s.base, &b, None).await;
    let mut bodies = Vec::new();
    for i in 0..5 {
        let body = format!("before {i}");
        s.post(&a, room, &body).await;
        bodies.push(body);
    }
    let pushed = stream.until(stream_support::is_post("before 4")).await;
    let last = s.post(&a, room, "before the kill").await.position;
    bodies.push("before the kill".into());
    let read = s.as_user(&b).at(last).messages(room, &[]).await.unwrap();
    assert_eq!(read.messages.len(), bodies.len());

    let killed = cluster.kill_master_of(&s.env.namespace).await;
    eprintln!("killed the master on :{killed}");
    // The write side does not need Redis: posting goes on during the failover.
    let mut last = last;
    for i in 0..5 {
        let body = format!("after {i}");
        last = s.post(&a, room, &body).await.position;
        bodies.push(body);
    }
    cluster.wait_ok().await;
    assert_ne!(cluster.master_of(&s.env.namespace).await, killed);

    // Reads come back once the replica is promoted and the projection has
    // caught up (503 meanwhile).
    let started = Instant::now();
    let read = loop {
        match s.as_user(&b).at(last).messages(room, &[]).await {
            Ok(r) => break r,
            Err(ClientError::Refused(r))
                if r.status == reqwest::StatusCode::SERVICE_UNAVAILABLE =>
            {
                assert!(started.elapsed() < DEADLINE, "reads never came back");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("read after the failover: {e}"),
        }
    };
    let mut read_bodies: Vec<String> = read.messages.iter().map(|m| m.body.clone()).collect();
    read_bodies.reverse();
    let mut expected = bodies.clone();
    expected.sort();
    read_bodies.sort();
    assert_eq!(
        read_bodies, expected,
        "every acknowledged message is read back"
    );
    let rooms = s.as_user(&b).at(last).my_rooms(&[]).await.unwrap();
    assert_eq!(rooms.rooms.len(), 1);

    // Every post reaches the stream once, across the failover.
    let mut frames = pushed;
    frames.extend(stream.until(stream_support::is_post("after 4")).await);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in frames.iter().filter(|f| f["type"] == "message_posted") {
        *seen
            .entry(f["body"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "a frame came twice: {seen:?}"
    );
    for i in 0..5 {
        assert_eq!(seen.get(&format!("after {i}")), Some(&1), "after {i}");
    }
    stream.close().await;

    // The read models after the failover equal a rebuild from the log.
    let rebuilt = support::shadow_rebuild(&cfg, ProjectionName::Redis).await;
    let head = source::head(&s.env.write_pool).await.unwrap();
    support::caught_up(&cfg, ProjectionName::Redis, rebuilt, head).await;
    support::caught_up(&cfg, ProjectionName::Redis, 99, head).await;
    let digest = |g| redis_digest(&cfg.redis_url, &cfg.namespace, g);
    let empty = digest(999_999).await.unwrap();
    assert_ne!(
        digest(rebuilt).await.unwrap(),
        empty,
        "the scan found the keys"
    );
    assert_eq!(digest(rebuilt).await.unwrap(), digest(99).await.unwrap());
    assert_eq!(
        generations::current(&cfg, ProjectionName::Redis)
            .await
            .unwrap(),
        rebuilt
    );
    witness.cancel();
    let _ = w.task.await;
}

#[tokio::test]
async fn an_untagged_namespace_is_refused_on_a_cluster() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cotalk"))
        .args(["projections", "status"])
        .env("COTALK_REDIS_URL", "redis+cluster://127.0.0.1:1")
        .env("COTALK_NAMESPACE", "cotalk")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no hash tag"), "{err}");
}
