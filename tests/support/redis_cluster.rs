//! A real Redis Cluster on loopback for one test: `redis-server` processes
//! with `cluster-enabled yes`, joined by `redis-cli --cluster create`, killed
//! (by the pids this helper started) when dropped.

#![allow(dead_code)]

use redis::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the cluster may take to form or to fail over.
const SETTLE: Duration = Duration::from_secs(60);

pub struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// A port `p` with `p` and its cluster bus port `p + 10000` both free now.
fn free_port_pair(taken: &[u16]) -> u16 {
    let start = 20_000 + (std::process::id() % 9_000) as u16;
    (0..9_000u16)
        .map(|i| 20_000 + (start - 20_000 + i * 7) % 9_000)
        .find(|p| {
            !taken.contains(p)
                && TcpListener::bind(("127.0.0.1", *p)).is_ok()
                && TcpListener::bind(("127.0.0.1", *p + 10_000)).is_ok()
        })
        .expect("a free port pair")
}

impl RedisCluster {
    /// `masters` masters with `replicas` replicas each, formed and serving
    /// every slot.
    pub async fn start(masters: usize, replicas: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cotalk-redis-cluster-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Self {
            dir,
            nodes: Vec::new(),
        };
        let mut ports = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let port = free_port_pair(&ports);
            ports.push(port);
            cluster.spawn(port);
        }
        for port in &ports {
            cluster.wait_answers(*port).await;
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster.wait_ok().await;
        cluster.wait_replicas_synced().await;
        cluster
    }

    /// Until every replica has finished its first sync: before that it
    /// refuses to take over from its master (its data would be too old).
    async fn wait_replicas_synced(&self) {
        let started = Instant::now();
        for port in self.alive() {
            loop {
                let info: String = match Self::conn(port).await {
                    Ok(mut c) => redis::cmd("INFO")
                        .arg("replication")
                        .query_async(&mut c)
                        .await
                        .unwrap_or_default(),
                    Err(_) => String::new(),
                };
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(started.elapsed() < SETTLE, "replica :{port} never synced");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn spawn(&mut self, port: u16) {
        let child = Command::new("redis-server")
            .current_dir(&self.dir)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &format!("nodes-{port}.conf"),
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--repl-diskless-sync-delay",
                "0",
                "--logfile",
                &format!("redis-{port}.log"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.nodes.push(Node {
            port,
            child: Some(child),
        });
    }

    /// The URL cotalk takes: every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    async fn conn(port: u16) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    async fn wait_answers(&self, port: u16) {
        let started = Instant::now();
        while Self::conn(port).await.is_err() {
            assert!(
                started.elapsed() < SETTLE,
                "redis-server :{port} never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
    }

    /// Until every live node says `cluster_state:ok` and one of them maps
    /// every slot to a live master.
    pub async fn wait_ok(&self) {
        let started = Instant::now();
        loop {
            if self.is_ok().await {
                return;
            }
            assert!(started.elapsed() < SETTLE, "the cluster never settled");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn is_ok(&self) -> bool {
        let alive: Vec<u16> = self.alive().collect();
        for port in &alive {
            let Ok(mut c) = Self::conn(*port).await else {
                return false;
            };
            let info: String = match redis::cmd("CLUSTER").arg("INFO").query_async(&mut c).await {
                Ok(i) => i,
                Err(_) => return false,
            };
            if !info.contains("cluster_state:ok") {
                return false;
            }
        }
        match self.slot_masters().await {
            Some(ranges) => {
                ranges.iter().map(|(s, e, _)| e - s + 1).sum::<u32>() == 16384
                    && ranges.iter().all(|(_, _, p)| alive.contains(p))
            }
            None => false,
        }
    }

    /// (first slot, last slot, master port) per range, as a live node sees it.
    async fn slot_masters(&self) -> Option<Vec<(u32, u32, u16)>> {
        for port in self.alive() {
            let Ok(mut c) = Self::conn(port).await else {
                continue;
            };
            let Ok(Value::Array(ranges)) = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async::<Value>(&mut c)
                .await
            else {
                continue;
            };
            let mut out = Vec::new();
            for range in ranges {
                let Value::Array(r) = range else { return None };
                let (Value::Int(s), Value::Int(e), Value::Array(master)) = (&r[0], &r[1], &r[2])
                else {
                    return None;
                };
                let Value::Int(p) = master.get(1)? else {
                    return None;
                };
                out.push((*s as u32, *e as u32, *p as u16));
            }
            return Some(out);
        }
        None
    }

    /// The port of the master serving `key`'s slot.
    pub async fn master_of(&self, key: &str) -> u16 {
        let slot = u32::from(readmodel::slot(key));
        let ranges = self.slot_masters().await.expect("a slot map");
        ranges
            .iter()
            .find(|(s, e, _)| (*s..=*e).contains(&slot))
            .map(|(_, _, p)| *p)
            .expect("the slot has a master")
    }

    /// `kill -9` the master serving `key`'s slot; its port.
    pub async fn kill_master_of(&mut self, key: &str) -> u16 {
        let port = self.master_of(key).await;
        let node = self.nodes.iter_mut().find(|n| n.port == port).unwrap();
        let mut child = node.child.take().expect("the master runs");
        child.kill().unwrap();
        child.wait().unwrap();
        port
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
