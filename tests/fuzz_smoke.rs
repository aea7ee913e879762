//! Fuzz smoke, as ordinary bounded tests on stable (the real fuzzing is
//! `cargo +nightly fuzz run`, see README "Fuzzing" and `make chaos`):
//!
//! - the bodies of the cargo-fuzz targets (fuzz/src/targets.rs, compiled
//!   here too) replay their committed seed corpus (fuzz/corpus/<target>/)
//!   and a few thousand mutations of it, from a fixed seed so a failure
//!   reproduces;
//! - a few thousand arbitrary Unicode queries of up to 300 characters,
//!   biased towards the parser's special characters, Hangul and other
//!   scripts, are searched on a real (empty) index: every one answers `Ok` or
//!   a `SearchError`, never a panic.

#[path = "../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

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

/// The committed seed inputs of a fuzz target, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read a seed"))
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// One to four random edits of `input`, as a mutating fuzzer makes them:
/// overwrite, insert, delete, or repeat a chunk.
fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\"\\-{}[],:0123456789\n \x00\xff\xc3\xa9";
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = rng.gen_range(0..=out.len());
        let byte = if rng.gen_bool(0.5) {
            INTERESTING[rng.gen_range(0..INTERESTING.len())]
        } else {
            rng.gen()
        };
        match rng.gen_range(0..4) {
            0 if at < out.len() => out[at] = byte,
            1 => out.insert(at, byte),
            2 if at < out.len() => {
                let end = rng.gen_range(at..=out.len().min(at + 8));
                out.drain(at..end);
            }
            _ if at < out.len() => {
                let end = rng.gen_range(at..=out.len().min(at + 16));
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            _ => out.push(byte),
        }
    }
    out
}

/// Replay `target`'s corpus, then `rounds` mutations of its seeds.
fn replay(target: &str, rounds: usize, body: fn(&[u8])) {
    let seeds = corpus(target);
    for (name, input) in &seeds {
        let result = std::panic::catch_unwind(|| body(input));
        assert!(result.is_ok(), "{target}: the seed {name} failed");
    }
    let mut rng = StdRng::seed_from_u64(0xF022_5EED);
    for round in 0..rounds {
        let (name, seed) = &seeds[rng.gen_range(0..seeds.len())];
        let input = mutate(&mut rng, seed);
        let result = std::panic::catch_unwind(|| body(&input));
        assert!(
            result.is_ok(),
            "{target}: mutation {round} of {name} failed; input {input:?}"
        );
    }
}

#[test]
fn query_parser_target_replays_its_corpus_and_mutations() {
    replay("query_parser", 3000, targets::query_parser);
    // The target's index lives as long as the process; its files need not.
    let dir = std::env::temp_dir().join(format!("cotalk-fuzz-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn event_decode_target_replays_its_corpus_and_mutations() {
    replay("event_decode", 20_000, targets::event_decode);
}

#[test]
fn event_decode_seeds_of_every_type_decode() {
    // The seeds named after a type and version are valid stored payloads:
    // if one stops decoding, the payload format changed without an upcaster.
    let seeds = corpus("event_decode");
    for (name, current) in domain::event::EVENT_TYPES {
        let file = format!("{name}-v{current}");
        let (_, input) = seeds
            .iter()
            .find(|(n, _)| *n == file)
            .unwrap_or_else(|| panic!("no seed {file}"));
        let json = std::str::from_utf8(&input[2..]).unwrap();
        let event = domain::event::DomainEvent::decode_json(name, *current, json)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event.event_type(), *name);
    }
    let (_, v1) = seeds
        .iter()
        .find(|(n, _)| n == "room.member_left-v1")
        .unwrap();
    let json = std::str::from_utf8(&v1[2..]).unwrap();
    domain::event::DomainEvent::decode_json("room.member_left", 1, json).expect("upcast v1");
}
