//! The three engines of `cotalk bench search`, loaded with the same corpus
//! and asked the same queries under the same permission filter:
//!
//! - `cotalk`: the search crate's tantivy index, built the way a replay
//!   builds it (several writer threads, big batches, few commits);
//! - `pg fts`: `to_tsvector('simple', body)` with a GIN expression index,
//!   ranked by `ts_rank`;
//! - `pg trgm`: `body ILIKE '%word%'` with a `pg_trgm` GIN index, newest first.
//!
//! Both Postgres variants also have a b-tree on `room_id`, so the planner can
//! start from the caller's rooms (`room_id = ANY($rooms)`) when that is
//! cheaper than the text index.

use super::corpus::Generator;
use ::search::searcher::MAX_LIMIT;
use ::search::{IndexOptions, MessageSearcher, SearchIndex, SearchRequest};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use domain::event::{MessagePosted, RoomEvent};
use domain::{
    DomainEvent, EventId, EventMetadata, MessageId, RoomId, StoredEvent, StreamId, StreamType,
    UserId,
};
use sqlx::{Executor, PgPool};
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

const MESSAGE_NS: u64 = 0xC07A_1C00_0000_0001;
const ROOM_NS: u64 = 0xC07A_1C00_0000_0002;
const USER_NS: u64 = 0xC07A_1C00_0000_0003;

/// The id of message number `i` (its number is recoverable, see [`message_number`]).
pub fn message_uuid(i: u64) -> Uuid {
    Uuid::from_u64_pair(MESSAGE_NS, i)
}

/// The number of a message from its id.
pub fn message_number(id: Uuid) -> u64 {
    id.as_u64_pair().1
}

/// The id of user number `n`.
pub fn user_uuid(n: u32) -> Uuid {
    Uuid::from_u64_pair(USER_NS, n.into())
}

/// The id of room number `r`.
pub fn room_uuid(r: u32) -> Uuid {
    Uuid::from_u64_pair(ROOM_NS, r.into())
}

/// A query of the workload.
#[derive(Debug, Clone)]
pub struct BenchQuery {
    /// As a user types it (cotalk syntax; quotes make a phrase).
    pub text: &'static str,
    /// `korean word`, `english word`, `two words`, `phrase`.
    pub kind: &'static str,
    /// Topic bits a relevant message has all of; `None`: not judged.
    pub topics: Option<u64>,
    /// Judged as a Korean query (Korean recall) or an English one.
    pub korean: bool,
}

impl BenchQuery {
    fn phrase(&self) -> bool {
        self.text.starts_with('"')
    }

    fn words(&self) -> Vec<&'static str> {
        self.text.trim_matches('"').split_whitespace().collect()
    }
}

/// The events the projection would index for messages `from..to`.
fn events(gen: &Generator, from: u64, to: u64, seqs: &mut [u64]) -> Vec<StoredEvent> {
    let start = DateTime::<Utc>::from_timestamp(1_735_689_600, 0).unwrap_or_default();
    (from..to)
        .map(|i| {
            let m = gen.message(i);
            let seq = &mut seqs[m.room as usize];
            *seq += 1;
            let at = start + ChronoDuration::seconds(i as i64);
            let room = RoomId(room_uuid(m.room));
            let extra = super::operators::extras(i, &gen.membership().members[m.room as usize]);
            let mut body = m.body;
            body.extend(extra.link);
            StoredEvent {
                position: i as i64 + 1,
                event_id: EventId(Uuid::from_u64_pair(MESSAGE_NS ^ 1, i)),
                stream_id: StreamId::from(room),
                stream_type: StreamType::Room,
                version: *seq as i64 + 1,
                metadata: EventMetadata::default(),
                recorded_at: at,
                event: DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
                    room_id: room,
                    message_id: MessageId(message_uuid(i)),
                    seq: *seq,
                    author_id: UserId(user_uuid(m.author)),
                    body,
                    reply_to: None,
                    attachments: extra.attachments,
                    mentions: extra
                        .mentions
                        .into_iter()
                        .map(|u| UserId(user_uuid(u)))
                        .collect(),
                    at,
                })),
            }
        })
        .collect()
}

