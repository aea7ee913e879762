//! `cotalk bench connections`: server memory per idle WebSocket, and
//! fan-out across stream nodes, with tens of thousands of connections.
//!
//! The system under test is child processes on loopback: one `command`
//! node, one `projector` node, and `--nodes` `query` nodes (they serve
//! `GET /v1/stream`), each with its own data directory. The clients are
//! `--client-procs` worker processes of this binary ([`super::conn_client`])
//! so that no process holds more sockets than its open-file limit (20 000
//! here) allows; connection `c` goes to node `c % nodes`.
//!
//! Users hold up to `--streams-per-user` streams on every node (the nodes'
//! `--max-streams-per-user` is raised for it), so a few hundred users carry
//! every connection, and they are split into rooms of `--members`: a post
//! into a room reaches every stream of its members, on every node.
//!
//! 1. Warm-up: a hundred streams per node get a post each and close.
//! 2. Memory: each node's resident memory (`smaps_rollup` Rss) with no
//!    connection, then with every connection open and idle for
//!    `--idle-secs`, each read once it has settled; the difference over the
//!    node's connections is the memory per idle connection.
//! 3. Fan-out: `--posts` posts at `--rate` per second, round-robin over the
//!    rooms, each stamped with its send time; every arrival is timed (wall
//!    clock, shared by the processes), and every connection must get every
//!    post of its room: missing frames are counted (must be 0). Memory is
//!    sampled again after it.
//!
//! With `--api`, the bench starts nothing: it drives a deployment already
//! running (the cluster of `make cluster`, through its HAProxy), signs its
//! users' tokens with the deployment's `COTALK_TOKEN_SECRET`, spreads the
//! connections over `--stream-url` addresses, and reads each `--query-node`'s
//! memory (the process listening on its port) and connections (its
//! `/metrics`, with `COTALK_ADMIN_TOKEN`).

use super::conn_client::{self, Order, Report};
use super::conn_report::{summarise, Memory, Received};
use super::conn_workers::{self, Worker};
use super::harness::{self, BenchEnv, BenchUser, ChildServer};
use super::procstat::rss_kib;
use super::Common;
use crate::config::Config;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use contract::commands::PostMessageRequest;
use domain::RoomId;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::client::Client;

/// Options of `cotalk bench connections`.
#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    /// Stream nodes (`serve --role query`) sharing the connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub nodes: u16,
    /// WebSocket connections in all (default 15 000; 2 000 with --quick).
    #[arg(long)]
    pub connections: Option<usize>,
    /// Client worker processes (default: one per 12 000 connections).
    #[arg(long)]
    pub client_procs: Option<usize>,
    /// Streams each user holds on each node.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams_per_user: u32,
    /// Members per room.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub members: u32,
    /// Posts of the fan-out phase (default 100; 20 with --quick).
    #[arg(long)]
    pub posts: Option<usize>,
    /// Posts per second of the fan-out phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,
    /// Seconds every connection stays idle before memory is read (the
    /// default takes in the first ping and presence heartbeat, at 20 s).
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
    /// Drive a running deployment instead of starting one: its API address
    /// (`http://127.0.0.1:8180`, the cluster's HAProxy). Its stream nodes
    /// must allow every user's streams (`COTALK_MAX_STREAMS_PER_USER`).
    #[arg(long, requires = "query_nodes")]
    pub api: Option<String>,
    /// With `--api`: the WebSocket addresses the connections spread over,
    /// connection `c` to the `c`-th modulo their count (default: `--api`'s).
    /// One machine opens at most ~28 000 connections to one address (its
    /// ephemeral ports), so more need more addresses.
    #[arg(long = "stream-url", requires = "api")]
    pub stream_urls: Vec<String>,
    /// With `--api`: each stream node's own address (`http://host:port`),
    /// repeated, for its memory and its connection count.
    #[arg(long = "query-node", requires = "api")]
    pub query_nodes: Vec<String>,
}

