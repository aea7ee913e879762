//! `cotalk bench search`: message search on a generated corpus (1 000 000
//! messages; `--quick` 100 000), cotalk's tantivy index next to Postgres
//! full-text search (`to_tsvector('simple', …)` + GIN) and `pg_trgm`, on the
//! same data, with the same permission filter (the caller's ~50 rooms), in
//! the same run:
//!
//! - indexing: messages/s of a cotalk index rebuild (several writer threads,
//!   big batches), and the Postgres load and index build times;
//! - latency: p50/p99 of sequential typical queries (Korean words, English
//!   words, two words, phrases), one page of 50, per engine; and cotalk's
//!   operator queries (`from:`, `has:`, dates, with words: `operators`);
//! - recall and precision against expected sets known by construction (see
//!   the `corpus` module), Korean and English separately, every hit fetched.
//!
//! The corpus is streamed from a seeded generator twice (tantivy, then
//! Postgres); only each message's room and topic bits stay in memory. The
//! Postgres tables live in a bench database dropped at the end.

mod corpus;
mod engines;
mod operators;

use super::append::latency_json;
use super::harness::BenchEnv;
use super::report::{num, Table};
use super::Common;
use crate::config::Config;
use anyhow::Result;
use clap::Args;
use corpus::{topic_bit, Generator, Membership};
use engines::{BenchQuery, Pg};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Instant;
use uuid::Uuid;

/// Options of `cotalk bench search`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Messages in the corpus (default 1 000 000; 100 000 with --quick).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Rooms each user is a member of.
    #[arg(long, default_value_t = 50)]
    pub rooms_per_user: usize,
    /// Users whose rooms the queries are restricted to (each asks every query).
    #[arg(long, default_value_t = 16)]
    pub query_users: usize,
    /// tantivy writer threads for the rebuild (default: the CPUs, at most 4).
    #[arg(long)]
    pub writer_threads: Option<usize>,
    /// Corpus seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The workload: every kind of typical query, judged where relevance is known.
fn queries() -> Vec<BenchQuery> {
    let q = |text, kind, topics: &[&str], korean| BenchQuery {
        text,
        kind,
        topics: (!topics.is_empty()).then(|| topics.iter().fold(0, |m, t| m | topic_bit(t))),
        korean,
    };
    let mut out: Vec<BenchQuery> = [
        "회의",
        "일정",
        "배포",
        "서버",
        "자료",
        "예약",
        "점심",
        "보고서",
    ]
    .into_iter()
    .map(|w| q(w, "korean word", &[w], true))
    .collect();
    out.push(q("회의를", "korean word", &["회의"], true));
    out.extend(
        ["deploy", "meeting", "release", "review"]
            .into_iter()
            .map(|w| q(w, "english word", &[w], false)),
    );
    out.push(q("회의 자료", "two words", &["회의", "자료"], true));
    out.push(q("배포 일정", "two words", &["배포", "일정"], true));
    out.push(q(
        "deploy review",
        "two words",
        &["deploy", "review"],
        false,
    ));
    out.push(q("\"code review\"", "phrase", &[], false));
    out.push(q("\"주간 회의\"", "phrase", &[], true));
    out
}

/// Hits against expected hits, summed over queries.
#[derive(Default, Clone, Copy)]
struct Judged {
    expected: usize,
    returned: usize,
    relevant: usize,
}

impl Judged {
    fn add(&mut self, expected: &HashSet<u64>, returned: &[u64]) {
        self.expected += expected.len();
        self.returned += returned.len();
        self.relevant += returned.iter().filter(|i| expected.contains(i)).count();
    }
    fn recall(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.relevant as f64 / self.expected as f64
        }
    }
    fn precision(&self) -> f64 {
        if self.returned == 0 {
            1.0
        } else {
            self.relevant as f64 / self.returned as f64
        }
    }
    fn json(&self) -> Value {
        json!({"expected": self.expected, "returned": self.returned, "relevant": self.relevant,
               "recall": self.recall(), "precision": self.precision()})
    }
}

/// Per engine: Korean and English judgments, and latencies.
struct EngineRun {
    name: &'static str,
    korean: Judged,
    english: Judged,
    latency: Histogram<u64>,
}

