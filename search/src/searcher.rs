//! The search half of `GET /v1/search/messages`: [`MessageSearcher::search`].
//!
//! **Permissions are part of the query.** The caller passes the rooms the user
//! is a member of *now* (from the membership projection). Their live
//! documents are read once per search from the `room_id` postings
//! (`room_docs`) and become a required clause, so a document of another room
//! can never be scored, counted or returned, and paging cannot leak it
//! either. Author, time and operator filters are required clauses too, and
//! what the caller hid or the authors they blocked are excluded clauses
//! (`filters`), so a page is always full when more hits exist. Filters score
//! 0, so the score is the text's BM25 alone (0 for a query of operators
//! only, which so lists the newest first).
//!
//! **Scores see only the caller's rooms.** BM25 weighs a term by how rare it
//! is (document frequency against the document count) and a match by its
//! field's length against the average length. tantivy takes those from the
//! whole index, so thirty messages with a word in a private room lowered the
//! score of an outsider's own hit for it (2.225 to 0.557), and could swap two
//! of their hits: scores and ranks told them what rooms they cannot read say.
//! Every search therefore supplies its own statistics (`stats`), counted over
//! the same readable documents the permission clause admits: a score, and
//! with it the order of the hits, depends only on messages the caller can
//! read, and is the same with or without a `room_id`, author or time filter
//! (the statistics always count all the caller's rooms). We kept BM25 with
//! caller-scoped statistics rather than a score without corpus statistics
//! (term frequency and length alone): that leaks nothing either, but ranks a
//! match of a rare word no higher than one of a common word. The price is an
//! intersection per query term with the caller's documents and a pass over
//! their field lengths (`BENCHMARKS.md`: latency at 1M messages).

use crate::collector::{AfterCollector, SortKey, SortOrder};
use crate::error::SearchError;
use crate::filters;
use crate::operators::DEFAULT_TZ;
use crate::query;
use crate::room_docs::RoomDocs;
use crate::schema::{join_id, Fields};
use crate::snippet::Highlighter;
use crate::stats::RoomStatistics;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::{MessageId, RoomId, UserId};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::{IndexReader, TantivyDocument};

/// Page size when the request does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size; larger requests are clamped.
pub const MAX_LIMIT: usize = 200;

/// One search request, already authenticated.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    /// The query text (1–256 characters; see [`crate::query`] for the syntax).
    pub q: String,
    /// Rooms the caller is a member of now. Empty: nothing is found.
    pub member_rooms: Vec<RoomId>,
    /// Only this room; a room not in `member_rooms` finds nothing.
    pub room_id: Option<RoomId>,
    /// Only messages by this author.
    pub author_id: Option<UserId>,
    /// Only messages posted strictly before this instant.
    pub before: Option<DateTime<Utc>>,
    /// Only messages posted strictly after this instant.
    pub after: Option<DateTime<Utc>>,
    /// Page size; 0 means [`DEFAULT_LIMIT`], above [`MAX_LIMIT`] is clamped.
    pub limit: usize,
    /// `next_cursor` of the previous page, with the same query and sort.
    pub cursor: Option<String>,
    /// Result order.
    pub sort: SortOrder,
    /// The caller: whom `from:me` and `mentions:me` name, and whose hidden
    /// messages ("delete for me") are never found.
    pub viewer: Option<UserId>,
    /// The time zone of `before:`, `after:` and `on:` days; `None`:
    /// [`DEFAULT_TZ`] (Asia/Seoul).
    pub tz: Option<Tz>,
    /// Authors whose messages are never found (the users the caller blocked).
    pub excluded_authors: Vec<UserId>,
    /// The user ids of the usernames `from:` names (resolved by the caller,
    /// see [`query::usernames`]); a name missing here belongs to nobody and
    /// finds nothing.
    pub usernames: HashMap<String, UserId>,
}

/// One matching message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// The message.
    pub message_id: MessageId,
    /// Its room.
    pub room_id: RoomId,
    /// Its place in the room (1, 2, 3 …).
    pub seq: u64,
    /// Who wrote it.
    pub author_id: UserId,
    /// When it was posted (not when it was last edited).
    pub created_at: DateTime<Utc>,
    /// A fragment of the message, HTML-escaped, matches in `<mark>…</mark>`.
    pub snippet: String,
    /// BM25 relevance (higher is better), with statistics over the caller's
    /// rooms only.
    pub score: f32,
}

/// One page of hits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchPage {
    /// At most `limit` hits, in the requested order.
    pub hits: Vec<SearchHit>,
    /// Opaque cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The global position the searched data reflects (for `X-Position`).
    pub position: i64,
}

/// A cheap, cloneable search handle (`Send + Sync`): searches run on the last
/// committed state while the writer keeps indexing. Searches block (for
/// milliseconds): call them from `spawn_blocking`.
#[derive(Clone)]
pub struct MessageSearcher {
    reader: IndexReader,
    fields: Fields,
    visible: Arc<AtomicI64>,
}

impl MessageSearcher {
    pub(crate) fn new(reader: IndexReader, fields: Fields, visible: Arc<AtomicI64>) -> Self {
        Self {
            reader,
            fields,
            visible,
        }
    }

