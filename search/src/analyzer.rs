//! The offline Korean + English analyzers.
//!
//! No Korean dictionary can be downloaded or built here (lindera's ko-dic
//! build needs the network), so the analyzer combines three dictionary-free
//! techniques, each in its own field:
//!
//! - **Segmentation.** Text is cut into runs of one script: Hangul syllables,
//!   other CJK characters (Han, kana), and "words" (letters and digits of any
//!   other script). Everything else separates runs, and a script change does
//!   too: `API서버` is `API` + `서버`, `3시에` is `3` + `시에`. Decomposed (NFD)
//!   jamo are composed into syllables first, so text from platforms that send
//!   NFD matches text typed elsewhere.
//! - **`cotalk_word`** (field `body_word`): one position per run. A Hangul run
//!   emits the whole word and, at the *same* position, each stem left by
//!   stripping trailing particles/endings (회의에서 → 회의; 팀장님께서 → 팀장님 →
//!   팀장; see `korean.rs` for the list and its phonological checks). Word runs
//!   are lowercased, ASCII-folded (café → cafe) and Porter-stemmed (deployed →
//!   deploy); digits are kept. This field serves single-syllable queries (밥
//!   finds 밥은, 밥을), quoted phrases (word positions are consecutive, and a
//!   stem shares its word's position, so "회의 자료" finds 회의는 자료를), and
//!   ranks whole-word matches above matches inside compounds.
//! - **`cotalk_bigram`** (field `body`): overlapping syllable bigrams of each
//!   Hangul/CJK run at consecutive positions (a one-syllable run is kept as a
//!   unigram), as Elasticsearch's `cjk_bigram` does; word runs as above. A
//!   query word of n ≥ 2 syllables becomes the phrase of its n−1 bigrams, which
//!   is exactly "this string occurs inside a Hangul run": 회의 finds 회의는,
//!   회의를, 주간회의록 and 회의실, with or without spaces.
//! - **`cotalk_join`** (field `body_join`): Hangul bigrams as in
//!   `cotalk_bigram`, plus the bigram across a space between two Hangul words
//!   (주간 회의록 → 주간, 간회, 회의, 의록); other runs are left out. Korean
//!   spacing is inconsistent (주간회의록 / 주간 회의록), so query forms of three
//!   or more syllables are matched here and find both spellings. Two-syllable
//!   forms stay in `body`: a cross-space bigram such as 서버 in "집에서 버스"
//!   would be far too common.
//!
//! The query side (see `query.rs`) uses the same segmentation and stripping:
//! a query word matches if its whole form or any of its stems occurs as a
//! bigram phrase (n ≥ 2 syllables) or as a word/stem (1 syllable), and all
//! query words must match.
//!
//! Trade-offs, measured by the corpus test (`search::corpus`):
//!
//! - **Precision cost of bigrams.** Substring matching also hits homographs and
//!   unrelated words containing the query: 회의 matches 회의적 (sceptical),
//!   일정 matches 일정하게 (evenly). Whole-word matches score higher, so these
//!   sink, but they are returned.
//! - **Cross-space bigrams** (three or more syllables only) can join two
//!   unrelated words: 보고서 matches "영화 보고 서점".
//! - **Single-syllable queries** only match whole words or stripped stems, not
//!   syllables inside compounds (밥 does not find 점심밥), and a stem is missed
//!   when the particle needs a two-syllable stem (밥도).
//! - **No morphology.** Irregular conjugations (듣다 → 들어요, 돕다 → 도와요)
//!   and contracted forms (회읩니다) are not reduced; stripping is a list, so a
//!   rare ending stays attached (bigrams still find its stem inside it).
//! - **Stemming is English only**: irregular forms (met, went) do not meet
//!   their lemma, and conflation adds noise (meet ~ meeting).

use crate::korean;
pub(crate) use crate::segment::{runs, Run, Script};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, Stemmer, TextAnalyzer, Token,
    TokenStream, Tokenizer, TokenizerManager,
};

/// Name of the word-level analyzer (whole words + stripped stems).
pub const WORD_ANALYZER: &str = "cotalk_word";
/// Name of the bigram analyzer (Hangul/CJK bigrams + normalised words).
pub const BIGRAM_ANALYZER: &str = "cotalk_bigram";
/// Name of the joined-Hangul bigram analyzer (bigrams across spaces too).
pub const JOIN_ANALYZER: &str = "cotalk_join";

