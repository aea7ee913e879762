//! The bodies of the fuzz targets, shared by `cargo fuzz` (fuzz/fuzz_targets)
//! and the ordinary test suite (tests/fuzz_smoke.rs includes this file), so
//! the seed corpus and random inputs are replayed on stable under `make test`
//! and the same code is fuzzed for real under nightly in `make chaos`.
//!
//! Each function takes arbitrary bytes and panics only when it finds a bug:
//! a panic inside the code under test, or a broken invariant.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use domain::event::{DomainEvent, MessagePosted, RoomEvent, StreamType, EVENT_TYPES};
use domain::{EventId, EventMetadata, MessageId, RoomId, StoredEvent, StreamId, UserId};
use search::{IndexOptions, SearchIndex, SearchRequest, SortOrder};
use std::sync::OnceLock;
use uuid::Uuid;

/// The room every indexed message is in (and the searcher's only room).
const ROOM: u128 = 0xF0;

/// Messages the query parser's index holds, so that searches have hits and
/// the snippet code runs: Korean with particles and compounds, English,
/// mixed scripts, markup that must be escaped.
const BODIES: &[&str] = &[
    "회의는 3시에 시작합니다",
    "주간회의록 자료를 올렸어요",
    "밥을 먹었다 밥솥",
    "the quick brown fox jumps over the lazy dog",
    "Release v2.0: \"quoted\" & <b>bold</b> -minus",
    "프로젝트 프로그램 meeting notes 회의",
    "日本語と中文 mixed 한국어 text",
    "emoji 🎉 and combining e\u{301} marks",
];

fn indexed() -> &'static SearchIndex {
    static INDEX: OnceLock<SearchIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cotalk-fuzz-index-{}", std::process::id()));
        // A leftover of an earlier process with the same id is not ours to trust.
        let _ = std::fs::remove_dir_all(&dir);
        let mut index = SearchIndex::open(&dir, IndexOptions::default())
            .unwrap_or_else(|e| panic!("open the fuzz index in {}: {e}", dir.display()));
        let room = RoomId(Uuid::from_u128(ROOM));
        let events: Vec<StoredEvent> = BODIES
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let n = i as u64 + 1;
                let at = Utc.timestamp_opt(1_790_000_000 + n as i64, 0).unwrap();
                StoredEvent {
                    position: n as i64,
                    event_id: EventId(Uuid::from_u128(0x1000 + n as u128)),
                    stream_id: StreamId::from(room),
                    stream_type: StreamType::Room,
                    version: n as i64,
                    metadata: EventMetadata::default(),
                    recorded_at: at,
                    event: DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
                        room_id: room,
                        message_id: MessageId(Uuid::from_u128(0x2000 + n as u128)),
                        seq: n,
                        author_id: UserId(Uuid::from_u128(0x3000 + (n % 2) as u128)),
                        body: (*body).to_owned(),
                        reply_to: None,
                        attachments: vec![],
                        mentions: vec![],
                        at,
                    })),
                }
            })
            .collect();
        index.apply(&events).expect("index the fuzz messages");
        index.commit().expect("commit the fuzz messages");
        index
    })
}

/// The search query parser (and cursor decoding) on arbitrary input.
///
/// Layout: byte 0 picks the sort order, whether a cursor is sent and the page
/// size; the rest is text, split at the first `\n` into the query and the
/// cursor's decoded text (base64-encoded here, so the fuzzer explores the
/// cursor's structure rather than base64). Every search must answer `Ok` or a
/// `SearchError`, never panic, and never return more hits than asked for.
pub fn query_parser(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (q, cursor) = match text.split_once('\n') {
        Some((q, c)) if flags & 2 != 0 => (q.to_owned(), Some(URL_SAFE_NO_PAD.encode(c))),
        _ => (text.into_owned(), None),
    };
    let limit = 1 + usize::from(flags >> 4);
    let req = SearchRequest {
        q,
        member_rooms: vec![RoomId(Uuid::from_u128(ROOM))],
        limit,
        cursor,
        sort: if flags & 1 == 0 {
            SortOrder::Relevance
        } else {
            SortOrder::Recent
        },
        ..Default::default()
    };
    if let Ok(page) = indexed().searcher().search(&req) {
        assert!(
            page.hits.len() <= limit,
            "{} hits for limit {limit}",
            page.hits.len()
        );
        for hit in &page.hits {
            assert_eq!(hit.room_id.0, Uuid::from_u128(ROOM));
            let bare = hit.snippet.replace("<mark>", "").replace("</mark>", "");
            assert!(
                !bare.contains(['<', '>']),
                "unescaped markup in the snippet {:?}",
                hit.snippet
            );
        }
    }
}

/// Event payload decoding and upcasting on arbitrary input.
///
/// Layout: byte 0 picks the event type (one of [`EVENT_TYPES`], or an unknown
/// one), byte 1 the schema version (0 to current + 1); the rest is the
/// payload's JSON text. Decoding must not panic; the two decoders (from text
/// and from a parsed value) must agree; and a decoded event must report the
/// type it was decoded as, and round-trip through its own type, version and
/// payload.
pub fn event_decode(data: &[u8]) {
    let [t, v, rest @ ..] = data else {
        return;
    };
    let (event_type, version) = match EVENT_TYPES.get(usize::from(*t) % (EVENT_TYPES.len() + 1)) {
        Some((name, current)) => (*name, u16::from(*v) % (current + 2)),
        None => ("room.not_an_event", u16::from(*v)),
    };
    let Ok(json) = std::str::from_utf8(rest) else {
        return;
    };
    let from_text = DomainEvent::decode_json(event_type, version, json);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
        let from_value = DomainEvent::decode(event_type, version, value.clone());
        if let Ok(a) = &from_text {
            assert_eq!(
                Some(a),
                from_value.as_ref().ok(),
                "the decoders disagree on {json:?}"
            );
        }
        // The same document written once more without repeated keys (a
        // `Value` keeps the last of them, typed decoding refuses them; stored
        // payloads come out of Postgres `jsonb`, which has none): now the
        // decoders must agree on success and failure alike.
        let canonical = value.to_string();
        let again = DomainEvent::decode_json(event_type, version, &canonical);
        assert_eq!(
            again.ok(),
            from_value.ok(),
            "the decoders disagree on {canonical:?}"
        );
    }
    if let Ok(event) = from_text {
        assert_eq!(event.event_type(), event_type);
        let again =
            DomainEvent::decode(event.event_type(), event.schema_version(), event.payload())
                .unwrap_or_else(|e| panic!("{event:?} does not decode from its own payload: {e}"));
        assert_eq!(again, event);
    }
}
