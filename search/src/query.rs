//! The user query language and its translation into tantivy queries.
//!
//! Syntax: words, `"quoted phrases"`, `-excluded` words and `-"excluded
//! phrases"`; every positive part must match. Nothing else is special:
//! `field:value`, `AND`, `*` are plain text (punctuation separates words like
//! anywhere else), so tantivy's own query language is never reachable.
//!
//! Translation, per word (a script run, see [`crate::analyzer`]):
//!
//! - Hangul word `w` of the query: any of `w` or its stripped stems (회의를 →
//!   회의) may match. A form of ≥ 2 syllables matches as the phrase of its
//!   bigrams in `body` (it occurs inside a Hangul run: 회의 in 주간회의록); a
//!   one-syllable form only as a whole word or stem in `body_word` (밥 in 밥을,
//!   not in 밥솥), because single syllables inside words are mostly noise.
//!   Forms of ≥ 3 syllables are matched in `body_join`, across spaces too. Exact
//!   word/stem matches in `body_word` add score, so 회의 ranks 회의는 above
//!   주간회의록.
//! - Other CJK runs: bigram phrase; Latin/digit words: their normalised term
//!   in `body_word`.
//! - A quoted phrase matches consecutive words in `body_word`, each compared by
//!   its shortest stem (so "회의 자료" finds 회의는 자료를); for an all-Korean
//!   phrase, the words written together as one compound (주간회의) match too,
//!   since Korean spacing varies.

use crate::analyzer::{self, Run, Script};
use crate::error::SearchError;
use crate::korean;
use crate::schema::Fields;
use std::collections::BTreeSet;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

/// The longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;

/// A query translated for tantivy, with what its snippets should highlight.
pub(crate) struct Compiled {
    /// The text part of the search (filters are added by the searcher).
    pub query: Box<dyn Query>,
    /// Terms (as the highlight analyzer emits them) to mark in snippets.
    pub highlight_terms: BTreeSet<String>,
    /// Hangul/CJK forms searched for; a marked range of Korean text must
    /// contain one of them, so stray bigrams (프로 of 프로그램 for 프로젝트)
    /// stay unmarked.
    pub highlight_words: Vec<String>,
}

/// One part of the query text.
struct Part {
    negated: bool,
    phrase: bool,
    atoms: Vec<Run>,
}

fn invalid(reason: &str) -> SearchError {
    SearchError::InvalidQuery(reason.to_owned())
}

/// Split the query text into parts.
fn parse(q: &str) -> Result<Vec<Part>, SearchError> {
    let len = q.chars().count();
    if len == 0 {
        return Err(invalid("query is empty"));
    }
    if len > MAX_QUERY_CHARS {
        return Err(invalid("query is longer than 256 characters"));
    }
    if q.matches('"').count() % 2 == 1 {
        return Err(invalid("unbalanced quote"));
    }
    let mut parts = Vec::new();
    let mut rest = q;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let negated = rest.starts_with('-');
        if negated {
            rest = &rest[1..];
        }
        let (text, phrase) = if let Some(inner) = rest.strip_prefix('"') {
            // The count check above guarantees the closing quote.
            let end = inner.find('"').unwrap_or(inner.len());
            let text = &inner[..end];
            rest = inner.get(end + 1..).unwrap_or("");
            (text, true)
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            let text = &rest[..end];
            rest = &rest[end..];
            (text, false)
        };
        let atoms = analyzer::runs(text);
        if !atoms.is_empty() {
            parts.push(Part {
                negated,
                phrase,
                atoms,
            });
        }
    }
    if parts.is_empty() {
        return Err(invalid("query has no searchable words"));
    }
    if parts.iter().all(|p| p.negated) {
        return Err(invalid("query has only excluded words"));
    }
    Ok(parts)
}

fn term(field: Field, text: &str) -> Term {
    Term::from_field_text(field, text)
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        term(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(q, boost))
}

/// `form` occurs inside a Hangul/CJK run: the phrase of its bigrams. Hangul
/// forms of three or more syllables are looked up in `body_join`, where they
/// also match across a space (주간회의록 in 주간 회의록).
fn bigram_query(fields: &Fields, form: &str) -> Box<dyn Query> {
    let grams = korean::bigrams(form);
    if grams.len() == 1 {
        return term_query(fields.body, &grams[0]);
    }
    let field = if form.chars().all(korean::is_syllable) {
        fields.body_join
    } else {
        fields.body
    };
    Box::new(PhraseQuery::new(
        grams.iter().map(|g| term(field, g)).collect(),
    ))
}

/// Builds one query, collecting highlight terms as it goes.
struct Builder<'a> {
    fields: &'a Fields,
    terms: BTreeSet<String>,
    words: Vec<String>,
}

