//! Hangul helpers for the analyzer: syllable arithmetic, composition of
//! decomposed (NFD) jamo, and the curated list of particles and endings that
//! [`strip_chain`] removes from the end of a word.
//!
//! Korean attaches particles (조사) and verb endings (어미) to the word they
//! modify: 회의는, 회의를, 회의에서, 배포했어요. Without a dictionary we cannot
//! analyse morphology, but a small list of the frequent endings, checked with
//! the phonological rule that picks each particle's form (이/가, 은/는, 을/를,
//! 과/와, 으로/로 depend on whether the previous syllable ends in a
//! consonant), recovers the bare word most of the time. Each ending also
//! carries the shortest stem it may leave: single-syllable endings such as
//! 의, 도, 만, 요 are also the last syllable of many nouns (회의, 정도, 필요),
//! so they are only stripped from longer words.

use std::collections::HashMap;
use std::sync::OnceLock;

const SYLLABLE_FIRST: u32 = 0xAC00;
const SYLLABLE_LAST: u32 = 0xD7A3;
const FINALS: u32 = 28;
const FINAL_RIEUL: u32 = 8;

/// True for a precomposed Hangul syllable (가 … 힣).
pub(crate) fn is_syllable(c: char) -> bool {
    (SYLLABLE_FIRST..=SYLLABLE_LAST).contains(&(c as u32))
}

/// The final consonant (받침) index of a syllable: 0 = none, 8 = ㄹ.
fn final_index(c: char) -> Option<u32> {
    is_syllable(c).then(|| (c as u32 - SYLLABLE_FIRST) % FINALS)
}

/// Compose a conjoining-jamo sequence (leading consonant, vowel, optional
/// trailing consonant) into one syllable. Text typed on some platforms
/// arrives decomposed (NFD); composing it makes it match text typed elsewhere.
pub(crate) fn compose(l: char, v: char, t: Option<char>) -> Option<char> {
    let l = (l as u32).checked_sub(0x1100).filter(|l| *l < 19)?;
    let v = (v as u32).checked_sub(0x1161).filter(|v| *v < 21)?;
    let t = match t {
        None => 0,
        Some(t) => (t as u32)
            .checked_sub(0x11A7)
            .filter(|t| (1..28).contains(t))?,
    };
    char::from_u32(SYLLABLE_FIRST + (l * 21 + v) * FINALS + t)
}

/// True when `c` is a trailing-consonant jamo (part of a decomposed syllable).
pub(crate) fn is_trailing_jamo(c: char) -> bool {
    (0x11A8..=0x11C2).contains(&(c as u32))
}

/// Which previous syllables an ending can follow.
#[derive(Clone, Copy, Debug)]
enum Attach {
    /// Any syllable.
    Any,
    /// A syllable without a final consonant (는, 를, 가, 와, 나 …).
    Vowel,
    /// A syllable with a final consonant (은, 을, 이, 과, 으로 …).
    Consonant,
    /// No final consonant, or ㄹ (로: 회의로, 메일로).
    VowelOrRieul,
}

impl Attach {
    fn allows(self, prev: char) -> bool {
        let Some(f) = final_index(prev) else {
            return false;
        };
        match self {
            Attach::Any => true,
            Attach::Vowel => f == 0,
            Attach::Consonant => f != 0,
            Attach::VowelOrRieul => f == 0 || f == FINAL_RIEUL,
        }
    }
}

use Attach::{Any, Consonant, Vowel, VowelOrRieul};

