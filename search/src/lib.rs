//! Message search for cotalk: a tantivy index fed by the event log, with an
//! offline Korean + English analyzer, permission filtering inside the query,
//! stable cursor pagination and HTML-safe snippets.
//!
//! - [`analyzer`]: the `cotalk_word`, `cotalk_bigram` and `cotalk_join`
//!   analyzers (script runs, Hangul particle stripping, syllable bigrams,
//!   bigrams across spaces, English stemming) and their trade-offs.
//! - `segment` (private): text into script runs, NFD Hangul composed.
//! - `korean` (private): Hangul syllable helpers and the particle/ending list.
//! - [`schema`]: fields of the index and how a message is stored.
//! - [`index`]: [`SearchIndex`], the writer: applies events, commits with the
//!   checkpoint in the commit payload, digests the content.
//! - [`query`]: the user query syntax (words, "phrases", -exclusions,
//!   operators) and its translation to tantivy queries.
//! - [`operators`]: `from:`, `in:`, `has:`, `mentions:`, `before:`,
//!   `after:`, `on:` and the time zone of days.
//! - `filters` (private): request parameters, operators, hidden and blocked
//!   as clauses of the query.
//! - `links` (private): what `has:link` counts as a link.
//! - [`searcher`]: [`MessageSearcher`] and the request/response types.
//! - `room_docs` (private): the caller's readable documents, the permission
//!   filter and the population of the statistics.
//! - `stats` (private): BM25 statistics over the caller's rooms only.
//! - `collector` (private): top-k with search-after, for cursors.
//! - `snippet` (private): `<mark>` snippets, HTML-escaped.
//! - [`corpus`]: the Korean/mixed evaluation corpus with relevance judgments,
//!   shared by the tests and `cotalk bench search`.
//! - [`error`]: the crate error, [`SearchError`].

pub mod analyzer;
mod collector;
pub mod corpus;
pub mod error;
mod filters;
pub mod index;
mod korean;
mod links;
pub mod operators;
pub mod query;
mod room_docs;
pub mod schema;
pub mod searcher;
mod segment;
mod snippet;
mod stats;

pub use chrono_tz::Tz;
pub use collector::SortOrder;
pub use error::SearchError;
pub use index::{IndexOptions, SearchIndex};
pub use searcher::{MessageSearcher, SearchHit, SearchPage, SearchRequest};
