//! `cotalk bench messages`: `GET /v1/rooms/{id}/messages?limit=50` on a
//! room of 1 000 members, every answer with each message's `unread_by`
//! (KakaoTalk's "1") and the viewer's reactions (issue 15's target: p99 ≤
//! 10 ms).
//!
//! Set-up through the public API of a child `cotalk serve --role all`: 1 000
//! users, one room holding them all, messages by a spread of authors, and a
//! read marker moved by almost every member to a spread of seqs (so every
//! message of the page waits for a different number of readers). The first
//! page is checked against the counts the bench expects from what it sent;
//! then closed-loop clients read the newest page as member after member, at
//! each concurrency of `--clients`, with the latency percentiles and the CPU
//! time per request of every process involved ([`super::cpu`]).

use super::append::latency_json;
use super::cpu::{self, Sampler};
use super::harness::{self, BenchEnv, BenchUser, ChildServer};
use super::report::{num, Table};
use super::Common;
use crate::config::Config;
use anyhow::{bail, Context, Result};
use clap::Args;
use contract::commands::{CreateRoomRequest, PostMessageRequest, ReadMarkerRequest};
use domain::{RoomId, UserId};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::client::Client;

/// The page size measured.
const PAGE: &str = "50";
/// The target of issue 15.
const TARGET_P99_MS: f64 = 10.0;

/// Options of `cotalk bench messages`.
#[derive(Debug, Clone, Args)]
pub struct MessagesArgs {
    /// Members of the room (the owner included; at most 1 000).
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// Messages posted before measuring.
    #[arg(long, default_value_t = 200)]
    pub messages: usize,
    /// Measured requests per concurrency (default 10 000; 2 000 with --quick).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Concurrent closed-loop clients, one measured step each.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4])]
    pub clients: Vec<usize>,
}

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &MessagesArgs) -> Result<Value> {
    let requests = args
        .requests
        .unwrap_or(if common.quick { 2_000 } else { 10_000 });
    let env = BenchEnv::new(base, common, "messages")?;
    env.prepare().await?;
    let result = measure(&env, args, requests).await;
    env.cleanup().await;
    result
}

/// What the set-up made: the room, its members, the last position.
struct Room {
    id: RoomId,
    members: Vec<BenchUser>,
    position: i64,
    /// seq → (author, expected `unread_by`).
    expected: HashMap<u64, (UserId, u32)>,
}

async fn measure(env: &BenchEnv, args: &MessagesArgs, requests: u64) -> Result<Value> {
    let members = args.members.clamp(2, domain::values::MAX_ROOM_MEMBERS);
    println!(
        "bench messages: GET …/messages?limit={PAGE} with unread_by, a room of {members} members, \
         {} messages, {requests} requests at each of {:?} clients (server: child process, role all)",
        args.messages, args.clients
    );
    let server = ChildServer::start(env, "all", &[]).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let client = Client::with_http(http, server.base.clone());
    let started = Instant::now();
    let room = set_up(&client, env, members, args.messages.max(50)).await?;
    println!(
        "  set up in {:.0} s: {} members, {} messages, read markers moved",
        started.elapsed().as_secs_f64(),
        room.members.len(),
        room.expected.len()
    );
    check_first_page(&client, &room).await?;
    let sampler = Sampler::discover(
        &env.config,
        &[("all", server.pid())],
        &env.config.database_url,
        &env.database_names(),
    )
    .await;
    let room = Arc::new(room);
    // Warm connections and caches; not reported.
    read_pages(&client, &room, 4, 500).await?;
    let mut steps = Vec::new();
    for &clients in &args.clients {
        let before = sampler.sample().await;
        let started = Instant::now();
        let hist = read_pages(&client, &room, clients.max(1), requests).await?;
        let seconds = started.elapsed().as_secs_f64();
        let after = sampler.sample().await;
        let cpu = sampler.per_post(&before, &after, hist.len());
        steps.push(json!({
            "clients": clients,
            "requests": hist.len(),
            "requests_per_s": hist.len() as f64 / seconds,
            "latency": latency_json(&hist),
            "cpu": cpu,
        }));
    }
    let rss = server.peak_rss_mib();
    drop(server);
    report(&steps, members, args.messages, rss)
}

