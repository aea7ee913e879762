//! `cotalk bench users`: user search (`GET /v1/users/search?q=`) with
//! 1 000 000 users in the index (`--quick`: 100 000), through HTTP on a
//! child `cotalk serve`, one query at a time (latency, not throughput):
//! p50/p99 of a mix of Latin username prefixes, Hangul syllable prefixes
//! of display names and initial-consonant (초성) queries, and the CPU time
//! per search of every process involved.
//!
//! The users are written straight into the read model the search reads
//! (profiles and the `usersearch` index of the current `redis` generation,
//! with `readmodel`'s own writers), not through the log: registering a
//! million users through the API would measure password hashing for an
//! hour. The callers are a few users registered through the API.

use super::append::latency_json;
use super::cpu::{self, Sampler};
use super::harness::{self, BenchEnv, ChildServer};
use super::report::{num, Table};
use super::Common;
use crate::config::Config;
use anyhow::{bail, Context, Result};
use clap::Args;
use domain::views::ProfileView;
use domain::UserId;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use readmodel::RedisKeys;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::client::Client;

/// Options of `cotalk bench users`.
#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    /// Users in the index (default 1 000 000; 100 000 with --quick).
    #[arg(long)]
    pub users: Option<u64>,
    /// Searches measured (default 6 000; 1 500 with --quick).
    #[arg(long)]
    pub queries: Option<u64>,
    /// Name generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const SURNAMES: [&str; 12] = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오",
];
const GIVEN: [&str; 24] = [
    "민", "지", "서", "연", "현", "우", "준", "수", "하", "은", "영", "호", "진", "아", "윤", "성",
    "혜", "태", "재", "소", "유", "경", "희", "도",
];
const LATIN: [&str; 20] = [
    "min", "ji", "seo", "yeon", "hyun", "woo", "jun", "soo", "ha", "eun", "young", "ho", "jin",
    "ah", "yoon", "sung", "tae", "jae", "so", "kyung",
];
const ENGLISH: [&str; 10] = [
    "Alex", "Sam", "Jamie", "Chris", "Taylor", "Jordan", "Morgan", "Casey", "Riley", "Drew",
];

/// User `i`'s username and display name (seeded: the same every run).
fn name(rng: &mut StdRng, i: u64) -> (String, String) {
    let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.gen_range(0..list.len())];
    let username = format!("{}{}{i}", pick(rng, &LATIN), pick(rng, &LATIN));
    let display = if rng.gen_bool(0.8) {
        format!(
            "{}{}{}",
            pick(rng, &SURNAMES),
            pick(rng, &GIVEN),
            pick(rng, &GIVEN)
        )
    } else {
        format!("{} {}", pick(rng, &ENGLISH), pick(rng, &ENGLISH))
    };
    (username, display)
}

/// The query mix: (kind, query), cycled through.
fn queries(rng: &mut StdRng) -> Vec<(&'static str, String)> {
    let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.gen_range(0..list.len())];
    let mut out = Vec::new();
    for _ in 0..64 {
        let latin = format!("{}{}", pick(rng, &LATIN), &pick(rng, &LATIN)[..1]);
        out.push(("latin prefix", latin));
        let syllables = format!("{}{}", pick(rng, &SURNAMES), pick(rng, &GIVEN));
        out.push(("hangul prefix", syllables));
        let chosung: String = [pick(rng, &SURNAMES), pick(rng, &GIVEN), pick(rng, &GIVEN)]
            .iter()
            .map(|s| domain::hangul::initials(s))
            .collect();
        out.push(("초성", chosung));
    }
    out
}

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &UsersArgs) -> Result<Value> {
    let env = BenchEnv::new(base, common, "users")?;
    env.prepare().await?;
    let result = measure(&env, common, args).await;
    env.cleanup().await;
    result
}