/// Issue 20's target: at most 8 KiB per idle WebSocket at 15 000 connections.
pub(super) const TARGET_KIB: f64 = 8.0;
pub(super) const TARGET_CONNECTIONS: usize = 15_000;
/// Connections per client worker by default.
const PER_WORKER: usize = 12_000;
/// File descriptors a process keeps for everything but its sockets.
const SPARE_FDS: usize = 512;
/// Warm-up streams per node.
const WARM: usize = 100;
/// Resident memory counts as settled when it moves less than this (KiB)
/// in three seconds, and is read anyway after [`SETTLE_LIMIT`].
const SETTLED_KIB: u64 = 256;
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// The sizes of one run.
pub(super) struct Plan {
    pub(super) nodes: usize,
    pub(super) connections: usize,
    pub(super) procs: usize,
    pub(super) streams: usize,
    pub(super) members: usize,
    pub(super) posts: usize,
    pub(super) rate: u32,
    pub(super) idle: Duration,
}

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &ConnectionsArgs) -> Result<Value> {
    let connections = args.connections.unwrap_or(if common.quick {
        2000
    } else {
        TARGET_CONNECTIONS
    });
    let plan = Plan {
        nodes: if args.api.is_some() {
            args.query_nodes.len()
        } else {
            usize::from(args.nodes)
        },
        connections,
        procs: args
            .client_procs
            .unwrap_or(connections.div_ceil(PER_WORKER))
            .max(1),
        streams: args.streams_per_user as usize,
        members: args.members as usize,
        posts: args.posts.unwrap_or(if common.quick { 20 } else { 100 }),
        rate: args.rate,
        idle: Duration::from_secs(args.idle_secs),
    };
    let limit = usize::try_from(super::e2e::open_files_limit()).unwrap_or(usize::MAX);
    let mut holders = vec![("client worker", connections.div_ceil(plan.procs))];
    if args.api.is_none() {
        holders.push(("stream node", connections.div_ceil(plan.nodes)));
    }
    for (what, n) in holders {
        if n + SPARE_FDS > limit {
            bail!("a {what} would hold {n} sockets; the open-file limit is {limit} (ulimit -n, or more --client-procs / --nodes)");
        }
    }
    let mut env = BenchEnv::new(base, common, "conn")?;
    let Some(api) = &args.api else {
        env.prepare().await?;
        let cluster = Cluster::start(&env, &plan).await;
        let result = match cluster {
            Ok(cluster) => measure(&env, &plan, &cluster).await,
            Err(e) => Err(e),
        };
        env.cleanup().await;
        return result;
    };
    // The deployment's own secret signs the tokens; usernames carry the
    // run's tag, so runs against one deployment do not collide.
    env.config.token_secret = Some(
        base.token_secret
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("--api needs the deployment's COTALK_TOKEN_SECRET"))?,
    );
    env.user_prefix = format!("b{}_", env.config.namespace.trim_start_matches("bench"));
    let cluster = Cluster::attach(base, api, &args.stream_urls, &args.query_nodes)?;
    let mut result = measure(&env, &plan, &cluster).await?;
    if let Some(params) = result.get_mut("params").and_then(Value::as_object_mut) {
        params.insert("api".into(), json!(cluster.api));
        params.insert("stream_urls".into(), json!(cluster.stream_urls));
        params.insert("query_nodes".into(), json!(args.query_nodes));
    }
    Ok(result)
}

/// The stream nodes, and the processes they need.
struct Cluster {
    /// Where users sign up, rooms are made and posts go.
    api: String,
    /// The stream nodes' own addresses (`http://host:port`) and pids.
    nodes: Vec<(String, u32)>,
    /// Where the connections go, connection `c` to `stream_urls[c % len]`:
    /// the nodes themselves when the bench started them.
    stream_urls: Vec<String>,
    /// The admin token of a deployment the bench did not start, for the
    /// nodes' connection counts (`None`: the workers' counts per address are
    /// the nodes').
    admin_token: Option<String>,
    /// The processes the bench started (stopped when dropped).
    _children: Vec<ChildServer>,
}

impl Cluster {
    async fn start(env: &BenchEnv, plan: &Plan) -> Result<Self> {
        let command = ChildServer::start(env, "command", &[]).await?;
        let projector = ChildServer::start(env, "projector", &[]).await?;
        let mut nodes = Vec::with_capacity(plan.nodes);
        for k in 0..plan.nodes {
            let dir = env.config.data_dir.join(format!("node-{k}"));
            let vars = [
                // One more than planned: a warm-up stream may still be closing.
                (
                    "COTALK_MAX_STREAMS_PER_USER",
                    (plan.streams + 1).to_string(),
                ),
                ("COTALK_DATA_DIR", dir.display().to_string()),
            ];
            nodes.push(ChildServer::start(env, "query", &vars).await?);
        }
        Ok(Self {
            api: command.base.clone(),
            nodes: nodes.iter().map(|n| (n.base.clone(), n.pid())).collect(),
            stream_urls: nodes
                .iter()
                .map(|n| n.base.replacen("http://", "ws://", 1))
                .collect(),
            admin_token: None,
            _children: [command, projector].into_iter().chain(nodes).collect(),
        })
    }

