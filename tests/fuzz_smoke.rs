//! Fuzz smoke for the search query parser, as an ordinary bounded test
//! (`cargo fuzz` needs a nightly toolchain, so it is not used here): a few
//! thousand arbitrary Unicode queries of up to 300 characters, biased towards
//! the parser's special characters, Hangul and other scripts, are searched
//! on a real (empty) index; every one answers `Ok` or a `SearchError`, never a
//! panic. The seed is fixed so a failure reproduces.

use domain::RoomId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use search::{SearchIndex, SearchRequest};

/// Characters the parser treats specially, and scripts it splits on.
const SPECIAL: &[char] = &[
    '"', '-', ' ', '\t', '\n', '*', ':', '(', ')', '\\', '\'', '\u{0}',
];

fn arbitrary_char(rng: &mut StdRng) -> char {
    match rng.gen_range(0..8) {
        0 | 1 => SPECIAL[rng.gen_range(0..SPECIAL.len())],
        2 => rng.gen_range('a'..='z'),
        3 => rng.gen_range('가'..='힣'),
        4 => rng.gen_range('\u{3131}'..='\u{318E}'), // Hangul jamo
        5 => rng.gen_range('\u{4E00}'..='\u{9FFF}'), // CJK
        6 => rng.gen_range('\u{0300}'..='\u{036F}'), // combining marks
        _ => rng.gen::<char>(),
    }
}

#[test]
fn search_query_parsing_never_panics() {
    let dir = std::env::temp_dir().join(format!("cotalk-fuzz-{}", std::process::id()));
    let index = SearchIndex::open(&dir, Default::default()).expect("open an index");
    let searcher = index.searcher();
    let mut rng = StdRng::seed_from_u64(0x5EA_2C4);
    let room = RoomId(uuid::Uuid::from_u128(1));
    for _ in 0..3000 {
        let len = rng.gen_range(0..=300);
        let q: String = (0..len).map(|_| arbitrary_char(&mut rng)).collect();
        let req = SearchRequest {
            q: q.clone(),
            member_rooms: vec![room],
            limit: 20,
            ..Default::default()
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            searcher.search(&req).map(drop)
        }));
        assert!(result.is_ok(), "the search of {q:?} panicked");
    }
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}