/// Tokens of this many bytes or more (URLs, pasted blobs) are dropped.
const MAX_TOKEN_BYTES: usize = 255;

/// Register both analyzers with an index's tokenizer manager. Tokenizers are
/// not stored in the index, so this runs on every open.
pub fn register(manager: &TokenizerManager) {
    manager.register(WORD_ANALYZER, word_analyzer());
    manager.register(BIGRAM_ANALYZER, bigram_analyzer());
    manager.register(JOIN_ANALYZER, join_analyzer());
}

/// The `cotalk_word` analyzer.
pub fn word_analyzer() -> TextAnalyzer {
    analyzer(Mode::Word)
}

/// The `cotalk_bigram` analyzer.
pub fn bigram_analyzer() -> TextAnalyzer {
    analyzer(Mode::Bigram)
}

/// The `cotalk_join` analyzer.
pub fn join_analyzer() -> TextAnalyzer {
    analyzer(Mode::Join)
}

/// The analyzer snippets are highlighted with: bigrams and single syllables of
/// Hangul/CJK runs, so both bigram and one-syllable query terms can be found.
pub(crate) fn highlight_analyzer() -> TextAnalyzer {
    analyzer(Mode::Highlight)
}

fn analyzer(mode: Mode) -> TextAnalyzer {
    TextAnalyzer::from(CotalkTokenizer {
        mode,
        words: word_normalizer(),
        standard_words: true,
    })
}

/// Lowercasing, ASCII folding and English stemming, applied to the tokens of
/// word runs only. Hangul and other CJK tokens have no case, no letter that
/// folds and no ASCII suffix to stem, so these filters left them as they were
/// (a test checks every such character); the tokenizer no longer runs them on
/// the bigrams, which are most tokens of Korean text.
fn word_normalizer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Normalise one word run (lowercase, fold, stem) exactly as the analyzers do.
pub(crate) fn normalize_word(word: &str) -> Option<String> {
    let mut a = word_analyzer();
    let mut stream = a.token_stream(word);
    stream.next().map(|t| t.text.clone())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Word,
    Bigram,
    Join,
    Highlight,
}

/// The tokenizer behind the analyzers. Tokens of [`MAX_TOKEN_BYTES`] or
/// more before normalising are dropped (their positions stay taken), as
/// tantivy's `RemoveLongFilter` ahead of the normalising filters did.
#[derive(Clone)]
struct CotalkTokenizer {
    mode: Mode,
    /// Normalises the tokens of word runs.
    words: TextAnalyzer,
    /// Whether `words` is [`word_normalizer`], whose results the analyzers
    /// share through [`Analysis`]; another normaliser's are its own.
    standard_words: bool,
}

/// Tokens computed up front: runs need look-ahead (jamo composition, stems).
struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
    /// Returned by `token()` before the first `advance()`.
    empty: Token,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        self.next
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .unwrap_or(&self.empty)
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.empty,
        }
    }
}

impl Tokenizer for CotalkTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut analysis = Analysis::of(text);
        let own;
        let words: &[Option<String>] = match self.mode {
            // The join field has no word runs.
            Mode::Join => &[],
            _ if self.standard_words => {
                if analysis.words.is_empty() {
                    analysis.words = normalized(&analysis.runs, &mut self.words);
                }
                &analysis.words
            }
            _ => {
                own = normalized(&analysis.runs, &mut self.words);
                &own
            }
        };
        let runs = &analysis.runs;
        // About one token per character and run, the most the indexed
        // fields emit but for a word's stems: no regrowth while pushing.
        let mut tokens = Vec::with_capacity(runs.iter().map(|r| r.units.len() + 1).sum());
        let mut position = 0;
        for (i, run) in runs.iter().enumerate() {
            if self.mode == Mode::Join && i > 0 {
                join_bigram(text, &runs[i - 1], run, &mut position, &mut tokens);
            }
            let word = words.get(i).and_then(Option::as_deref);
            emit_run(self.mode, run, word, &mut position, &mut tokens);
        }
        analysis.keep();
        VecTokenStream {
            tokens,
            next: 0,
            empty: Token::default(),
        }
    }
}

/// A text's runs and the normalised form of its word runs, kept for the
/// next analysis of the same text in the thread. tantivy analyses each
/// message body three times (`body`, `body_word`, `body_join`), one field
/// after the other in one indexing thread; the segmentation and the English
/// stems are the same each time (issue 20: they were over half of the
/// analyzers' CPU, computed thrice and twice).
#[derive(Default)]
struct Analysis {
    text: String,
    runs: Vec<Run>,
    /// Per run, a word run's normalised text by [`word_normalizer`]
    /// (`None` for other runs and for words the normaliser dropped); empty
    /// until an analyzer that needs them computes them.
    words: Vec<Option<String>>,
}

