//! The writer's threads run at the nice value the options give (issue 20:
//! index work yields to delivery on a busy node).

use search::{IndexOptions, SearchIndex};
use std::collections::BTreeMap;

/// Thread id → (name, nice value) of every thread of this process.
fn thread_nice() -> BTreeMap<u32, (String, i64)> {
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue; // ended meanwhile
        };
        // Fields after the parenthesised name; nice is field 19 overall.
        let (name, rest) = stat
            .split_once(" (")
            .and_then(|(_, r)| r.rsplit_once(") "))
            .unwrap();
        let nice: i64 = rest.split(' ').nth(16).unwrap().parse().unwrap();
        let tid = dir.file_name().unwrap().to_str().unwrap().parse().unwrap();
        out.insert(tid, (name.to_owned(), nice));
    }
    out
}

#[test]
fn the_writers_threads_run_at_the_given_nice_value_and_the_caller_keeps_its_own() {
    let before = rustix::process::getpriority_process(None).unwrap();
    let existing = thread_nice();
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(
        dir.path(),
        IndexOptions {
            memory_budget_bytes: 20 << 20,
            nice: Some(7),
            ..IndexOptions::default()
        },
    )
    .unwrap();
    // The threads the writer started (indexing, segment updates, merges).
    // Told apart by id, not by name: a new thread names itself once it runs,
    // so for a moment it still carries its creator's name.
    let threads = thread_nice();
    let started: Vec<_> = threads
        .iter()
        .filter(|(tid, _)| !existing.contains_key(tid))
        .collect();
    assert!(
        started.len() >= 2,
        "threads before {existing:?}, after {threads:?}"
    );
    for (tid, (name, nice)) in &started {
        assert_eq!(*nice, 7, "thread {tid} ({name}) of {threads:?}");
    }
    assert_eq!(
        rustix::process::getpriority_process(None).unwrap(),
        before,
        "the caller's own priority"
    );
    drop(index);
}
