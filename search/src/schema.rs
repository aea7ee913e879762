//! The index schema: one document per live (not deleted) message.
//!
//! | field        | type | options | why |
//! |--------------|------|---------|-----|
//! | `message_id` | raw string | indexed, stored | key for edit/delete (`delete_term`) and hits |
//! | `mid_hi`, `mid_lo` | u64 | fast | the message id as two numbers: the last tie-break of the sort and of cursors |
//! | `room_id`    | raw string | indexed, stored, fast | permission filter (term set of the caller's rooms) |
//! | `author_id`  | raw string | indexed, stored | author filter |
//! | `seq`        | u64 | stored, fast | hits link to the message in its room |
//! | `created_at` | i64 µs since the epoch | indexed, stored, fast | time filters, `recent` sort, tie-break; microseconds because Postgres keeps microseconds |
//! | `body`       | text, `cotalk_bigram` | positions, stored | substring-like Korean matching; snippets come from the stored text |
//! | `body_word`  | text, `cotalk_word` | positions | whole words and stems, phrases, one-syllable queries |
//! | `body_join`  | text, `cotalk_join` | positions | Hangul forms of ≥ 3 syllables, whatever the spacing |
//! | `mentions`   | raw strings | indexed, stored | `mentions:me` |
//! | `has`        | raw strings `file`, `image`, `link` | indexed, stored | `has:` (file and image from the attachments, link from the current text) |
//! | `hidden_by`  | raw strings | indexed, stored | users who hid the message for themselves: their searches exclude it |
//!
//! [`VERSION`] names this layout; an index directory holds one version (see
//! the projector's `index_dir`), so a build with another layout rebuilds its
//! index from the log instead of misreading an old one.

use crate::analyzer::{BIGRAM_ANALYZER, JOIN_ANALYZER, WORD_ANALYZER};
use crate::error::SearchError;
use crate::operators::Has;
use domain::{MessageId, RoomId, UserId};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::TantivyDocument;

/// The version of this schema; bump it with any change to the fields or to
/// what they hold.
pub const VERSION: u32 = 2;

/// Field names, shared by the schema and the fast-field readers.
pub mod names {
    /// Message id, hyphenated UUID.
    pub const MESSAGE_ID: &str = "message_id";
    /// High 64 bits of the message id.
    pub const MID_HI: &str = "mid_hi";
    /// Low 64 bits of the message id.
    pub const MID_LO: &str = "mid_lo";
    /// Room id, hyphenated UUID.
    pub const ROOM_ID: &str = "room_id";
    /// Author id, hyphenated UUID.
    pub const AUTHOR_ID: &str = "author_id";
    /// Per-room sequence number.
    pub const SEQ: &str = "seq";
    /// Time the message was posted, microseconds since the Unix epoch.
    pub const CREATED_AT: &str = "created_at";
    /// Message text, bigram-analysed and stored.
    pub const BODY: &str = "body";
    /// Message text, word-analysed.
    pub const BODY_WORD: &str = "body_word";
    /// Message text, Hangul bigrams across spaces.
    pub const BODY_JOIN: &str = "body_join";
    /// Users mentioned, hyphenated UUIDs.
    pub const MENTIONS: &str = "mentions";
    /// `file`, `image`, `link`: what the message has.
    pub const HAS: &str = "has";
    /// Users who hid the message for themselves, hyphenated UUIDs.
    pub const HIDDEN_BY: &str = "hidden_by";
}

/// Handles of every field of [`build`]'s schema.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// See [`names::MESSAGE_ID`].
    pub message_id: Field,
    /// See [`names::MID_HI`].
    pub mid_hi: Field,
    /// See [`names::MID_LO`].
    pub mid_lo: Field,
    /// See [`names::ROOM_ID`].
    pub room_id: Field,
    /// See [`names::AUTHOR_ID`].
    pub author_id: Field,
    /// See [`names::SEQ`].
    pub seq: Field,
    /// See [`names::CREATED_AT`].
    pub created_at: Field,
    /// See [`names::BODY`].
    pub body: Field,
    /// See [`names::BODY_WORD`].
    pub body_word: Field,
    /// See [`names::BODY_JOIN`].
    pub body_join: Field,
    /// See [`names::MENTIONS`].
    pub mentions: Field,
    /// See [`names::HAS`].
    pub has: Field,
    /// See [`names::HIDDEN_BY`].
    pub hidden_by: Field,
}