thread_local! {
    /// The thread's last analysis. Taken while in use, so a nested analysis
    /// (none today) would compute its own rather than share a borrow.
    static LAST: std::cell::Cell<Option<Box<Analysis>>> = const { std::cell::Cell::new(None) };
}

/// Texts longer than this are analysed without being kept (a message body
/// is far shorter; this only bounds what a thread holds).
const KEEP_BYTES: usize = 64 << 10;

impl Analysis {
    /// The thread's last analysis if it was of `text`, else a new one
    /// (reusing the last one's text buffer).
    fn of(text: &str) -> Box<Analysis> {
        let mut last = LAST.take().unwrap_or_default();
        if last.text != text {
            last.text.clear();
            last.text.push_str(text);
            last.runs = runs(text);
            last.words.clear();
        }
        last
    }

    /// Keep this analysis for the thread's next one.
    fn keep(self: Box<Self>) {
        if self.text.len() <= KEEP_BYTES {
            LAST.set(Some(self));
        }
    }
}

/// Each run's normalised text if it is a word run short enough to index
/// (lowercased, folded and stemmed by `words`).
fn normalized(runs: &[Run], words: &mut TextAnalyzer) -> Vec<Option<String>> {
    runs.iter()
        .map(|run| {
            if run.script != Script::Word || run.text.len() >= MAX_TOKEN_BYTES {
                return None;
            }
            let mut stream = words.token_stream(&run.text);
            stream
                .advance()
                .then(|| std::mem::take(&mut stream.token_mut().text))
        })
        .collect()
}

/// Add a token as the tokenizer cut it, unless it is [`MAX_TOKEN_BYTES`] or
/// longer.
fn push(tokens: &mut Vec<Token>, text: &str, span: (usize, usize), position: usize) {
    if text.len() < MAX_TOKEN_BYTES {
        tokens.push(token(text, span, position));
    }
}

fn token(text: &str, (from, to): (usize, usize), position: usize) -> Token {
    Token {
        offset_from: from,
        offset_to: to,
        position,
        text: text.to_owned(),
        position_length: 1,
    }
}

/// In the join field, the bigram across a space between two Hangul words
/// (주간 회의 → 간회), so compounds match whichever way they were spaced.
fn join_bigram(text: &str, prev: &Run, run: &Run, position: &mut usize, tokens: &mut Vec<Token>) {
    let (Some(last), Some(first)) = (prev.units.last(), run.units.first()) else {
        return;
    };
    let gap = &text[last.end..first.start];
    if prev.script != Script::Hangul
        || run.script != Script::Hangul
        || !gap.chars().all(char::is_whitespace)
    {
        return;
    }
    let (Some(a), Some(b)) = (prev.text.chars().last(), run.text.chars().next()) else {
        return;
    };
    push(
        tokens,
        &format!("{a}{b}"),
        (last.start, first.end),
        *position,
    );
    *position += 1;
}