/// (ending, what it attaches to, minimum syllables left as the stem).
const ENDINGS: &[(&str, Attach, usize)] = &[
    // case particles and their frequent combinations
    ("은", Consonant, 1),
    ("는", Vowel, 1),
    ("을", Consonant, 1),
    ("를", Vowel, 1),
    ("이", Consonant, 1),
    ("가", Vowel, 1),
    ("과", Consonant, 2),
    ("와", Vowel, 1),
    ("으로", Consonant, 1),
    ("로", VowelOrRieul, 1),
    ("으로는", Consonant, 1),
    ("로는", VowelOrRieul, 1),
    ("으로도", Consonant, 1),
    ("로도", VowelOrRieul, 1),
    ("에", Any, 1),
    ("에는", Any, 1),
    ("에도", Any, 1),
    ("에서", Any, 1),
    ("에서는", Any, 1),
    ("에서도", Any, 1),
    ("에게", Any, 1),
    ("에게는", Any, 1),
    ("에게서", Any, 1),
    ("한테", Any, 1),
    ("한테는", Any, 1),
    ("한테서", Any, 1),
    ("께서", Any, 1),
    ("께", Any, 2),
    ("의", Any, 2),
    ("도", Any, 2),
    ("만", Any, 2),
    ("까지", Any, 1),
    ("까지는", Any, 1),
    ("까지도", Any, 1),
    ("부터", Any, 1),
    ("부터는", Any, 1),
    ("보다", Any, 1),
    ("보다는", Any, 1),
    ("처럼", Any, 1),
    ("마다", Any, 1),
    ("만큼", Any, 1),
    ("밖에", Any, 1),
    ("조차", Any, 1),
    ("하고", Any, 1),
    ("이나", Consonant, 1),
    ("나", Vowel, 2),
    ("이랑", Consonant, 1),
    ("랑", Vowel, 2),
    ("이라도", Any, 1),
    ("라도", Vowel, 2),
    ("은요", Consonant, 1),
    ("는요", Vowel, 1),
    ("도요", Any, 2),
    ("요", Any, 2),
    // copula forms (이다): 회의입니다, 회의인데, 일정이에요, 회의예요
    ("입니다", Any, 1),
    ("이에요", Consonant, 1),
    ("예요", Vowel, 1),
    ("에요", Any, 1),
    ("이야", Consonant, 1),
    ("야", Vowel, 2),
    ("인데", Any, 1),
    ("인데요", Any, 1),
    ("인가요", Any, 1),
    ("이고", Any, 1),
    ("이죠", Any, 1),
    ("이라서", Any, 1),
    ("이라고", Any, 1),
    ("이지만", Any, 1),
    ("이었어요", Any, 1),
    ("였어요", Vowel, 1),
    // plural and honorific suffixes: 사람들, 팀장님, 민수씨
    ("들", Any, 2),
    ("님", Any, 2),
    ("씨", Any, 2),
    ("중", Any, 2),
    // 하다 / 되다 after a (mostly Sino-Korean) noun: 배포했어요, 확인해주세요
    ("해", Any, 2),
    ("한", Any, 2),
    ("할", Any, 2),
    ("함", Any, 2),
    ("해요", Any, 2),
    ("했어", Any, 2),
    ("했어요", Any, 2),
    ("했다", Any, 2),
    ("했고", Any, 2),
    ("했죠", Any, 2),
    ("했음", Any, 2),
    ("했는데", Any, 2),
    ("했네요", Any, 2),
    ("했습니다", Any, 2),
    ("했더니", Any, 2),
    ("합니다", Any, 2),
    ("하는", Any, 2),
    ("하는데", Any, 2),
    ("해서", Any, 2),
    ("하면", Any, 2),
    ("하기", Any, 2),
    ("하러", Any, 2),
    ("하려고", Any, 2),
    ("하자", Any, 2),
    ("하죠", Any, 2),
    ("해야", Any, 2),
    ("해야죠", Any, 2),
    ("하세요", Any, 2),
    ("하셨어요", Any, 2),
    ("하네요", Any, 2),
    ("할게", Any, 2),
    ("할게요", Any, 2),
    ("할까", Any, 2),
    ("할까요", Any, 2),
    ("하겠습니다", Any, 2),
    ("해줘", Any, 2),
    ("해줘요", Any, 2),
    ("해주세요", Any, 2),
    ("돼요", Any, 2),
    ("됐어", Any, 2),
    ("됐어요", Any, 2),
    ("됐다", Any, 2),
    ("됩니다", Any, 2),
    ("되었습니다", Any, 2),
    ("되는", Any, 2),
    ("된", Any, 2),
    ("될", Any, 2),
    ("되면", Any, 2),
    ("되고", Any, 2),
    ("됨", Any, 2),
    ("되나요", Any, 2),
];

/// Two-syllable nouns ending in 의 (회의, 논의 …). The genitive 의 is never
/// stripped from a word that ends in one of them, so 주간회의 stays whole.
const NOUNS_ENDING_IN_UI: &[&str] = &[
    "회의", "논의", "합의", "동의", "주의", "강의", "문의", "건의", "협의", "정의", "편의", "토의",
    "심의", "항의", "예의", "질의", "결의", "모의", "창의", "호의", "성의",
];

