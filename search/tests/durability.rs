//! Crash safety: a child process indexes and commits in a loop and is killed
//! with SIGKILL at a random point, several times; every reopened index must
//! equal a clean build of the log up to its checkpoint, and after catching up
//! it must hold every live message exactly once.

mod common;

use common::{open, room, user, Log};
use domain::event::RoomEvent;
use domain::{DomainEvent, MessageId, StoredEvent};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "COTALK_SEARCH_DURABILITY_DIR";
const BATCH: usize = 20;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "회의는",
    "서버를",
    "배포했어요",
    "점심",
    "일정이",
    "프로젝트",
    "deploy",
    "meeting",
    "자료",
    "확인",
    "주간회의록",
    "커피",
    "밥",
    "내일",
    "오늘",
];

/// The same log in parent and child: posts, edits, deletes and renames.
fn workload() -> Vec<StoredEvent> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut log = Log::default();
    let mut live: Vec<MessageId> = Vec::new();
    for _ in 0..1200 {
        let r = room(rng.below(3) as u128);
        let body: Vec<&str> = (0..1 + rng.below(6))
            .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
            .collect();
        let body = body.join(" ");
        match rng.below(10) {
            0..=5 => live.push(log.post(r, user(rng.below(4) as u128), &body)),
            6 | 7 if !live.is_empty() => {
                let id = live[rng.below(live.len() as u64) as usize];
                log.edit(id, &format!("{body} (수정됨)"));
            }
            8 if !live.is_empty() => {
                let id = live.swap_remove(rng.below(live.len() as u64) as usize);
                log.delete(id);
            }
            _ => log.rename(r, &body),
        }
    }
    log.events
}

/// The child: index from the checkpoint on, committing every `BATCH` events,
/// announcing each commit on stdout. Does nothing unless started by the test.
#[test]
fn durability_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let events = workload();
    let mut index = open(Path::new(&dir));
    let from = index.checkpoint();
    let todo: Vec<StoredEvent> = events.into_iter().filter(|e| e.position > from).collect();
    for chunk in todo.chunks(BATCH) {
        index.apply(chunk).unwrap();
        let at = index.commit().unwrap();
        println!("committed {at}");
    }
    println!("done");
}

/// Every stored document as text, sorted (to explain a digest mismatch).
fn dump(index: &search::SearchIndex) -> Vec<String> {
    use tantivy::schema::document::Document as _;
    let reader = index.tantivy_index().reader().unwrap();
    let searcher = reader.searcher();
    let schema = index.tantivy_index().schema();
    let mut out = Vec::new();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        for doc in segment.doc_ids_alive() {
            let d: tantivy::TantivyDocument = searcher
                .doc(tantivy::DocAddress::new(ord as u32, doc))
                .unwrap();
            out.push(d.to_json(&schema));
        }
    }
    out.sort();
    out
}

fn clean_index(events: &[StoredEvent]) -> (tempfile::TempDir, search::SearchIndex) {
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(events).unwrap();
    index.commit().unwrap();
    (dir, index)
}

fn clean_digest(events: &[StoredEvent]) -> (String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(events).unwrap();
    index.commit().unwrap();
    (index.digest().unwrap(), index.num_docs())
}

fn live_messages(events: &[StoredEvent]) -> usize {
    let mut live = HashSet::new();
    for e in events {
        match &e.event {
            DomainEvent::Room(RoomEvent::MessagePosted(p)) => {
                live.insert(p.message_id);
            }
            DomainEvent::Room(RoomEvent::MessageDeleted(d)) => {
                live.remove(&d.message_id);
            }
            _ => {}
        }
    }
    live.len()
}

#[test]
fn killed_indexer_loses_nothing_and_duplicates_nothing() {
    let events = workload();
    let last = events.last().map(|e| e.position).unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let mut checkpoints = Vec::new();
    for _round in 0..8 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "durability_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after a random number of commits plus a random delay, so the
        // kill lands anywhere: between commits, inside one, mid-batch.
        let commits = 1 + rng.below(10);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        let mut finished = false;
        while seen < commits {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("committed") => seen += 1,
                Some(Ok(l)) if l == "done" => {
                    finished = true;
                    break;
                }
                Some(Ok(_)) => {}
                _ => {
                    finished = true;
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(lines);

        // The reopened index is exactly a clean build up to its checkpoint.
        let index = open(dir.path());
        let cp = index.checkpoint();
        checkpoints.push(cp);
        println!("kill after {seen} commits (finished: {finished}): checkpoint {cp}");
        let prefix: Vec<StoredEvent> = events
            .iter()
            .filter(|e| e.position <= cp)
            .cloned()
            .collect();
        let (digest, docs) = clean_digest(&prefix);
        if index.digest().unwrap() != digest {
            let (_d, clean) = clean_index(&prefix);
            let (got, want) = (dump(&index), dump(&clean));
            let extra: Vec<_> = got.iter().filter(|d| !want.contains(d)).collect();
            let missing: Vec<_> = want.iter().filter(|d| !got.contains(d)).collect();
            panic!("after kill at checkpoint {cp}: extra {extra:#?}\nmissing {missing:#?}");
        }
        assert_eq!(index.num_docs(), docs);
        assert_eq!(docs as usize, live_messages(&prefix));
        if finished || cp == last {
            break;
        }
    }
    println!("checkpoints after each kill: {checkpoints:?} (log ends at {last})");

    // Catch up from the checkpoint, then replay everything once more.
    let mut index = open(dir.path());
    index.apply(&events).unwrap();
    index.commit().unwrap();
    index.apply(&events).unwrap();
    assert_eq!(index.pending(), 0);
    let (digest, docs) = clean_digest(&events);
    assert_eq!(index.checkpoint(), last);
    assert_eq!(index.num_docs(), docs);
    assert_eq!(docs as usize, live_messages(&events));
    assert_eq!(index.digest().unwrap(), digest);
}