/// How the tantivy build went.
pub struct IndexBuild {
    /// From the first event to the last commit.
    pub build: Duration,
    /// Waiting for background merges afterwards.
    pub merge: Duration,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Build the cotalk index of `n` messages in `dir` (blocking). Events are
/// generated in chunks while the writer threads index the previous ones, as
/// a replay decodes the log while indexing; generation is timed in.
pub fn build_tantivy(gen: &Generator, n: u64, dir: &Path, threads: usize) -> Result<IndexBuild> {
    const CHUNK: u64 = 10_000;
    const COMMIT_EVERY: u64 = 250_000;
    let opts = IndexOptions {
        writer_threads: threads,
        memory_budget_bytes: threads * (192 << 20),
        merge_threads: 1,
    };
    let mut seqs = vec![0u64; gen.membership().members.len()];
    let started = Instant::now();
    let mut index = SearchIndex::open(dir, opts.clone())?;
    let mut from = 0;
    while from < n {
        let to = (from + CHUNK).min(n);
        index.apply(&events(gen, from, to, &mut seqs))?;
        if to.is_multiple_of(COMMIT_EVERY) || to == n {
            index.commit()?;
        }
        from = to;
        if from.is_multiple_of(100_000) {
            println!(
                "  indexed {from} messages ({:.0}/s)",
                from as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    let build = started.elapsed();
    let merging = Instant::now();
    drop(index); // waits for the merges it started
    let merge = merging.elapsed();
    Ok(IndexBuild {
        build,
        merge,
        bytes: dir_bytes(dir),
    })
}

/// Reopen the built index for searching.
pub fn open_searcher(dir: &Path) -> Result<(SearchIndex, MessageSearcher)> {
    let index = SearchIndex::open(dir, IndexOptions::default())?;
    let searcher = index.searcher();
    Ok((index, searcher))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Search with cotalk: one page of `limit`, or every hit when `None`.
pub fn cotalk_search(
    searcher: &MessageSearcher,
    q: &BenchQuery,
    rooms: &[Uuid],
    limit: Option<usize>,
) -> Result<Vec<u64>> {
    let mut req = SearchRequest {
        q: q.text.to_owned(),
        member_rooms: rooms.iter().map(|r| RoomId(*r)).collect(),
        limit: limit.unwrap_or(MAX_LIMIT),
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = searcher.search(&req)?;
        out.extend(page.hits.iter().map(|h| message_number(h.message_id.0)));
        match page.next_cursor {
            Some(c) if limit.is_none() => req.cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

/// Load the corpus into `bench_messages` with `COPY` (streamed, 1 MB at a time).
pub async fn load_postgres(pool: &PgPool, gen: &Generator, n: u64) -> Result<Duration> {
    let started = Instant::now();
    pool.execute("CREATE TABLE bench_messages (id bigint PRIMARY KEY, room_id uuid NOT NULL, body text NOT NULL)")
        .await?;
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw("COPY bench_messages (id, room_id, body) FROM STDIN")
        .await?;
    let mut buf = String::with_capacity(1 << 20);
    for i in 0..n {
        let m = gen.message(i);
        buf.push_str(&format!("{i}\t{}\t", room_uuid(m.room)));
        for c in m.body.chars() {
            match c {
                '\\' => buf.push_str("\\\\"),
                '\t' => buf.push_str("\\t"),
                '\n' => buf.push_str("\\n"),
                '\r' => buf.push_str("\\r"),
                c => buf.push(c),
            }
        }
        buf.push('\n');
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            buf.reserve(1 << 20);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(started.elapsed())
}

/// Index builds in Postgres: (name, seconds, bytes).
pub async fn index_postgres(pool: &PgPool, trgm: bool) -> Result<Vec<(String, f64, i64)>> {
    let mut statements = vec![
        (
            "room_id b-tree",
            "CREATE INDEX bench_room ON bench_messages (room_id)",
            "bench_room",
        ),
        (
            "fts GIN",
            "CREATE INDEX bench_fts ON bench_messages USING gin (to_tsvector('simple', body))",
            "bench_fts",
        ),
    ];
    if trgm {
        pool.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .await?;
        statements.push((
            "trgm GIN",
            "CREATE INDEX bench_trgm ON bench_messages USING gin (body gin_trgm_ops)",
            "bench_trgm",
        ));
    }
    let mut out = Vec::new();
    for (name, sql, index) in statements {
        let started = Instant::now();
        pool.execute(sql).await.with_context(|| name.to_owned())?;
        let secs = started.elapsed().as_secs_f64();
        let bytes: i64 = sqlx::query_scalar("SELECT pg_relation_size($1::regclass)")
            .bind(index)
            .fetch_one(pool)
            .await?;
        out.push((name.to_owned(), secs, bytes));
    }
    pool.execute("ANALYZE bench_messages").await?;
    Ok(out)
}

/// Postgres engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pg {
    /// `to_tsvector('simple', body) @@ plainto_tsquery(…)`, by `ts_rank`.
    Fts,
    /// `body ILIKE '%word%'` for every word, newest first.
    Trgm,
}

/// Search with Postgres: `limit` rows, or all when `None`.
pub async fn pg_search(
    conn: &mut sqlx::PgConnection,
    engine: Pg,
    q: &BenchQuery,
    rooms: &[Uuid],
    limit: Option<usize>,
) -> Result<Vec<u64>> {
    let limit = limit.map_or(String::new(), |l| format!(" LIMIT {l}"));
    let ids: Vec<i64> = match engine {
        Pg::Fts => {
            let f = if q.phrase() {
                "phraseto_tsquery"
            } else {
                "plainto_tsquery"
            };
            let sql = format!(
                "SELECT id FROM bench_messages WHERE room_id = ANY($1) \
                 AND to_tsvector('simple', body) @@ {f}('simple', $2) \
                 ORDER BY ts_rank(to_tsvector('simple', body), {f}('simple', $2)) DESC, id DESC{limit}"
            );
            sqlx::query_scalar(&sql)
                .bind(rooms)
                .bind(q.text.trim_matches('"'))
                .fetch_all(&mut *conn)
                .await?
        }
        Pg::Trgm => {
            // A phrase is one pattern; separate words must each occur.
            let patterns: Vec<String> = if q.phrase() {
                vec![format!("%{}%", q.text.trim_matches('"'))]
            } else {
                q.words().iter().map(|w| format!("%{w}%")).collect()
            };
            let cond: Vec<String> = (0..patterns.len())
                .map(|k| format!("body ILIKE ${}", k + 2))
                .collect();
            let sql = format!(
                "SELECT id FROM bench_messages WHERE room_id = ANY($1) AND {} ORDER BY id DESC{limit}",
                cond.join(" AND ")
            );
            let mut query = sqlx::query_scalar(&sql).bind(rooms);
            for p in &patterns {
                query = query.bind(p);
            }
            query.fetch_all(&mut *conn).await?
        }
    };
    Ok(ids.into_iter().map(|i| i as u64).collect())
}
