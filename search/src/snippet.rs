//! Snippets: the best fragment of a message (chosen by tantivy's
//! `SnippetGenerator`), matches wrapped in `<mark>…</mark>`, all text
//! HTML-escaped.
//!
//! The generator tokenizes the stored body with the highlight analyzer
//! (Hangul bigrams *and* single syllables) and marks tokens equal to the
//! query's terms. Overlapping bigram hits (회의 + 의록) merge into one mark,
//! and so do marks separated only by whitespace (주간 회의록).
//! A merged mark over Korean text is kept only if it contains one of the
//! searched forms: otherwise a query for 프로젝트 would also mark the 프로 of
//! 프로그램. We render the HTML ourselves from the fragment and the filtered
//! ranges, escaping every piece of message text.

use crate::analyzer::{self, Script};
use crate::query::Compiled;
use std::collections::BTreeMap;
use std::ops::Range;
use tantivy::schema::Field;
use tantivy::snippet::{collapse_overlapped_ranges, SnippetGenerator};

/// Longest fragment, in bytes (tantivy measures offsets in bytes): about 80
/// Hangul syllables or 240 Latin characters.
const MAX_FRAGMENT_BYTES: usize = 240;
/// Characters of the body shown when nothing can be marked.
const FALLBACK_CHARS: usize = 80;

/// Makes the snippets of one search.
pub(crate) struct Highlighter {
    generator: SnippetGenerator,
    words: Vec<String>,
}

impl Highlighter {
    /// A highlighter for the query's terms over `field`'s stored text.
    pub fn new(compiled: &Compiled, field: Field) -> Self {
        let terms: BTreeMap<String, f32> = compiled
            .highlight_terms
            .iter()
            .map(|t| (t.clone(), 1.0))
            .collect();
        Self {
            generator: SnippetGenerator::new(
                terms,
                analyzer::highlight_analyzer(),
                field,
                MAX_FRAGMENT_BYTES,
            ),
            words: compiled.highlight_words.clone(),
        }
    }

    fn keep(&self, marked: &str) -> bool {
        let runs = analyzer::runs(marked);
        if runs.iter().all(|r| r.script == Script::Word) {
            // Word tokens are only marked when their normalised form equals
            // a query term.
            return true;
        }
        let text: String = runs.iter().map(|r| r.text.as_str()).collect();
        self.words.iter().any(|w| text.contains(w.as_str()))
    }

    /// The HTML snippet of a message body.
    pub fn html(&self, body: &str) -> String {
        let snippet = self.generator.snippet(body);
        let fragment = snippet.fragment();
        if fragment.is_empty() {
            let head: String = body.chars().take(FALLBACK_CHARS).collect();
            return escape(&head);
        }
        // The fragment spans first to last token: a short message is shown
        // whole (with its punctuation), a long one marks what was cut.
        let start = body.find(fragment).unwrap_or(0);
        let end = start + fragment.len();
        let (lead, trail) = if body.len() <= MAX_FRAGMENT_BYTES {
            (escape(&body[..start]), escape(&body[end..]))
        } else {
            let cut = |cut: bool| if cut { "…".to_owned() } else { String::new() };
            (cut(start > 0), cut(end < body.len()))
        };
        let mut html = lead;
        html.reserve(fragment.len() + trail.len() + 32);
        let mut from = 0;
        for range in join_spaced(fragment, collapse_overlapped_ranges(snippet.highlighted())) {
            let Some(marked) = fragment.get(range.clone()) else {
                continue;
            };
            if range.start < from || !self.keep(marked) {
                continue;
            }
            html.push_str(&escape(&fragment[from..range.start]));
            html.push_str("<mark>");
            html.push_str(&escape(marked));
            html.push_str("</mark>");
            from = range.end;
        }
        html.push_str(&escape(&fragment[from..]));
        html.push_str(&trail);
        html
    }
}

/// Merge marks separated only by whitespace (주간 + 회의록), so a compound
/// found across a space is checked, and marked, as one.
fn join_spaced(text: &str, ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        if let Some(last) = out.last_mut() {
            let gap = text.get(last.end..r.start).unwrap_or("");
            if !gap.is_empty() && gap.chars().all(char::is_whitespace) {
                last.end = r.end;
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// Escape text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
