//! Korean user search: initial-consonant (초성) extraction and matching, so
//! `ㄱㅁㅈ` finds 김민지 and `ㅁ지` finds 민지 (jamo and syllables mixed).
//!
//! Written here rather than taken from a crate: the decomposition is the
//! fixed formula of the Unicode standard (ch. 3.12, syllable = 0xAC00 +
//! (initial × 21 + medial) × 28 + final), a few lines, while the Hangul
//! crates on offer are small single-author projects whose matching rules
//! (prefix, mixed, progressive) are not the ones the contract asks for.

/// The 19 initial consonants as compatibility jamo, in syllable order.
const INITIALS: [char; 19] = [
    'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ',
    'ㅌ', 'ㅍ', 'ㅎ',
];
const SYLLABLE_FIRST: u32 = 0xAC00;
const SYLLABLE_LAST: u32 = 0xD7A3;
const FINALS: u32 = 28;
const MEDIALS_X_FINALS: u32 = 21 * 28;

/// The syllable's index from U+AC00, if `c` is a precomposed syllable.
fn syllable_index(c: char) -> Option<u32> {
    let u = c as u32;
    (SYLLABLE_FIRST..=SYLLABLE_LAST)
        .contains(&u)
        .then(|| u - SYLLABLE_FIRST)
}

/// The initial consonant of a syllable, as compatibility jamo (`김` → `ㄱ`).
pub fn initial(c: char) -> Option<char> {
    syllable_index(c).map(|i| INITIALS[(i / MEDIALS_X_FINALS) as usize])
}

/// Whether `c` is a compatibility jamo that can start a syllable (`ㄱ`…`ㅎ`).
pub fn is_initial_jamo(c: char) -> bool {
    INITIALS.contains(&c)
}

/// `s` with every syllable replaced by its initial consonant and every
/// other character lowercased (`김민지` → `ㄱㅁㅈ`, `ㅁ지` → `ㅁㅈ`). A search
/// index keyed by the initials of names finds every candidate of a query by
/// the prefix `initials(query)`; [`matches_prefix`] then checks each.
pub fn initials(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match initial(c) {
            Some(i) => out.push(i),
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Whether one query character matches one name character: the same
/// (ignoring case), a jamo for the syllable's initial (`ㅁ` ~ `민`), or, for
/// the query's last character, a syllable still being typed (`미` ~ `민`:
/// same initial and vowel, the final consonant not yet typed).
fn char_matches(q: char, n: char, last: bool) -> bool {
    if q == n || q.to_lowercase().eq(n.to_lowercase()) {
        return true;
    }
    if is_initial_jamo(q) {
        return initial(n) == Some(q);
    }
    match (syllable_index(q), syllable_index(n)) {
        (Some(qi), Some(ni)) if last => qi % FINALS == 0 && qi / FINALS == ni / FINALS,
        _ => false,
    }
}

/// Whether `query` matches a prefix of `name`, character by character, each
/// query character a jamo or a syllable (see [`char_matches`]). An empty
/// query matches nothing.
pub fn matches_prefix(name: &str, query: &str) -> bool {
    let q: Vec<char> = query.chars().collect();
    let n: Vec<char> = name.chars().collect();
    !q.is_empty()
        && q.len() <= n.len()
        && q.iter()
            .zip(&n)
            .enumerate()
            .all(|(i, (qc, nc))| char_matches(*qc, *nc, i + 1 == q.len()))
}

/// How well a name matches a query, best first (the search's ranking:
/// exact > prefix > initials).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchRank {
    /// The whole name, ignoring case.
    Exact,
    /// A prefix of the name as typed, ignoring case.
    Prefix,
    /// A prefix by initial consonants (jamo and syllables mixed).
    Initials,
}

/// How `name` matches `query`, if it does.
pub fn rank(name: &str, query: &str) -> Option<MatchRank> {
    let (n, q) = (name.to_lowercase(), query.to_lowercase());
    if q.is_empty() {
        None
    } else if n == q {
        Some(MatchRank::Exact)
    } else if n.starts_with(&q) {
        Some(MatchRank::Prefix)
    } else if matches_prefix(name, query) {
        Some(MatchRank::Initials)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("김민지"), "ㄱㅁㅈ");
        assert_eq!(initials("ㅁ지"), "ㅁㅈ");
        assert_eq!(initials("가힣"), "ㄱㅎ");
        assert_eq!(initials("Kim 민수!"), "kim ㅁㅅ!");
        assert_eq!(initial('까'), Some('ㄲ'));
        assert_eq!(initial('a'), None);
    }

    #[test]
    fn the_contract_examples() {
        assert!(matches_prefix("김민지", "ㄱㅁㅈ"));
        assert!(matches_prefix("민지", "ㅁ지"));
        assert!(matches_prefix("김민지", "김ㅁ"));
        assert!(matches_prefix("김민지", "ㄱ민ㅈ"));
        assert!(matches_prefix("김민지", "ㄱㅁ"));
        assert!(!matches_prefix("김민지", "ㅁㅈ"));
        assert!(!matches_prefix("민지", "ㅁ자"));
        assert!(!matches_prefix("민지", "ㅁㅈㅇ"));
        assert!(!matches_prefix("민지", ""));
        // ㄲ is its own consonant, not ㄱ.
        assert!(!matches_prefix("까치", "ㄱ"));
    }

    #[test]
    fn a_syllable_still_being_typed_matches_at_the_end_only() {
        assert!(matches_prefix("김민지", "김미"));
        assert!(matches_prefix("김민지", "기"));
        assert!(!matches_prefix("김민지", "기민"));
        assert!(!matches_prefix("김민지", "김마"));
    }

    #[test]
    fn ranking() {
        assert_eq!(rank("minji", "MinJi"), Some(MatchRank::Exact));
        assert_eq!(rank("김민지", "김민"), Some(MatchRank::Prefix));
        assert_eq!(rank("김민지", "ㄱㅁㅈ"), Some(MatchRank::Initials));
        assert_eq!(rank("김민지", "박"), None);
        assert_eq!(rank("김민지", ""), None);
        assert!(MatchRank::Exact < MatchRank::Prefix && MatchRank::Prefix < MatchRank::Initials);
    }

    proptest! {
        /// Any name matches every prefix of itself, and every prefix of its
        /// initials; and the initials index finds every match.
        #[test]
        fn prefixes_and_initials_always_match(name in "[가-힣a-z]{1,8}", cut in 1usize..8, q in "[ㄱ-ㅎ가-힣]{1,3}") {
            let chars: Vec<char> = name.chars().collect();
            let cut = cut.min(chars.len());
            let prefix: String = chars[..cut].iter().collect();
            prop_assert!(matches_prefix(&name, &prefix));
            let init: String = initials(&name).chars().take(cut).collect();
            prop_assert!(matches_prefix(&name, &init));
            if matches_prefix(&name, &q) {
                prop_assert!(initials(&name).starts_with(&initials(&q)));
            }
        }
    }
}
