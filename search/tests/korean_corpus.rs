//! Recall and precision of the analyzer on the hand-judged Korean corpus.

use search::corpus;

#[test]
fn korean_recall_and_precision() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = search::SearchIndex::open(dir.path(), Default::default()).unwrap();
    let cases = corpus::korean_cases();
    assert!(cases.messages.len() >= 200);
    let (room, author) = (corpus::room_id(), corpus::author_id());
    index
        .apply(&corpus::posted_events(&cases.messages, room, author, 1))
        .unwrap();
    index.commit().unwrap();

    let scores = corpus::evaluate(&index.searcher(), &cases, room).unwrap();
    println!(
        "{:<16} {:>4} {:>4} {:>4} {:>7} {:>9}  missed / unexpected",
        "query", "exp", "ret", "hit", "recall", "precision"
    );
    for s in &scores {
        println!(
            "{:<16} {:>4} {:>4} {:>4} {:>7.3} {:>9.3}  {:?} / {:?}",
            s.q,
            s.expected,
            s.returned,
            s.hits,
            s.recall(),
            s.precision(),
            s.missed,
            s.unexpected
        );
    }
    let total = corpus::overall(&scores);
    println!(
        "overall: {} relevant, {} returned, {} hits: recall {:.3}, precision {:.3}",
        total.expected,
        total.returned,
        total.hits,
        total.recall(),
        total.precision()
    );
    assert!(
        total.recall() >= 0.95,
        "overall recall {:.3}",
        total.recall()
    );
    // Bigram and stemming matches return homographs by design (회의적,
    // 일정하게, 햄버그, "meet you"); the corpus holds ~10 such traps against
    // ~400 relevant pairs, so anything much below 0.95 means the analyzer
    // started matching unrelated text.
    assert!(
        total.precision() >= 0.95,
        "overall precision {:.3}",
        total.precision()
    );

    // Every particle form of 회의 is found by 회의, and by the other forms.
    for q in ["회의", "회의를", "회의에서"] {
        let s = scores.iter().find(|s| s.q == q).unwrap();
        for key in ["b001", "b002", "b003", "b004", "b024", "b005", "f069"] {
            assert!(!s.missed.contains(&key), "{q} missed {key}");
        }
    }
}