async fn measure(env: &BenchEnv, common: &Common, args: &UsersArgs) -> Result<Value> {
    let n = args
        .users
        .unwrap_or(if common.quick { 100_000 } else { 1_000_000 });
    let count = args
        .queries
        .unwrap_or(if common.quick { 1_500 } else { 6_000 });
    let unlimited = "1000000".to_owned();
    let server = ChildServer::start(
        env,
        "all",
        &[
            ("COTALK_RATE_SEARCH_PER_SEC", unlimited.clone()),
            ("COTALK_RATE_SEARCH_BURST", unlimited),
        ],
    )
    .await?;
    let client = Client::new(&server.base);
    let callers = harness::users(&client, env, 4, 4).await?;
    for c in &callers {
        known(&client.auth(c.token.clone())).await?;
    }
    let started = Instant::now();
    seed(env, n, args.seed).await?;
    let seed_s = started.elapsed().as_secs_f64();
    println!("  seeded {n} users in {seed_s:.1} s");

    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let mix = queries(&mut rng);
    let http = reqwest::Client::new();
    let search = |i: usize| {
        let (kind, q) = &mix[i % mix.len()];
        let token = &callers[i % callers.len()].token;
        let req = http
            .get(format!("{}/v1/users/search", server.base))
            .query(&[("q", q.as_str())])
            .bearer_auth(token);
        async move {
            let t = Instant::now();
            let res = req.send().await?;
            let status = res.status();
            let body: Value = res.json().await?;
            if !status.is_success() {
                bail!("search {q:?} answered {status}: {body}");
            }
            let found = body["users"].as_array().map_or(0, Vec::len);
            Ok::<_, anyhow::Error>((*kind, t.elapsed(), found))
        }
    };
    // Warm-up: connections, caches, the allocator.
    for i in 0..300 {
        search(i).await?;
    }
    let sampler = Sampler::discover(
        &env.config,
        &[("all", server.pid())],
        &env.config.database_url,
        &env.database_names(),
    )
    .await;
    let mut all = Histogram::<u64>::new(3)?;
    let mut by_kind: Vec<(&str, Histogram<u64>, u64)> = Vec::new();
    let before = sampler.sample().await;
    for i in 0..count as usize {
        let (kind, took, found) = search(i).await?;
        let us = took.as_micros() as u64;
        all.record(us)?;
        let slot = match by_kind.iter().position(|(k, _, _)| *k == kind) {
            Some(s) => s,
            None => {
                by_kind.push((kind, Histogram::new(3)?, 0));
                by_kind.len() - 1
            }
        };
        by_kind[slot].1.record(us)?;
        by_kind[slot].2 += found as u64;
    }
    let after = sampler.sample().await;
    let cpu = sampler.per_post(&before, &after, count);

    let mut t = Table::new(
        &format!("users: GET /v1/users/search, {n} users, one at a time"),
        &[
            "queries",
            "count",
            "p50 ms",
            "p99 ms",
            "max ms",
            "hits/query",
        ],
    );
    let row = |label: &str, h: &Histogram<u64>, hits: Option<u64>| {
        vec![
            label.to_owned(),
            h.len().to_string(),
            num(h.value_at_quantile(0.5) as f64 / 1000.0),
            num(h.value_at_quantile(0.99) as f64 / 1000.0),
            num(h.max() as f64 / 1000.0),
            hits.map_or("-".into(), |f| num(f as f64 / h.len().max(1) as f64)),
        ]
    };
    for (kind, h, hits) in &by_kind {
        t.row(row(kind, h, Some(*hits)));
    }
    t.row(row("all", &all, None));
    t.print();
    cpu::print_table(
        "users: CPU µs per search (load gen. = this bench)",
        &[("search".to_owned(), &cpu)],
    );
    let kinds: Vec<Value> = by_kind
        .iter()
        .map(|(k, h, hits)| json!({"kind": k, "latency": latency_json(h), "hits": hits}))
        .collect();
    Ok(json!({
        "users": n,
        "queries": count,
        "seed_s": seed_s,
        "latency": latency_json(&all),
        "by_kind": kinds,
        "cpu": cpu,
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}

/// Wait until the server knows a caller (its registration is projected).
async fn known(client: &Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.me().await.is_err() {
        if Instant::now() > deadline {
            bail!("a bench caller was never projected");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Write `n` profiles and their search terms into the current generation.
async fn seed(env: &BenchEnv, n: u64, seed: u64) -> Result<()> {
    const CHUNK: u64 = 5_000;
    let redis = redis::Client::open(env.config.redis_url.as_str())?;
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let generation = readmodel::generation::current(&mut conn, &env.config.namespace)
        .await
        .context("read the generation pointer")?;
    let keys = RedisKeys::new(&env.config.namespace, generation);
    let mut rng = StdRng::seed_from_u64(seed);
    let created_at = chrono::Utc::now();
    let mut i = 0;
    while i < n {
        let mut pipe = redis::pipe();
        for j in i..(i + CHUNK).min(n) {
            let (username, display_name) = name(&mut rng, j);
            let user = UserId(uuid::Uuid::from_u64_pair(seed, j));
            let terms = readmodel::people::search_terms(&username, &display_name);
            readmodel::people::write_search_terms(&mut pipe, &keys, user, &[], &terms);
            readmodel::profiles::put(
                &mut pipe,
                &keys,
                &ProfileView {
                    user_id: user,
                    username,
                    display_name,
                    created_at,
                    status_message: String::new(),
                    show_presence: true,
                    deleted_user: false,
                },
            );
        }
        let () = pipe.query_async(&mut conn).await?;
        i += CHUNK;
    }
    Ok(())
}
