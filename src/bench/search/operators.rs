//! Operator queries of `cotalk bench search` (cotalk only: Postgres has no
//! counterpart in the bench): `from:`, `has:`, `mentions:me`, a date range,
//! a day, and operators combined with words, timed like the word queries
//! (one page of 50, sequential, for every query user).
//!
//! What the operators find is set by [`extras`] on the indexed events,
//! from the message number alone so the corpus stays a pure function of the
//! seed: one message in 10 has an image, one in 10 a PDF, one in 12 a link
//! appended to its text (words no query searches), one in 20 mentions a
//! member of its room. Messages are one second apart from 2025-01-01 00:00
//! UTC, so a million of them span about 11.6 days.

use super::corpus::Generator;
use crate::bench::append::latency_json;
use crate::bench::report::{num, Table};
use anyhow::Result;
use domain::attachment::Attachment;
use domain::{AttachmentId, RoomId, UserId};
use hdrhistogram::Histogram;
use search::{MessageSearcher, SearchRequest};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;

/// What message `i` carries besides its generated text: attachments, a link
/// to append, mentions (by user number).
pub struct Extras {
    /// Its attachments.
    pub attachments: Vec<Attachment>,
    /// A link to append to the text.
    pub link: Option<String>,
    /// Mentioned users (numbers).
    pub mentions: Vec<u32>,
}

fn attachment(i: u64, content_type: &str) -> Attachment {
    Attachment {
        attachment_id: AttachmentId(Uuid::from_u64_pair(0xC07A_1C00_0000_00A7, i)),
        content_type: content_type.into(),
        size: 1000,
        sha256: String::new(),
        name: None,
        width: None,
        height: None,
    }
}

/// The extras of message `i` (see the module doc); `members` are its room's.
pub fn extras(i: u64, members: &[u32]) -> Extras {
    let attachments = match i % 10 {
        3 => vec![attachment(i, "image/png")],
        7 => vec![attachment(i, "application/pdf")],
        _ => Vec::new(),
    };
    let link = (i % 12 == 5).then(|| format!(" https://docs.example.com/p/{i}"));
    let mentions = match members {
        [] => Vec::new(),
        _ if i.is_multiple_of(20) => vec![members[(i / 20) as usize % members.len()]],
        _ => Vec::new(),
    };
    Extras {
        attachments,
        link,
        mentions,
    }
}

/// An operator query of the workload, for one user.
struct OpQuery {
    text: String,
    kind: &'static str,
}

/// The operator queries of user `u`: `from:` names a member of one of their
/// rooms (another user when there is one).
fn workload(gen: &Generator, u: usize) -> Vec<OpQuery> {
    let m = gen.membership();
    let other = m.rooms_of[u]
        .iter()
        .flat_map(|r| m.members[*r as usize].iter())
        .find(|x| **x as usize != u)
        .copied()
        .unwrap_or(u as u32);
    let q = |text: String, kind| OpQuery { text, kind };
    vec![
        q(format!("from:user{other}"), "op from:"),
        q("from:me".into(), "op from:"),
        q("has:image".into(), "op has:"),
        q("has:file".into(), "op has:"),
        q("has:link".into(), "op has:"),
        q("mentions:me".into(), "op mentions:me"),
        q("after:2025-01-03 before:2025-01-08".into(), "op date range"),
        q("on:2025-01-05".into(), "op date range"),
        q(format!("회의 from:user{other}"), "op with words"),
        q("배포 has:link after:2025-01-03".into(), "op with words"),
        q("meeting on:2025-01-05".into(), "op with words"),
        q(format!("from:user{other} has:image"), "op with words"),
    ]
}

/// The id of user number `n` (as the bench's events write it).
pub type UserIdOf = fn(u32) -> Uuid;

/// Latencies (µs) of the operator queries.
pub struct Timings {
    /// One histogram per kind.
    by_kind: Vec<(String, Histogram<u64>)>,
    /// All operator queries.
    all: Histogram<u64>,
    /// Hits returned in all.
    hits: u64,
}

/// Time every operator query for every query user (`rooms[u]` are user
/// `u`'s rooms).
pub fn time(
    searcher: &MessageSearcher,
    gen: &Generator,
    rooms: &[Vec<Uuid>],
    user_id: UserIdOf,
) -> Result<Timings> {
    let usernames: HashMap<String, UserId> = (0..gen.membership().rooms_of.len() as u32)
        .map(|n| (format!("user{n}"), UserId(user_id(n))))
        .collect();
    let mut by_kind: Vec<(String, Histogram<u64>)> = Vec::new();
    let mut all = Histogram::new(3)?;
    let mut hits = 0;
    // One untimed pass warms the caches, as the word queries' recall pass does.
    for pass in 0..2 {
        for (u, member_rooms) in rooms.iter().enumerate() {
            for q in workload(gen, u) {
                let req = SearchRequest {
                    q: q.text.clone(),
                    member_rooms: member_rooms.iter().map(|r| RoomId(*r)).collect(),
                    limit: 50,
                    viewer: Some(UserId(user_id(u as u32))),
                    usernames: usernames.clone(),
                    ..Default::default()
                };
                let started = Instant::now();
                let page = searcher.search(&req)?;
                let us = (started.elapsed().as_micros() as u64).max(1);
                if pass == 0 {
                    continue;
                }
                hits += page.hits.len() as u64;
                all.record(us)?;
                match by_kind.iter_mut().find(|(k, _)| k == q.kind) {
                    Some((_, h)) => h.record(us)?,
                    None => {
                        let mut h = Histogram::new(3)?;
                        h.record(us)?;
                        by_kind.push((q.kind.to_owned(), h));
                    }
                }
            }
        }
    }
    Ok(Timings { by_kind, all, hits })
}

/// Print the operator latencies by kind with the p99 ≤ 20 ms verdict; their
/// JSON for the results file.
pub fn report(t: &Timings) -> Value {
    let (by_kind, all, hits) = (&t.by_kind, &t.all, t.hits);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mut table = Table::new(
        "search operators (cotalk): latency by kind, one page of 50",
        &["kind", "p50 ms", "p99 ms", "queries"],
    );
    for (kind, h) in by_kind {
        table.row(vec![
            kind.clone(),
            num(ms(h, 0.5)),
            num(ms(h, 0.99)),
            h.len().to_string(),
        ]);
    }
    table.row(vec![
        "all operator queries".into(),
        num(ms(all, 0.5)),
        num(ms(all, 0.99)),
        all.len().to_string(),
    ]);
    table.print();
    let ok = ms(all, 0.99) <= 20.0;
    println!(
        "operator queries p99 ≤ 20 ms: {} (p99 {} ms, {hits} hits returned)",
        if ok { "met" } else { "not met" },
        num(ms(all, 0.99))
    );
    json!({
        "by_kind": by_kind.iter().map(|(k, h)| json!({"kind": k, "latency": latency_json(h)})).collect::<Vec<_>>(),
        "all": latency_json(all),
        "hits_returned": hits,
        "p99_le_20ms": ok,
    })
}