impl Builder<'_> {
    fn highlight_form(&mut self, form: &str) {
        self.terms.extend(korean::bigrams(form));
        self.words.push(form.to_owned());
    }

    /// The forms a Hangul/CJK word may match as: itself and its stems.
    fn forms(atom: &Run) -> Vec<String> {
        let mut forms = vec![atom.text.clone()];
        if atom.script == Script::Hangul {
            forms.extend(
                korean::strip_chain(&atom.text)
                    .into_iter()
                    .map(str::to_owned),
            );
        }
        forms
    }

    /// One word of the query; `None` if it normalises to nothing.
    fn word(&mut self, atom: &Run, highlight: bool) -> Option<Box<dyn Query>> {
        let f = self.fields;
        if atom.script == Script::Word {
            let t = analyzer::normalize_word(&atom.text)?;
            if highlight {
                self.terms.insert(t.clone());
            }
            return Some(term_query(f.body_word, &t));
        }
        let mut subs: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, form) in Self::forms(atom).iter().enumerate() {
            // The word as typed counts most, then its stems, then substrings.
            let boost = if i == 0 { 2.0 } else { 1.5 };
            subs.push((Occur::Should, boosted(term_query(f.body_word, form), boost)));
            if form.chars().count() >= 2 {
                subs.push((Occur::Should, bigram_query(f, form)));
            }
            if highlight {
                self.highlight_form(form);
            }
        }
        Some(Box::new(BooleanQuery::new(subs)))
    }

    /// The term a word is compared with inside a phrase.
    fn phrase_term(atom: &Run) -> Option<String> {
        match atom.script {
            Script::Word => analyzer::normalize_word(&atom.text),
            Script::Hangul => Some(korean::canonical(&atom.text).to_owned()),
            Script::Cjk => Some(atom.text.clone()),
        }
    }

    fn phrase(&mut self, atoms: &[Run], highlight: bool) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let terms: Vec<String> = atoms.iter().filter_map(Self::phrase_term).collect();
        if terms.is_empty() {
            return None;
        }
        if highlight {
            for (atom, t) in atoms.iter().zip(&terms) {
                if atom.script == Script::Word {
                    self.terms.insert(t.clone());
                } else {
                    self.highlight_form(&atom.text.clone());
                    self.highlight_form(t);
                }
            }
        }
        let by_words: Box<dyn Query> = if terms.len() == 1 {
            term_query(f.body_word, &terms[0])
        } else {
            Box::new(PhraseQuery::new(
                terms.iter().map(|t| term(f.body_word, t)).collect(),
            ))
        };
        if atoms.len() < 2 || atoms.iter().any(|a| a.script == Script::Word) {
            return Some(by_words);
        }
        let compound: String = atoms.iter().map(|a| a.text.as_str()).collect();
        if highlight {
            self.highlight_form(&compound);
        }
        Some(Box::new(BooleanQuery::new(vec![
            (Occur::Should, by_words),
            (Occur::Should, bigram_query(f, &compound)),
        ])))
    }
}

/// Parse and translate a user query.
pub(crate) fn compile(fields: &Fields, q: &str) -> Result<Compiled, SearchError> {
    let parts = parse(q)?;
    let mut b = Builder {
        fields,
        terms: BTreeSet::new(),
        words: Vec::new(),
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for part in &parts {
        let occur = if part.negated {
            Occur::MustNot
        } else {
            Occur::Must
        };
        let highlight = !part.negated;
        if part.phrase || (part.negated && part.atoms.len() > 1) {
            // A negated compound word (-e-mail) excludes exactly that sequence.
            if let Some(q) = b.phrase(&part.atoms, highlight) {
                clauses.push((occur, q));
            }
        } else {
            for atom in &part.atoms {
                if let Some(q) = b.word(atom, highlight) {
                    clauses.push((occur, q));
                }
            }
        }
    }
    if !clauses.iter().any(|(o, _)| *o == Occur::Must) {
        return Err(invalid("query has no searchable words"));
    }
    Ok(Compiled {
        query: Box::new(BooleanQuery::new(clauses)),
        highlight_terms: b.terms,
        highlight_words: b.words,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(q: &str) -> Option<String> {
        match parse(q) {
            Err(SearchError::InvalidQuery(r)) => Some(r),
            _ => None,
        }
    }

    #[test]
    fn rejects_what_it_cannot_search() {
        assert!(reason("").is_some());
        assert!(reason("   ").is_some());
        assert!(reason("\"회의 자료").is_some());
        assert!(reason("-회의 -서버").is_some());
        assert!(reason("!!! ??").is_some());
        assert!(reason(&"가".repeat(257)).is_some());
        assert!(reason(&"가".repeat(256)).is_none());
    }

    #[test]
    fn splits_words_phrases_and_exclusions() {
        let parts = parse(r#"회의 -"주간 보고" -서버 title:foo* "a b""#).unwrap();
        let summary: Vec<(bool, bool, Vec<String>)> = parts
            .iter()
            .map(|p| {
                (
                    p.negated,
                    p.phrase,
                    p.atoms.iter().map(|a| a.text.clone()).collect(),
                )
            })
            .collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            summary,
            vec![
                (false, false, s(&["회의"])),
                (true, true, s(&["주간", "보고"])),
                (true, false, s(&["서버"])),
                (false, false, s(&["title", "foo"])),
                (false, true, s(&["a", "b"])),
            ]
        );
    }
}