type Ending = (&'static str, Attach, usize);

/// Endings by their last syllable, each list sorted longest first, so the
/// longest applicable one wins and a word is only compared with the endings
/// it could end in (the whole list was a tenth of indexing's analysis).
fn endings_ending_in(last: char) -> &'static [Ending] {
    static BY_LAST: OnceLock<HashMap<char, Vec<Ending>>> = OnceLock::new();
    let by_last = BY_LAST.get_or_init(|| {
        let mut sorted = ENDINGS.to_vec();
        sorted.sort_by_key(|(text, _, _)| std::cmp::Reverse(text.chars().count()));
        let mut by_last: HashMap<char, Vec<Ending>> = HashMap::new();
        for ending in sorted {
            if let Some(last) = ending.0.chars().last() {
                by_last.entry(last).or_default().push(ending);
            }
        }
        by_last
    });
    by_last.get(&last).map_or(&[], Vec::as_slice)
}

/// Strip the longest applicable ending from a word of Hangul syllables.
pub(crate) fn strip_once(word: &str) -> Option<&str> {
    let last = word.chars().last()?;
    for &(ending, attach, min_stem) in endings_ending_in(last) {
        let Some(stem) = word.strip_suffix(ending) else {
            continue;
        };
        let Some(prev) = stem.chars().last() else {
            continue;
        };
        if stem.chars().count() < min_stem || !attach.allows(prev) {
            continue;
        }
        if ending == "의" && NOUNS_ENDING_IN_UI.iter().any(|n| word.ends_with(n)) {
            continue;
        }
        return Some(stem);
    }
    None
}

/// Every stem reached by stripping endings repeatedly (팀장님께서 → 팀장님 →
/// 팀장), shortest last. Empty when nothing applies. Each step shortens the
/// word, and the chain is capped, so this always ends.
pub(crate) fn strip_chain(word: &str) -> Vec<&str> {
    const MAX_STEPS: usize = 4;
    let mut out = Vec::new();
    let mut current = word;
    while out.len() < MAX_STEPS {
        match strip_once(current) {
            Some(stem) => {
                out.push(stem);
                current = stem;
            }
            None => break,
        }
    }
    out
}

/// The form a query word is compared with at word level: its shortest stem,
/// or the word itself.
pub(crate) fn canonical(word: &str) -> &str {
    strip_chain(word).last().copied().unwrap_or(word)
}

/// Overlapping character bigrams of a run (a single character for a
/// one-character run), as strings.
pub(crate) fn bigrams(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return vec![word.to_owned()];
    }
    chars.windows(2).map(|w| w.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn particles_are_stripped_with_their_phonological_form() {
        for (word, stem) in [
            ("회의는", "회의"),
            ("회의를", "회의"),
            ("회의에서", "회의"),
            ("회의가", "회의"),
            ("일정은", "일정"),
            ("일정을", "일정"),
            ("일정이", "일정"),
            ("점심으로", "점심"),
            ("회의실로", "회의실"),
            ("메일로", "메일"),
            ("서버에서는", "서버"),
            ("팀장님께", "팀장님"),
            ("배포했어요", "배포"),
            ("확인해주세요", "확인"),
            ("프로젝트의", "프로젝트"),
            ("밥은", "밥"),
            ("차가", "차"),
        ] {
            assert_eq!(strip_once(word), Some(stem), "{word}");
        }
    }

    #[test]
    fn nouns_that_only_look_inflected_are_kept() {
        // 이/을/은 need a final consonant; 는/를/가 need none; 의/도/요/만 need a
        // two-syllable stem; nouns ending in 회의 and friends keep their 의.
        for word in [
            "회의",
            "나이",
            "아이",
            "마을",
            "정도",
            "필요",
            "주간회의",
            "결과",
            "사랑",
            "평가",
            "하고",
        ] {
            assert_eq!(strip_once(word), None, "{word}");
        }
    }

    #[test]
    fn chains_reach_the_bare_noun() {
        assert_eq!(strip_chain("팀장님께서"), vec!["팀장님", "팀장"]);
        assert_eq!(strip_chain("배포중이에요"), vec!["배포중", "배포"]);
        assert_eq!(canonical("회의의"), "회의");
        assert_eq!(canonical("회의"), "회의");
    }

    #[test]
    fn decomposed_jamo_compose() {
        // ᄒ ᅬ ᄋ ᅴ = 회의
        assert_eq!(compose('\u{1112}', '\u{116C}', None), Some('회'));
        assert_eq!(
            compose('\u{1109}', '\u{1165}', Some('\u{11AB}')),
            Some('선')
        );
        assert_eq!(compose('a', '\u{1165}', None), None);
    }

    #[test]
    fn bigrams_overlap() {
        assert_eq!(bigrams("주간회의록"), vec!["주간", "간회", "회의", "의록"]);
        assert_eq!(bigrams("밥"), vec!["밥"]);
    }
}