impl EngineRun {
    fn new(name: &'static str) -> Result<Self> {
        Ok(Self {
            name,
            korean: Judged::default(),
            english: Judged::default(),
            latency: Histogram::new(3)?,
        })
    }
    fn judge(&mut self, q: &BenchQuery, expected: &HashSet<u64>, returned: &[u64]) {
        if q.korean {
            self.korean.add(expected, returned)
        } else {
            self.english.add(expected, returned)
        }
    }
    fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Run the bench; returns its figures.
pub async fn run(base: &Config, common: &Common, args: &SearchArgs) -> Result<Value> {
    let env = BenchEnv::new(base, common, "search")?;
    env.prepare().await?;
    let result = measure(&env, common, args).await;
    env.cleanup().await;
    result
}

async fn measure(env: &BenchEnv, common: &Common, args: &SearchArgs) -> Result<Value> {
    let n = args
        .messages
        .unwrap_or(if common.quick { 100_000 } else { 1_000_000 });
    let rooms = (n / 100).max(100) as u32;
    let threads = args.writer_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(2, |p| p.get())
            .min(4)
    });
    println!(
        "bench search: {n} messages in {rooms} rooms, {rooms} users in {} rooms each",
        args.rooms_per_user
    );
    let gen = std::sync::Arc::new(Generator::new(
        args.seed,
        Membership::generate(args.seed, rooms, rooms, args.rooms_per_user),
    ));

    // (a) cotalk: a rebuild of the index, timed, then opened for searching.
    let dir = env.config.data_dir.join("search-bench");
    println!("building the cotalk index ({threads} writer threads)…");
    let built = {
        let (gen, dir) = (gen.clone(), dir.clone());
        tokio::task::spawn_blocking(move || engines::build_tantivy(&gen, n, &dir, threads))
            .await??
    };
    let index_rate = n as f64 / built.build.as_secs_f64();
    let (_index, searcher) = engines::open_searcher(&dir)?;

    // (b), (c): Postgres, same messages.
    let pool = env.write_pool(2).await?;
    println!("loading Postgres…");
    let load = engines::load_postgres(&pool, &gen, n).await?;
    let trgm: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')",
    )
    .fetch_one(&pool)
    .await?;
    if !trgm {
        println!("pg_trgm is not available on this server (postgresql-contrib): skipping it");
    }
    println!("building Postgres indexes…");
    let pg_indexes = engines::index_postgres(&pool, trgm).await?;

    // Expected sets by construction: each message's room and topic bits.
    let mut by_room: Vec<Vec<(u64, u64)>> = vec![Vec::new(); rooms as usize];
    for i in 0..n {
        let m = gen.message(i);
        by_room[m.room as usize].push((i, m.topics));
    }
    let users: Vec<Vec<Uuid>> = (0..args.query_users.min(rooms as usize))
        .map(|u| {
            gen.membership().rooms_of[u]
                .iter()
                .map(|r| engines::room_uuid(*r))
                .collect()
        })
        .collect();
    let expected = |u: usize, mask: u64| -> HashSet<u64> {
        gen.membership().rooms_of[u]
            .iter()
            .flat_map(|r| by_room[*r as usize].iter())
            .filter(|(_, t)| t & mask == mask)
            .map(|(i, _)| *i)
            .collect()
    };

    let workload = queries();
    let mut conn = pool.acquire().await?;
    // JIT compiles plans of "expensive" queries at run time, which only adds
    // latency to short index lookups; OLTP setups turn it off.
    sqlx::query("SET jit = off").execute(&mut *conn).await?;
    let mut runs = vec![
        EngineRun::new("cotalk (tantivy)")?,
        EngineRun::new("pg fts (simple + GIN)")?,
    ];
    if trgm {
        runs.push(EngineRun::new("pg_trgm (ILIKE + GIN)")?);
    }
    let pg_of = |k: usize| if k == 1 { Pg::Fts } else { Pg::Trgm };

    // Recall pass (every hit); it also warms every cache before timing.
    println!(
        "judging recall ({} queries × {} users × {} engines)…",
        workload.len(),
        users.len(),
        runs.len()
    );
    for (u, rooms) in users.iter().enumerate() {
        for q in &workload {
            let Some(mask) = q.topics else { continue };
            let want = expected(u, mask);
            for (k, run) in runs.iter_mut().enumerate() {
                let got = if k == 0 {
                    engines::cotalk_search(&searcher, q, rooms, None)?
                } else {
                    engines::pg_search(&mut conn, pg_of(k), q, rooms, None).await?
                };
                run.judge(q, &want, &got);
            }
        }
    }

    // Latency pass: one page of 50, sequential, every query for every user.
    println!("timing queries…");
    let mut by_kind: Vec<(String, Histogram<u64>)> = Vec::new();
    for rooms in &users {
        for q in &workload {
            for (k, run) in runs.iter_mut().enumerate() {
                let started = Instant::now();
                if k == 0 {
                    engines::cotalk_search(&searcher, q, rooms, Some(50))?;
                } else {
                    engines::pg_search(&mut conn, pg_of(k), q, rooms, Some(50)).await?;
                }
                let us = started.elapsed().as_micros() as u64;
                run.latency.record(us.max(1))?;
                let key = format!("{} / {}", run.name, q.kind);
                match by_kind.iter_mut().find(|(name, _)| *name == key) {
                    Some((_, h)) => h.record(us.max(1))?,
                    None => {
                        let mut h = Histogram::new(3)?;
                        h.record(us.max(1))?;
                        by_kind.push((key, h));
                    }
                }
            }
        }
    }
    drop(conn);
    println!("timing operator queries…");
    let op_timings = operators::time(&searcher, &gen, &users, engines::user_uuid)?;

    let mut t = Table::new(
        &format!("search: {n} messages, queries limited to a user's {} rooms (targets: p99 ≤ 20 ms, Korean recall ≥ 0.95)", args.rooms_per_user),
        &["engine", "p50 ms", "p99 ms", "Korean recall", "Korean precision", "English recall", "English precision"],
    );
    for r in &runs {
        t.row(vec![
            r.name.into(),
            num(r.p(0.5)),
            num(r.p(0.99)),
            format!("{:.3}", r.korean.recall()),
            format!("{:.3}", r.korean.precision()),
            format!("{:.3}", r.english.recall()),
            format!("{:.3}", r.english.precision()),
        ]);
    }
    t.print();
    let mut k = Table::new(
        "search latency by query kind",
        &["engine / kind", "p50 ms", "p99 ms", "queries"],
    );
    for (name, h) in &by_kind {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        k.row(vec![
            name.clone(),
            num(ms(0.5)),
            num(ms(0.99)),
            h.len().to_string(),
        ]);
    }
    k.print();
    let operators = operators::report(&op_timings);
    let mut b = Table::new(
        "search: building",
        &["what", "seconds", "size MiB", "messages/s"],
    );
    let mib = |bytes: f64| num(bytes / (1 << 20) as f64);
    b.row(vec![
        format!("cotalk index rebuild ({threads} writer threads)"),
        num(built.build.as_secs_f64()),
        mib(built.bytes as f64),
        num(index_rate),
    ]);
    b.row(vec![
        "cotalk merges after the rebuild".into(),
        num(built.merge.as_secs_f64()),
        "-".into(),
        "-".into(),
    ]);
    b.row(vec![
        "postgres COPY".into(),
        num(load.as_secs_f64()),
        "-".into(),
        num(n as f64 / load.as_secs_f64()),
    ]);
    for (name, secs, bytes) in &pg_indexes {
        b.row(vec![
            format!("postgres {name}"),
            num(*secs),
            mib(*bytes as f64),
            num(n as f64 / secs),
        ]);
    }
    b.print();

    let cotalk = &runs[0];
    let fts = &runs[1];
    let verdict = |ok: bool| if ok { "met" } else { "not met" };
    let p99_ok = cotalk.p(0.99) <= 20.0;
    let recall_ok = cotalk.korean.recall() >= 0.95;
    let index_ok = index_rate >= 20_000.0;
    println!(
        "p99 ≤ 20 ms: {} (cotalk p99 {} ms)",
        verdict(p99_ok),
        num(cotalk.p(0.99))
    );
    println!(
        "Korean recall ≥ 0.95: {} (cotalk {:.3}; pg fts {:.3}, which misses particle forms and compounds)",
        verdict(recall_ok),
        cotalk.korean.recall(),
        fts.korean.recall()
    );
    println!(
        "indexing ≥ 20 000 messages/s: {} ({} messages/s)",
        verdict(index_ok),
        num(index_rate)
    );

    Ok(json!({
        "parameters": {"messages": n, "rooms": rooms, "users": rooms, "rooms_per_user": args.rooms_per_user,
                        "query_users": users.len(), "queries": workload.iter().map(|q| q.text).collect::<Vec<_>>(),
                        "writer_threads": threads, "seed": args.seed, "page_size": 50, "pg_jit": "off"},
        "engines": runs.iter().map(|r| json!({
            "engine": r.name, "latency": latency_json(&r.latency),
            "korean": r.korean.json(), "english": r.english.json(),
        })).collect::<Vec<_>>(),
        "latency_by_kind": by_kind.iter().map(|(k, h)| json!({"engine_kind": k, "latency": latency_json(h)})).collect::<Vec<_>>(),
        "build": {
            "cotalk_index_s": built.build.as_secs_f64(), "cotalk_merge_s": built.merge.as_secs_f64(),
            "cotalk_index_bytes": built.bytes, "cotalk_messages_per_s": index_rate,
            "postgres_copy_s": load.as_secs_f64(),
            "postgres_indexes": pg_indexes.iter().map(|(name, s, bytes)| json!({"index": name, "seconds": s, "bytes": bytes})).collect::<Vec<_>>(),
        },
        "operators": operators,
        "targets": {"p99_le_20ms": p99_ok, "operators_p99_le_20ms": operators["p99_le_20ms"], "korean_recall_ge_0_95": recall_ok, "indexing_ge_20000_per_s": index_ok},
    }))
}
