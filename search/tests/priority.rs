//! The writer's threads run at the nice value the options give (issue 20:
//! index work yields to delivery on a busy node).

use search::{IndexOptions, SearchIndex};
use std::collections::BTreeMap;

/// Name → nice value of every thread of this process.
fn thread_nice() -> BTreeMap<String, i64> {
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
        out.insert(format!("{name}@{}", dir.display()), nice);
    }
    out
}

#[test]
fn the_writers_threads_run_at_the_given_nice_value_and_the_caller_keeps_its_own() {
    let before = rustix::process::getpriority_process(None).unwrap();
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
    let threads = thread_nice();
    let writers: Vec<_> = threads
        .iter()
        .filter(|(name, _)| name.starts_with("thrd-tantivy-in") || name.starts_with("merge_thread"))
        .collect();
    assert!(writers.len() >= 2, "tantivy's threads: {threads:?}");
    for (name, nice) in &writers {
        assert_eq!(**nice, 7, "{name}");
    }
    assert_eq!(
        rustix::process::getpriority_process(None).unwrap(),
        before,
        "the caller's own priority"
    );
    drop(index);
}