fn text(analyzer: &str, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(analyzer)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

/// The schema and its field handles.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        message_id: b.add_text_field(names::MESSAGE_ID, STRING | STORED),
        mid_hi: b.add_u64_field(names::MID_HI, FAST),
        mid_lo: b.add_u64_field(names::MID_LO, FAST),
        room_id: b.add_text_field(names::ROOM_ID, STRING | STORED | FAST),
        author_id: b.add_text_field(names::AUTHOR_ID, STRING | STORED),
        seq: b.add_u64_field(names::SEQ, NumericOptions::default() | STORED | FAST),
        created_at: b.add_i64_field(names::CREATED_AT, INDEXED | STORED | FAST),
        body: b.add_text_field(names::BODY, text(BIGRAM_ANALYZER, true)),
        body_word: b.add_text_field(names::BODY_WORD, text(WORD_ANALYZER, false)),
        body_join: b.add_text_field(names::BODY_JOIN, text(JOIN_ANALYZER, false)),
        mentions: b.add_text_field(names::MENTIONS, STRING | STORED),
        has: b.add_text_field(names::HAS, STRING | STORED),
        hidden_by: b.add_text_field(names::HIDDEN_BY, STRING | STORED),
    };
    (b.build(), fields)
}

/// One indexed message, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredMessage {
    pub message_id: MessageId,
    pub room_id: RoomId,
    pub author_id: UserId,
    pub seq: u64,
    pub created_at_us: i64,
    pub body: String,
    /// Mentioned users, as posted.
    pub mentions: Vec<UserId>,
    /// The message has an attachment.
    pub has_file: bool,
    /// The message has an image attachment.
    pub has_image: bool,
    /// Users who hid it, ascending, each once.
    pub hidden_by: Vec<UserId>,
}

impl Fields {
    /// The tantivy document of a message.
    pub(crate) fn encode(&self, m: &StoredMessage) -> TantivyDocument {
        let (hi, lo) = split_id(m.message_id);
        let mut doc = TantivyDocument::default();
        doc.add_text(self.message_id, m.message_id.to_string());
        doc.add_u64(self.mid_hi, hi);
        doc.add_u64(self.mid_lo, lo);
        doc.add_text(self.room_id, m.room_id.to_string());
        doc.add_text(self.author_id, m.author_id.to_string());
        doc.add_u64(self.seq, m.seq);
        doc.add_i64(self.created_at, m.created_at_us);
        doc.add_text(self.body, &m.body);
        doc.add_text(self.body_word, &m.body);
        doc.add_text(self.body_join, &m.body);
        for user in &m.mentions {
            doc.add_text(self.mentions, user.to_string());
        }
        let has = [
            (m.has_file, Has::File),
            (m.has_image, Has::Image),
            (crate::links::has_link(&m.body), Has::Link),
        ];
        for (_, what) in has.iter().filter(|(yes, _)| *yes) {
            doc.add_text(self.has, what.term());
        }
        for user in &m.hidden_by {
            doc.add_text(self.hidden_by, user.to_string());
        }
        doc
    }

    /// Read a stored document back.
    pub(crate) fn decode(&self, doc: &TantivyDocument) -> Result<StoredMessage, SearchError> {
        let text = |field: Field, name: &str| -> Result<String, SearchError> {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| SearchError::Corrupt(format!("document without {name}")))
        };
        let uuid = |field: Field, name: &str| -> Result<uuid::Uuid, SearchError> {
            let s = text(field, name)?;
            uuid::Uuid::parse_str(&s).map_err(|_| SearchError::Corrupt(format!("bad {name} {s:?}")))
        };
        let users = |field: Field, name: &str| -> Result<Vec<UserId>, SearchError> {
            doc.get_all(field)
                .map(|v| {
                    let s = v.as_str().unwrap_or_default();
                    uuid::Uuid::parse_str(s)
                        .map(UserId)
                        .map_err(|_| SearchError::Corrupt(format!("bad {name} {s:?}")))
                })
                .collect()
        };
        let has = |what: Has| {
            doc.get_all(self.has)
                .any(|v| v.as_str() == Some(what.term()))
        };
        Ok(StoredMessage {
            message_id: MessageId(uuid(self.message_id, names::MESSAGE_ID)?),
            room_id: RoomId(uuid(self.room_id, names::ROOM_ID)?),
            author_id: UserId(uuid(self.author_id, names::AUTHOR_ID)?),
            seq: doc
                .get_first(self.seq)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| SearchError::Corrupt("document without seq".into()))?,
            created_at_us: doc
                .get_first(self.created_at)
                .and_then(|v| v.as_i64())
                .ok_or_else(|| SearchError::Corrupt("document without created_at".into()))?,
            body: text(self.body, names::BODY)?,
            mentions: users(self.mentions, names::MENTIONS)?,
            has_file: has(Has::File),
            has_image: has(Has::Image),
            hidden_by: users(self.hidden_by, names::HIDDEN_BY)?,
        })
    }
}

/// A message id as (high, low) 64-bit halves; their order is the UUID's order
/// (time order for UUIDv7).
pub(crate) fn split_id(id: MessageId) -> (u64, u64) {
    let v = id.0.as_u128();
    ((v >> 64) as u64, v as u64)
}

/// The inverse of [`split_id`].
pub(crate) fn join_id(hi: u64, lo: u64) -> MessageId {
    MessageId(uuid::Uuid::from_u128(
        (u128::from(hi) << 64) | u128::from(lo),
    ))
}