    /// A deployment running already: `api`, the stream addresses (default
    /// `api`'s) and the stream nodes, each found by the process listening
    /// on its port (it must run on this machine).
    fn attach(base: &Config, api: &str, streams: &[String], nodes: &[String]) -> Result<Self> {
        let nodes = nodes
            .iter()
            .map(|url| {
                let port = super::cpu_find::url_port(url)
                    .ok_or_else(|| anyhow!("--query-node {url}: no port"))?;
                let pid = super::cpu_find::listener_pid(port).ok_or_else(|| {
                    anyhow!("--query-node {url}: no process of this machine listens on port {port}")
                })?;
                Ok((url.trim_end_matches('/').to_owned(), pid))
            })
            .collect::<Result<Vec<_>>>()?;
        let stream_urls = if streams.is_empty() {
            vec![api.replacen("http", "ws", 1)]
        } else {
            streams.to_vec()
        };
        let admin_token = base
            .admin_token
            .clone()
            .ok_or_else(|| anyhow!("--api needs the deployment's COTALK_ADMIN_TOKEN"))?;
        Ok(Self {
            api: api.trim_end_matches('/').to_owned(),
            nodes,
            stream_urls,
            admin_token: Some(admin_token),
            _children: Vec::new(),
        })
    }

    /// Connections per node: what the workers opened to each address when
    /// the addresses are the nodes, else each node's own count.
    async fn connected(&self, per_url: Vec<u64>) -> Result<Vec<u64>> {
        let Some(token) = &self.admin_token else {
            return Ok(per_url);
        };
        let http = reqwest::Client::new();
        let mut out = Vec::with_capacity(self.nodes.len());
        for (base, _) in &self.nodes {
            let text = http
                .get(format!("{base}/metrics"))
                .bearer_auth(token)
                .timeout(Duration::from_secs(10))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            let open = text
                .lines()
                .find_map(|l| l.strip_prefix("cotalk_stream_connections "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| anyhow!("{base}/metrics has no cotalk_stream_connections"))?;
            out.push(open as u64);
        }
        Ok(out)
    }

    fn rss_kib(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|(_, pid)| rss_kib(*pid).unwrap_or(0))
            .collect()
    }

    /// Each node's resident memory once it has settled: sampled every
    /// second until no node moved by more than [`SETTLED_KIB`] over three
    /// seconds (at most [`SETTLE_LIMIT`]).
    async fn settled_rss_kib(&self) -> Vec<u64> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        let mut samples = vec![self.rss_kib()];
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            samples.push(self.rss_kib());
            if let [.., first, _, _, last] = samples.as_slice() {
                if first
                    .iter()
                    .zip(last)
                    .all(|(a, b)| a.abs_diff(*b) <= SETTLED_KIB)
                {
                    break;
                }
            }
        }
        samples.pop().unwrap_or_default()
    }
}