    /// The position of the last commit searches can see.
    pub fn position(&self) -> i64 {
        self.visible.load(Ordering::SeqCst)
    }

    /// Run a search. Invalid query text or cursor is a client error
    /// ([`SearchError::is_client_error`]); permissions never are: a room the
    /// caller cannot see simply yields no hits.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, SearchError> {
        let compiled = query::compile(&self.fields, &req.q)?;
        let after = req
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, req.sort))
            .transpose()?;
        // Read the position before taking the searcher, so the answer never
        // claims a position newer than the data it searched.
        let position = self.position();
        let empty = SearchPage {
            hits: Vec::new(),
            next_cursor: None,
            position,
        };
        let f = &self.fields;
        let filters = filters::build(f, req, &compiled.operators, req.tz.unwrap_or(DEFAULT_TZ));
        if req.member_rooms.is_empty() || filters.nothing {
            return Ok(empty);
        }
        let searcher = self.reader.searcher();
        // Read once, used twice: the permission filter and the population of
        // the BM25 statistics (see the module doc).
        let readable = RoomDocs::collect(&searcher, f.room_id, &req.member_rooms)?;
        if readable.total() == 0 {
            return Ok(empty);
        }
        // A room filter (`room_id`, `in:`) narrows what is searched, not
        // what the statistics count, so a hit scores the same with or
        // without it.
        let searched = match &filters.scope {
            Some(rooms) => RoomDocs::collect(&searcher, f.room_id, rooms)?,
            None => readable.clone(),
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(searched))];
        if let Some(text) = &compiled.query {
            clauses.push((Occur::Must, text.box_clone()));
        }
        clauses.extend(filters.clauses);
        let limit = match req.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let ranked = searcher.search_with_statistics_provider(
            &BooleanQuery::new(clauses),
            &AfterCollector {
                sort: req.sort,
                after,
                limit: limit + 1,
            },
            &RoomStatistics::new(&searcher, &readable),
        )?;
        let highlighter = Highlighter::new(&compiled, f.body);
        let mut hits = Vec::with_capacity(limit.min(ranked.len()));
        for r in ranked.iter().take(limit) {
            let m = f.decode(&searcher.doc::<TantivyDocument>(r.addr)?)?;
            let created_at = DateTime::from_timestamp_micros(m.created_at_us).ok_or_else(|| {
                SearchError::Corrupt(format!("created_at {} out of range", m.created_at_us))
            })?;
            hits.push(SearchHit {
                message_id: join_id(r.key.mid_hi, r.key.mid_lo),
                room_id: m.room_id,
                seq: m.seq,
                author_id: m.author_id,
                created_at,
                snippet: highlighter.html(&m.body),
                score: r.key.score,
            });
        }
        let next_cursor = if ranked.len() > limit {
            ranked
                .get(limit - 1)
                .map(|r| encode_cursor(&r.key, req.sort))
        } else {
            None
        };
        Ok(SearchPage {
            hits,
            next_cursor,
            position,
        })
    }
}

const CURSOR_VERSION: &str = "c1";

fn sort_tag(sort: SortOrder) -> &'static str {
    match sort {
        SortOrder::Relevance => "r",
        SortOrder::Recent => "t",
    }
}

/// The cursor after `key`: base64url of the sort key, score as exact bits.
fn encode_cursor(key: &SortKey, sort: SortOrder) -> String {
    let raw = format!(
        "{CURSOR_VERSION}|{}|{:08x}|{}|{:016x}|{:016x}",
        sort_tag(sort),
        key.score.to_bits(),
        key.created_at_us,
        key.mid_hi,
        key.mid_lo
    );
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str, sort: SortOrder) -> Result<SortKey, SearchError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| SearchError::InvalidCursor)?;
    let raw = String::from_utf8(bytes).map_err(|_| SearchError::InvalidCursor)?;
    let parts: Vec<&str> = raw.split('|').collect();
    let [version, tag, score, created, hi, lo] = parts[..] else {
        return Err(SearchError::InvalidCursor);
    };
    if version != CURSOR_VERSION || tag != sort_tag(sort) {
        return Err(SearchError::InvalidCursor);
    }
    let bad = |_| SearchError::InvalidCursor;
    Ok(SortKey {
        score: f32::from_bits(u32::from_str_radix(score, 16).map_err(bad)?),
        created_at_us: created.parse().map_err(bad)?,
        mid_hi: u64::from_str_radix(hi, 16).map_err(bad)?,
        mid_lo: u64::from_str_radix(lo, 16).map_err(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let key = SortKey {
            score: 3.25,
            created_at_us: -5,
            mid_hi: 7,
            mid_lo: u64::MAX,
        };
        let c = encode_cursor(&key, SortOrder::Relevance);
        assert_eq!(decode_cursor(&c, SortOrder::Relevance).ok(), Some(key));
        assert!(decode_cursor(&c, SortOrder::Recent).is_err());
        assert!(decode_cursor("not a cursor", SortOrder::Recent).is_err());
        assert!(decode_cursor(
            &URL_SAFE_NO_PAD.encode("c1|r|x|1|2|3"),
            SortOrder::Relevance
        )
        .is_err());
    }
}