/// The tokens of one run; `word` is a word run's normalised text.
fn emit_run(
    mode: Mode,
    run: &Run,
    word: Option<&str>,
    position: &mut usize,
    tokens: &mut Vec<Token>,
) {
    let n = run.units.len();
    let whole = run.span(0, n);
    // Where each character of the run's text starts, and its end: a gram is
    // a slice of the text, copied once, into its token.
    let bounds: Vec<usize> = run
        .text
        .char_indices()
        .map(|(at, _)| at)
        .chain([run.text.len()])
        .collect();
    let gram = |from: usize, len: usize| -> &str { &run.text[bounds[from]..bounds[from + len]] };
    match (mode, run.script) {
        (Mode::Join, Script::Hangul) => {
            for i in 0..n.saturating_sub(1) {
                push(tokens, gram(i, 2), run.span(i, i + 2), *position);
                *position += 1;
            }
        }
        (Mode::Join, _) => {}
        (_, Script::Word) => {
            // The length limit applies to the word as cut; one the
            // normaliser dropped keeps that text.
            if run.text.len() < MAX_TOKEN_BYTES {
                tokens.push(token(word.unwrap_or(&run.text), whole, *position));
            }
            *position += 1;
        }
        (Mode::Word, Script::Cjk) => {
            push(tokens, &run.text, whole, *position);
            *position += 1;
        }
        (Mode::Word, Script::Hangul) => {
            push(tokens, &run.text, whole, *position);
            for stem in korean::strip_chain(&run.text) {
                push(tokens, stem, run.span(0, stem.chars().count()), *position);
            }
            *position += 1;
        }
        (Mode::Bigram, _) if n == 1 => {
            push(tokens, &run.text, whole, *position);
            *position += 1;
        }
        (Mode::Bigram, _) => {
            for i in 0..n - 1 {
                push(tokens, gram(i, 2), run.span(i, i + 2), *position);
                *position += 1;
            }
        }
        (Mode::Highlight, _) => {
            for i in 0..n {
                push(tokens, gram(i, 1), run.span(i, i + 1), *position);
                if i + 1 < n {
                    push(tokens, gram(i, 2), run.span(i, i + 2), *position);
                }
                *position += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(mut a: TextAnalyzer, text: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut s = a.token_stream(text);
        while let Some(t) = s.next() {
            out.push((t.text.clone(), t.position));
        }
        out
    }

    fn owned(v: &[(&str, usize)]) -> Vec<(String, usize)> {
        v.iter().map(|(s, p)| (s.to_string(), *p)).collect()
    }

    #[test]
    fn word_field_keeps_word_and_stems_at_one_position() {
        assert_eq!(
            tokens(word_analyzer(), "회의는 3시에 회의실에서"),
            owned(&[
                ("회의는", 0),
                ("회의", 0),
                ("3", 1),
                ("시에", 2),
                ("시", 2),
                ("회의실에서", 3),
                ("회의실", 3),
            ])
        );
    }

    #[test]
    fn bigram_field_emits_overlapping_bigrams() {
        assert_eq!(
            tokens(bigram_analyzer(), "주간회의록 밥"),
            owned(&[
                ("주간", 0),
                ("간회", 1),
                ("회의", 2),
                ("의록", 3),
                ("밥", 4)
            ])
        );
    }

    #[test]
    fn latin_is_lowercased_folded_and_stemmed_and_mixed_text_splits() {
        assert_eq!(
            tokens(word_analyzer(), "Deployed the Café API서버 v2 meetings"),
            owned(&[
                ("deploy", 0),
                ("the", 1),
                ("cafe", 2),
                ("api", 3),
                ("서버", 4),
                ("v2", 5),
                ("meet", 6),
            ])
        );
        assert_eq!(
            tokens(bigram_analyzer(), "API서버를 deploying"),
            owned(&[("api", 0), ("서버", 1), ("버를", 2), ("deploy", 3)])
        );
    }

    #[test]
    fn offsets_point_into_the_source_text() {
        let text = "<b>회의를</b> Café";
        let mut a = bigram_analyzer();
        let mut s = a.token_stream(text);
        let mut spans = Vec::new();
        while let Some(t) = s.next() {
            spans.push((t.text.clone(), &text[t.offset_from..t.offset_to]));
        }
        let expected = [
            ("b", "b"),
            ("회의", "회의"),
            ("의를", "의를"),
            ("b", "b"),
            ("cafe", "Café"),
        ];
        let expected: Vec<(String, &str)> =
            expected.iter().map(|(t, s)| (t.to_string(), *s)).collect();
        assert_eq!(spans, expected);
    }

    #[test]
    fn decomposed_hangul_matches_composed() {
        let nfd = "\u{1112}\u{116C}\u{110B}\u{1174}\u{1102}\u{1173}\u{11AB}"; // 회의는 in jamo
        assert_eq!(
            tokens(word_analyzer(), nfd),
            owned(&[("회의는", 0), ("회의", 0)])
        );
        assert_eq!(
            tokens(bigram_analyzer(), nfd),
            owned(&[("회의", 0), ("의는", 1)])
        );
    }

    #[test]
    fn cjk_and_jamo_and_punctuation() {
        assert_eq!(
            tokens(bigram_analyzer(), "ㅋㅋㅋ 東京駅!!"),
            owned(&[("ㅋㅋㅋ", 0), ("東京", 1), ("京駅", 2)])
        );
        assert!(tokens(word_analyzer(), "!!! 🙂 ...").is_empty());
    }

    #[test]
    fn join_field_bridges_spaces_between_hangul_words_only() {
        assert_eq!(
            tokens(join_analyzer(), "주간 회의록, 밥 API 서버"),
            owned(&[
                ("주간", 0),
                ("간회", 1),
                ("회의", 2),
                ("의록", 3),
                ("서버", 4)
            ])
        );
        assert_eq!(
            tokens(join_analyzer(), "밥 먹자"),
            owned(&[("밥먹", 0), ("먹자", 1)])
        );
    }

    #[test]
    fn highlight_has_unigrams_and_bigrams() {
        assert_eq!(
            tokens(highlight_analyzer(), "밥을"),
            owned(&[("밥", 0), ("밥을", 0), ("을", 1)])
        );
    }

    /// The analyzers as they were before word normalisation moved into the
    /// tokenizer: raw runs, then the long-token filter and the three
    /// normalising filters on every token.
    fn filtered_on_every_token(mode: Mode) -> TextAnalyzer {
        use tantivy::tokenizer::RemoveLongFilter;
        TextAnalyzer::builder(CotalkTokenizer {
            mode,
            words: TextAnalyzer::from(RawTokenizer::default()),
            standard_words: false,
        })
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
    }

    fn full_tokens(a: &mut TextAnalyzer, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        let mut s = a.token_stream(text);
        while let Some(t) = s.next() {
            out.push(t.clone());
        }
        out
    }

    #[test]
    fn normalizing_skips_only_what_it_leaves_unchanged() {
        // Lowercasing and folding map one character at a time, so every
        // character the segmenter puts into a Hangul or CJK run, alone,
        // covers them; the stemmer's rules end in ASCII letters, which such
        // runs never hold (the proptest below mixes them into words too).
        let mut normalizer = word_normalizer();
        let mut checked = 0;
        for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
            if !(korean::is_syllable(c) || crate::segment::is_cjk(c)) {
                continue;
            }
            let text = c.to_string();
            assert_eq!(full_tokens(&mut normalizer, &text)[0].text, text);
            checked += 1;
        }
        assert_eq!(checked, 11_172 + 192 + 6_592 + 20_992 + 512);
    }

    fn mixed_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "[가-힣]{1,6}",
            "[ぁ-ヿ一-龥]{1,4}",
            "[A-Za-zÀ-ÿßÆæœŒİıſﬃ]{1,12}(ing|ed|ies|s|ly)?",
            "[0-9]{1,4}",
            "[ㄱ-ㅎㅏ-ㅣ]{1,3}",
            "\\PC{1,3}",
            "[a-z]{250,260}",
            "[가-힣]{84,90}",
            "İ{120,130}",
            " |  |, |\\.|!|\n",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #[test]
        fn tokens_are_those_of_the_filters_on_every_token(text in mixed_text()) {
            for mode in [Mode::Word, Mode::Bigram, Mode::Join, Mode::Highlight] {
                let now = full_tokens(&mut analyzer(mode), &text);
                let before = full_tokens(&mut filtered_on_every_token(mode), &text);
                proptest::prop_assert_eq!(
                    format!("{now:?}"), format!("{before:?}"), "{:?} of {:?}", mode, text
                );
            }
        }
    }

    #[test]
    fn a_text_analysed_again_gets_the_tokens_of_a_fresh_analysis() {
        let texts = [
            "주간 회의록 Deploying café",
            "東京駅 API서버 3시에",
            "주간 회의록 Deploying café",
        ];
        let all = || {
            let mut out = Vec::new();
            for text in texts {
                for mode in [Mode::Word, Mode::Bigram, Mode::Join, Mode::Highlight] {
                    out.push(format!("{:?}", full_tokens(&mut analyzer(mode), text)));
                }
            }
            out
        };
        // Each text alone in a new thread: nothing kept from before.
        let fresh: Vec<String> = texts
            .iter()
            .flat_map(|&text| {
                std::thread::spawn(move || {
                    [Mode::Word, Mode::Bigram, Mode::Join, Mode::Highlight]
                        .map(|mode| format!("{:?}", full_tokens(&mut analyzer(mode), text)))
                })
                .join()
                .expect("analysis thread")
            })
            .collect();
        assert_eq!(all(), fresh);
        // The kept analysis is the last text's: every analyzer hits it.
        assert_eq!(all(), fresh);
    }

    #[test]
    fn normalize_word_matches_the_index_side() {
        assert_eq!(normalize_word("Deploying").as_deref(), Some("deploy"));
        assert_eq!(normalize_word("CAFÉ").as_deref(), Some("cafe"));
    }
}