async fn measure(env: &BenchEnv, plan: &Plan, cluster: &Cluster) -> Result<Value> {
    let per_node = plan.connections.div_ceil(plan.nodes);
    let n_users = plan
        .connections
        .div_ceil(plan.nodes * plan.streams)
        .max(plan.members);
    println!(
        "bench connections: {} connections on {} stream node(s) through {} address(es) from {} client process(es); {n_users} users with ≤ {} streams per node, rooms of {}",
        plan.connections, plan.nodes, cluster.stream_urls.len(), plan.procs, plan.streams, plan.members
    );
    let client = Client::new(cluster.api.clone());
    let users = harness::users(&client, env, n_users, 16).await?;
    let rooms = harness::group_rooms(&client, &users, plan.members).await?;
    let mut room_of = vec![0u32; users.len()];
    for (r, (_, members)) in rooms.iter().enumerate() {
        for m in members {
            room_of[*m] = r as u32;
        }
    }
    let urls = &cluster.stream_urls;
    visible(cluster, &users, &rooms).await?;
    warm_up(urls, &client, &users, &rooms, per_node).await?;
    let before = cluster.settled_rss_kib().await;

    let mut workers = (0..plan.procs)
        .map(|_| Worker::start())
        .collect::<Result<Vec<_>>>()?;
    let mut orders: Vec<Vec<(u16, u32, u32)>> = vec![Vec::new(); plan.procs];
    let mut per_room_conns = vec![0u64; rooms.len()];
    for c in 0..plan.connections {
        let user = (c / plan.nodes) % users.len();
        let room = room_of[user];
        per_room_conns[room as usize] += 1;
        orders[c % plan.procs].push(((c % urls.len()) as u16, user as u32, room));
    }
    let tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    let started = Instant::now();
    let orders = orders
        .into_iter()
        .map(|conns| Order::Connect {
            urls: urls.clone(),
            tokens: tokens.clone(),
            conns,
        })
        .collect();
    let reports = conn_workers::all(&mut workers, orders, Duration::from_secs(1800)).await?;
    let (mut per_url, mut failed) = (vec![0u64; urls.len()], 0);
    for r in reports {
        if let Report::Connected {
            per_node,
            failed: f,
            error,
        } = r
        {
            per_url.iter_mut().zip(per_node).for_each(|(a, b)| *a += b);
            failed += f;
            if let Some(e) = error {
                eprintln!("  a client worker could not connect {f} stream(s): {e}");
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let connected = cluster.connected(per_url).await?;
    println!(
        "  {} streams open in {connect_secs:.0} s ({failed} failed; per node {connected:?}); idle for {} s",
        connected.iter().sum::<u64>(),
        plan.idle.as_secs()
    );
    tokio::time::sleep(plan.idle).await;
    let idle = cluster.settled_rss_kib().await;

    let fanout = fan_out(&client, &users, &rooms, plan).await?;
    let orders = (0..plan.procs)
        .map(|_| Order::Expect {
            per_room: fanout.per_room.clone(),
            quiet_ms: 5000,
            limit_ms: 120_000,
        })
        .collect();
    let reports = conn_workers::all(&mut workers, orders, Duration::from_secs(180)).await?;
    let after = cluster.settled_rss_kib().await;
    for w in workers {
        w.stop().await;
    }
    let expected: u64 = per_room_conns
        .iter()
        .zip(&fanout.per_room)
        .map(|(conns, posts)| conns * posts)
        .sum();
    let received = Received::merge(reports)?;
    let memory = Memory {
        connected,
        before,
        idle,
        after,
    };
    Ok(summarise(
        plan,
        n_users,
        rooms.len(),
        connect_secs,
        failed,
        &memory,
        &fanout,
        expected,
        &received,
    ))
}

/// Wait until the query nodes show the last room (the projection caught up).
async fn visible(
    cluster: &Cluster,
    users: &[BenchUser],
    rooms: &[(RoomId, Vec<usize>)],
) -> Result<()> {
    let Some((room, members)) = rooms.last() else {
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for (base, _) in &cluster.nodes {
        let me = Client::new(base.clone()).auth(users[members[0]].token.clone());
        while me.room(*room).await.is_err() {
            if Instant::now() > deadline {
                bail!("the rooms did not become visible in 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Open [`WARM`] streams per node, post into a few rooms, close them.
async fn warm_up(
    urls: &[String],
    client: &Client,
    users: &[BenchUser],
    rooms: &[(RoomId, Vec<usize>)],
    per_node: usize,
) -> Result<()> {
    let mut sockets = Vec::new();
    for url in urls {
        for user in users.iter().take(WARM.min(per_node)) {
            sockets.push(super::streams::connect(url, &user.token).await?);
        }
    }
    for (room, members) in rooms.iter().take(10) {
        client
            .auth(users[members[0]].token.clone())
            .post_message(*room, &PostMessageRequest::text("warm-up"))
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    Ok(())
}

/// What the fan-out phase posted.
pub(super) struct FanOut {
    /// Acknowledged posts per room.
    pub(super) per_room: Vec<u64>,
    pub(super) errors: u64,
    pub(super) seconds: f64,
}

/// `plan.posts` posts at `plan.rate` per second, round-robin over the rooms.
async fn fan_out(
    client: &Client,
    users: &[BenchUser],
    rooms: &[(RoomId, Vec<usize>)],
    plan: &Plan,
) -> Result<FanOut> {
    let per_room = Arc::new(Mutex::new(vec![0u64; rooms.len()]));
    let errors = Arc::new(Mutex::new(0u64));
    let interval = Duration::from_secs_f64(1.0 / f64::from(plan.rate));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for i in 0..plan.posts {
        tokio::time::sleep_until((start + interval.mul_f64(i as f64)).into()).await;
        let r = i % rooms.len();
        let (room, members) = &rooms[r];
        let author = members[(i / rooms.len()) % members.len()];
        let me = client.auth(users[author].token.clone());
        let (room, per_room, errors) = (*room, per_room.clone(), errors.clone());
        tasks.spawn(async move {
            let body = conn_client::stamp(r, i, conn_client::now_us());
            match me.post_message(room, &PostMessageRequest::text(body)).await {
                Ok(_) => per_room.lock().unwrap_or_else(|e| e.into_inner())[r] += 1,
                Err(_) => *errors.lock().unwrap_or_else(|e| e.into_inner()) += 1,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let per_room = per_room.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let errors = *errors.lock().unwrap_or_else(|e| e.into_inner());
    Ok(FanOut {
        per_room,
        errors,
        seconds: start.elapsed().as_secs_f64(),
    })
}
