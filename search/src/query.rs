//! The user query language and its translation into tantivy queries.
//!
//! Syntax: words, `"quoted phrases"`, `-excluded` words and `-"excluded
//! phrases"`, and operators (`from:alice`, `has:image`…, see
//! [`crate::operators`]); every positive part must match. A query may be
//! operators only (then it needs no word). Nothing else is special: `AND`,
//! `*` are plain text (punctuation separates words like anywhere else), so
//! tantivy's own query language is never reachable.
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
use crate::operators::{self, Author, Operator};
use crate::schema::Fields;
use std::collections::BTreeSet;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

/// The longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;

/// A query translated for tantivy, with what its snippets should highlight.
pub(crate) struct Compiled {
    /// The text part of the search (filters are added by the searcher);
    /// `None` when the query is operators only.
    pub query: Option<Box<dyn Query>>,
    /// The operators, in the order written.
    pub operators: Vec<Operator>,
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

/// A query split into its text parts and its operators.
struct Parsed {
    parts: Vec<Part>,
    operators: Vec<Operator>,
}

/// Split the query text into parts and operators.
fn parse(q: &str) -> Result<Parsed, SearchError> {
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
    let mut ops = Vec::new();
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
            if let Some((name, value)) = operators::split(text) {
                if negated {
                    return Err(SearchError::InvalidOperator {
                        operator: format!("{}:", name.to_ascii_lowercase()),
                        reason: "cannot be excluded (only words and phrases can)".into(),
                    });
                }
                ops.push(operators::parse(name, value)?);
                continue;
            }
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
    if ops.is_empty() {
        if parts.is_empty() {
            return Err(invalid("query has no searchable words"));
        }
        if parts.iter().all(|p| p.negated) {
            return Err(invalid("query has only excluded words"));
        }
    }
    Ok(Parsed {
        parts,
        operators: ops,
    })
}

/// The usernames a query's `from:` operators name (lowercased, without `@`),
/// for the caller to resolve into user ids before searching
/// ([`crate::SearchRequest::usernames`]). Fails like the search would on
/// a query it cannot parse.
pub fn usernames(q: &str) -> Result<Vec<String>, SearchError> {
    let mut names: Vec<String> = parse(q)?
        .operators
        .into_iter()
        .filter_map(|op| match op {
            Operator::From(Author::Username(name)) => Some(name),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
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
    let Parsed { parts, operators } = parse(q)?;
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
    let has_words = clauses.iter().any(|(o, _)| *o == Occur::Must);
    if !has_words && operators.is_empty() {
        return Err(invalid("query has no searchable words"));
    }
    // With operators only, the searcher's required filters select the
    // documents; exclusions still apply.
    let query: Option<Box<dyn Query>> = if clauses.is_empty() {
        None
    } else if has_words {
        Some(Box::new(BooleanQuery::new(clauses)))
    } else {
        Some(Box::new(BooleanQuery::new(
            clauses
                .into_iter()
                .chain([(
                    Occur::Must,
                    Box::new(tantivy::query::AllQuery) as Box<dyn Query>,
                )])
                .collect(),
        )))
    };
    Ok(Compiled {
        query,
        operators,
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

    fn operator(q: &str) -> Option<String> {
        match parse(q) {
            Err(SearchError::InvalidOperator { operator, .. }) => Some(operator),
            _ => None,
        }
    }

    #[test]
    fn operators_beside_words_or_alone() {
        let p = parse("회의 from:alice -서버 has:image").unwrap();
        assert_eq!(p.parts.len(), 2);
        assert_eq!(
            p.operators,
            vec![
                Operator::From(Author::Username("alice".into())),
                Operator::Has(operators::Has::Image)
            ]
        );
        assert!(parse("has:link").unwrap().parts.is_empty());
        assert!(parse("from:alice -lunch").is_ok());
        assert!(parse("on:2026-01-01 !!!").is_ok());
        // Quoted, a would-be operator is text.
        let p = parse("\"title:foo\"").unwrap();
        assert!(p.operators.is_empty());
        assert_eq!(p.parts.len(), 1);
        // Links and times stay text.
        assert!(parse("https://example.com 12:30")
            .unwrap()
            .operators
            .is_empty());
    }

    #[test]
    fn bad_operators_are_named() {
        assert_eq!(operator("회의 has:video"), Some("has:".into()));
        assert_eq!(operator("-from:alice 회의"), Some("from:".into()));
        assert_eq!(operator("title:foo"), Some("title:".into()));
        assert_eq!(operator("on:tomorrow"), Some("on:".into()));
        assert_eq!(operator("in:"), Some("in:".into()));
    }

    #[test]
    fn usernames_of_from_operators() {
        assert_eq!(
            usernames("from:bob 회의 from:@alice from:me from:bob").unwrap(),
            vec!["alice".to_owned(), "bob".to_owned()]
        );
        assert!(usernames("has:nothing").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(q in "\\PC{0,300}") {
            let _ = parse(&q);
            let _ = usernames(&q);
        }

        #[test]
        fn operator_like_words_never_panic(
            name in "[a-zA-Z]{1,10}",
            value in "[ -~가-힣]{0,20}",
            words in "[ a-z가-힣\"-]{0,20}",
        ) {
            let _ = parse(&format!("{words} {name}:{value} {words}"));
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
        let parts = parse(r#"회의 -"주간 보고" -서버 title_foo* "a b""#)
            .unwrap()
            .parts;
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