/// Users, the room, the posts and the read markers; what each message's
/// `unread_by` must then be.
async fn set_up(client: &Client, env: &BenchEnv, members: usize, messages: usize) -> Result<Room> {
    let users = harness::users(client, env, members, 16).await?;
    let create = CreateRoomRequest {
        name: "천 명 방 · a room of 1 000".into(),
        members: users.iter().skip(1).map(|u| u.id).collect(),
    };
    let made = client
        .auth(users[0].token.clone())
        .create_room(&create)
        .await
        .context("create the room")?;
    let id = made.room_id;
    // Posting moves the author's own marker to the post.
    let mut marker: HashMap<UserId, u64> = HashMap::new();
    let mut authors = HashMap::new();
    let mut position = made.position;
    // One at a time: each post's seq is then known before the next.
    for i in 0..messages {
        let author = &users[(i * 37) % users.len().min(100)];
        let body = PostMessageRequest::text(format!("공지 {i}: 회의는 3시에 시작합니다"));
        let posted = client
            .auth(author.token.clone())
            .post_message(id, &body)
            .await
            .context("post")?;
        position = position.max(posted.position);
        authors.insert(posted.seq, author.id);
        let m = marker.entry(author.id).or_default();
        *m = (*m).max(posted.seq);
    }
    let last = messages as u64;
    // Every member but one in ten reads up to a seq spread over the whole
    // history, most of them near its end (so the newest page has a spread).
    let reads: Vec<(usize, u64)> = (0..users.len())
        .filter(|i| i % 10 != 9)
        .map(|i| {
            let back = ((i * 7919) % 120) as u64;
            (i, last.saturating_sub(back).max(1))
        })
        .collect();
    let answers = futures::stream::iter(reads.iter().copied())
        .map(|(i, seq)| {
            let me = client.auth(users[i].token.clone());
            async move { me.mark_read(id, &ReadMarkerRequest { seq }).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for a in answers {
        position = position.max(a.context("move a read marker")?.position);
    }
    for (i, seq) in reads {
        let m = marker.entry(users[i].id).or_default();
        *m = (*m).max(seq);
    }
    let expected = authors
        .into_iter()
        .map(|(seq, author)| {
            let waiting = users
                .iter()
                .filter(|u| u.id != author && marker.get(&u.id).copied().unwrap_or(0) < seq)
                .count();
            (seq, (author, u32::try_from(waiting).unwrap_or(u32::MAX)))
        })
        .collect();
    Ok(Room {
        id,
        members: users,
        position,
        expected,
    })
}

/// The newest page, once the projections have applied the set-up, holds
/// the `unread_by` the bench expects (a wrong answer measured fast is no
/// figure).
async fn check_first_page(client: &Client, room: &Room) -> Result<()> {
    let viewer = client
        .auth(room.members[1].token.clone())
        .at(room.position)
        .max_wait(10_000);
    // The projections may still be applying the set-up (503 after the wait).
    let deadline = Instant::now() + Duration::from_secs(120);
    let page = loop {
        match viewer.messages(room.id, &[("limit", PAGE)]).await {
            Ok(page) => break page,
            Err(e) if Instant::now() < deadline => {
                println!("  waiting for the projections: {e}");
            }
            Err(e) => return Err(e).context("the first page"),
        }
    };
    if page.messages.len() != 50 {
        bail!(
            "the first page holds {} messages, not 50",
            page.messages.len()
        );
    }
    let spread: std::collections::BTreeSet<u32> =
        page.messages.iter().map(|m| m.unread_by).collect();
    for m in &page.messages {
        let want = room.expected.get(&m.seq).map(|(_, n)| *n);
        if want != Some(m.unread_by) {
            bail!(
                "message {} answered unread_by {} where {want:?} was expected",
                m.seq,
                m.unread_by
            );
        }
    }
    println!(
        "  first page checked: unread_by of the 50 messages as expected ({} distinct counts, {}–{})",
        spread.len(),
        spread.first().copied().unwrap_or(0),
        spread.last().copied().unwrap_or(0)
    );
    Ok(())
}

/// `requests` reads of the newest page by `clients` closed-loop clients,
/// each request as the next member.
async fn read_pages(
    client: &Client,
    room: &Arc<Room>,
    clients: usize,
    requests: u64,
) -> Result<Histogram<u64>> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, room, next) = (client.clone(), room.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    return Ok::<_, anyhow::Error>(hist);
                }
                let viewer = &room.members[(n as usize * 131) % room.members.len()];
                let me = client.auth(viewer.token.clone());
                let started = Instant::now();
                let page = me.messages(room.id, &[("limit", PAGE)]).await?;
                let took = started.elapsed();
                if page.messages.len() != 50 {
                    bail!("a page of {} messages", page.messages.len());
                }
                hist.record(took.as_micros().max(1) as u64)?;
            }
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let deadline = Duration::from_secs(600);
    for t in tasks {
        hist.add(tokio::time::timeout(deadline, t).await???)?;
    }
    Ok(hist)
}

/// Print the tables; the figures as JSON.
fn report(steps: &[Value], members: usize, messages: usize, rss: f64) -> Result<Value> {
    let mut t = Table::new(
        &format!(
            "messages: GET /v1/rooms/{{id}}/messages?limit={PAGE} with unread_by, {members} members (target p99 ≤ 10 ms)"
        ),
        &["clients", "requests", "req/s", "p50 ms", "p99 ms", "max ms"],
    );
    for s in steps {
        let lat = |k: &str| num(s["latency"][k].as_f64().unwrap_or(0.0));
        t.row(vec![
            s["clients"].to_string(),
            s["requests"].to_string(),
            num(s["requests_per_s"].as_f64().unwrap_or(0.0)),
            lat("p50_ms"),
            lat("p99_ms"),
            lat("max_ms"),
        ]);
    }
    t.print();
    let rows: Vec<(String, &Value)> = steps
        .iter()
        .map(|s| (format!("{} clients", s["clients"]), &s["cpu"]))
        .collect();
    cpu::print_table(
        "messages: CPU µs per request (the `posts` column counts requests)",
        &rows,
    );
    let p99 = steps
        .first()
        .and_then(|s| s["latency"]["p99_ms"].as_f64())
        .unwrap_or(f64::MAX);
    let met = p99 <= TARGET_P99_MS;
    println!(
        "target p99 ≤ 10 ms (one client at a time): {} (p99 {} ms); server peak RSS {rss:.0} MiB",
        if met { "met" } else { "not met" },
        num(p99)
    );
    Ok(json!({
        "params": { "members": members, "messages": messages, "page": 50 },
        "steps": steps,
        "server_peak_rss_mib": rss,
        "target": { "p99_ms": TARGET_P99_MS, "met": met },
    }))
}
