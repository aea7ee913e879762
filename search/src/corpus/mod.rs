//! A Korean-first evaluation corpus: 225 chat messages (work chat, friends
//! chat, mixed Korean/English) and 41 queries with the messages each should
//! find, judged by hand (see `data.rs` for the relevance rules). Used by the
//! recall/precision test and by `cotalk bench search`.
//!
//! ```no_run
//! # fn main() -> Result<(), search::SearchError> {
//! use search::corpus;
//! let cases = corpus::korean_cases();
//! # let dir = std::path::Path::new("/tmp/idx");
//! let mut index = search::SearchIndex::open(dir, Default::default())?;
//! let (room, author) = (corpus::room_id(), corpus::author_id());
//! index.apply(&corpus::posted_events(&cases.messages, room, author, 1))?;
//! index.commit()?;
//! let scores = corpus::evaluate(&index.searcher(), &cases, room)?;
//! println!("recall {:.3}", corpus::overall(&scores).recall());
//! # Ok(()) }
//! ```

mod data;

use crate::error::SearchError;
use crate::searcher::{MessageSearcher, SearchRequest, MAX_LIMIT};
use chrono::{DateTime, Duration, Utc};
use domain::event::{MessagePosted, RoomEvent};
use domain::{
    DomainEvent, EventId, EventMetadata, MessageId, RoomId, StoredEvent, StreamId, StreamType,
    UserId,
};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// Namespace of the corpus's derived ids (fixed, so ids are stable).
const NAMESPACE: Uuid = Uuid::from_u128(0x3c0f_5a1e_2b4d_4f60_8a9b_0c1d_2e3f_4a5b);

/// One message of the corpus.
#[derive(Clone, Debug)]
pub struct CorpusMessage {
    /// Stable short key, such as `b001`.
    pub key: &'static str,
    /// The message text.
    pub body: &'static str,
    /// The topics it is relevant to (query tags).
    pub tags: Vec<&'static str>,
}

impl CorpusMessage {
    /// A stable message id derived from the key.
    pub fn message_id(&self) -> MessageId {
        MessageId(Uuid::new_v5(&NAMESPACE, self.key.as_bytes()))
    }
}

/// One query with its relevance judgments.
#[derive(Clone, Debug)]
pub struct CorpusQuery {
    /// The query text, as a user types it.
    pub q: &'static str,
    /// Keys of the messages it should find.
    pub expected: BTreeSet<&'static str>,
}

/// The whole corpus.
#[derive(Clone, Debug)]
pub struct KoreanCases {
    /// The messages.
    pub messages: Vec<CorpusMessage>,
    /// The queries.
    pub queries: Vec<CorpusQuery>,
}

fn split(tags: &'static str) -> Vec<&'static str> {
    tags.split(',').filter(|t| !t.is_empty()).collect()
}

/// The messages and the query table.
pub fn korean_cases() -> KoreanCases {
    let messages: Vec<CorpusMessage> = data::MESSAGES
        .iter()
        .map(|&(key, body, tags)| CorpusMessage {
            key,
            body,
            tags: split(tags),
        })
        .collect();
    let queries = data::QUERIES
        .iter()
        .map(|&(q, all, none)| {
            let (all, none) = (split(all), split(none));
            let expected = messages
                .iter()
                .filter(|m| all.iter().all(|t| m.tags.contains(t)))
                .filter(|m| !none.iter().any(|t| m.tags.contains(t)))
                .map(|m| m.key)
                .collect();
            CorpusQuery { q, expected }
        })
        .collect();
    KoreanCases { messages, queries }
}

/// The room the corpus is posted in.
pub fn room_id() -> RoomId {
    RoomId(Uuid::new_v5(&NAMESPACE, b"room"))
}

/// The author of every corpus message.
pub fn author_id() -> UserId {
    UserId(Uuid::new_v5(&NAMESPACE, b"author"))
}

/// `MessagePosted` events for the messages, one minute apart, at positions
/// `first_position`, `first_position + 1`, …, with `seq` 1, 2, ….
pub fn posted_events(
    messages: &[CorpusMessage],
    room: RoomId,
    author: UserId,
    first_position: i64,
) -> Vec<StoredEvent> {
    let start = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    messages
        .iter()
        .zip(0i64..)
        .map(|(m, i)| {
            let at = start + Duration::minutes(i);
            StoredEvent {
                position: first_position + i,
                event_id: EventId(Uuid::new_v5(
                    &NAMESPACE,
                    format!("event:{}", m.key).as_bytes(),
                )),
                stream_id: StreamId::from(room),
                stream_type: StreamType::Room,
                version: i + 2,
                metadata: EventMetadata::default(),
                recorded_at: at,
                event: DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
                    room_id: room,
                    message_id: m.message_id(),
                    seq: (i + 1) as u64,
                    author_id: author,
                    body: m.body.to_owned(),
                    reply_to: None,
                    attachments: vec![],
                    mentions: vec![],
                    at,
                })),
            }
        })
        .collect()
}

/// How one query did.
#[derive(Clone, Debug, Default)]
pub struct QueryScore {
    /// The query text.
    pub q: String,
    /// Relevant messages.
    pub expected: usize,
    /// Messages returned.
    pub returned: usize,
    /// Relevant messages returned.
    pub hits: usize,
    /// Relevant messages not returned.
    pub missed: Vec<&'static str>,
    /// Returned messages that are not relevant.
    pub unexpected: Vec<&'static str>,
}

impl QueryScore {
    /// Share of relevant messages returned (1 when none is relevant).
    pub fn recall(&self) -> f64 {
        ratio(self.hits, self.expected)
    }

    /// Share of returned messages that are relevant (1 when none returned).
    pub fn precision(&self) -> f64 {
        ratio(self.hits, self.returned)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Micro-averaged totals of several queries.
pub fn overall(scores: &[QueryScore]) -> QueryScore {
    let mut total = QueryScore {
        q: "(overall)".into(),
        ..Default::default()
    };
    for s in scores {
        total.expected += s.expected;
        total.returned += s.returned;
        total.hits += s.hits;
    }
    total
}

/// Run every query against an index holding the corpus in `room` (paging
/// through all results) and score it.
pub fn evaluate(
    searcher: &MessageSearcher,
    cases: &KoreanCases,
    room: RoomId,
) -> Result<Vec<QueryScore>, SearchError> {
    let keys: HashMap<MessageId, &'static str> = cases
        .messages
        .iter()
        .map(|m| (m.message_id(), m.key))
        .collect();
    let mut scores = Vec::new();
    for query in &cases.queries {
        let mut returned = BTreeSet::new();
        let mut req = SearchRequest {
            q: query.q.to_owned(),
            member_rooms: vec![room],
            limit: MAX_LIMIT,
            ..Default::default()
        };
        loop {
            let page = searcher.search(&req)?;
            returned.extend(
                page.hits
                    .iter()
                    .filter_map(|h| keys.get(&h.message_id).copied()),
            );
            match page.next_cursor {
                Some(c) => req.cursor = Some(c),
                None => break,
            }
        }
        scores.push(QueryScore {
            q: query.q.to_owned(),
            expected: query.expected.len(),
            returned: returned.len(),
            hits: returned.intersection(&query.expected).count(),
            missed: query.expected.difference(&returned).copied().collect(),
            unexpected: returned.difference(&query.expected).copied().collect(),
        });
    }
    Ok(scores)
}
