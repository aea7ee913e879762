//! Segmentation: text into runs of one script (Hangul, other CJK, words),
//! the first step of every analyzer and of query parsing. Decomposed (NFD)
//! Hangul jamo are composed into syllables here.

use crate::korean;
use std::ops::Range;

/// The script class of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Script {
    /// Hangul syllables: bigrams, particle stripping.
    Hangul,
    /// Han and kana: bigrams only.
    Cjk,
    /// Letters and digits of other scripts: one normalised token.
    Word,
}

/// A maximal run of one script.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub script: Script,
    /// The run's characters (Hangul composed to syllables).
    pub text: String,
    /// The byte range in the source text of each character of `text`.
    pub units: Vec<Range<usize>>,
}

impl Run {
    /// Source byte range of characters `from..to` of the run.
    pub(crate) fn span(&self, from: usize, to: usize) -> (usize, usize) {
        (self.units[from].start, self.units[to - 1].end)
    }
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

/// Split text into script runs (see the module doc).
pub(crate) fn runs(text: &str) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let mut end = i + c.len_utf8();
        let (script, unit) = if korean::is_syllable(c) {
            (Some(Script::Hangul), c)
        } else if let Some(composed) = compose_at(c, &mut chars, &mut end) {
            (Some(Script::Hangul), composed)
        } else if is_cjk(c) {
            (Some(Script::Cjk), c)
        } else if c.is_alphanumeric() {
            (Some(Script::Word), c)
        } else {
            (None, c)
        };
        // Separators are not units, so a run only continues across adjacent
        // characters of the same script.
        let Some(script) = script else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.script == script && last.units.last().map(|u| u.end) == Some(i) => {
                last.text.push(unit);
                last.units.push(i..end);
            }
            _ => out.push(Run {
                script,
                text: unit.to_string(),
                units: std::iter::once(i..end).collect(),
            }),
        }
    }
    out
}

/// If `l` starts a decomposed syllable (leading consonant + vowel, optional
/// trailing consonant), consume it and return the composed syllable.
fn compose_at(
    l: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    end: &mut usize,
) -> Option<char> {
    let &(vi, v) = chars.peek()?;
    korean::compose(l, v, None)?;
    chars.next();
    *end = vi + v.len_utf8();
    let t = match chars.peek() {
        Some(&(ti, t)) if korean::is_trailing_jamo(t) => {
            chars.next();
            *end = ti + t.len_utf8();
            Some(t)
        }
        _ => None,
    };
    korean::compose(l, v, t)
}
