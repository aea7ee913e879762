//! Behaviour of indexing and search: languages, edits and deletes,
//! permissions, filters, pagination, snippets, query errors, checkpoints.

mod common;

use common::{ids, open, req, room, user, Log};
use search::{SearchError, SearchIndex, SearchRequest, SortOrder};
use std::collections::HashSet;

fn index_of(log: &Log) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    (dir, index)
}

#[test]
fn handles_are_send_and_sync() {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync + Clone>() {}
    send::<SearchIndex>();
    shared::<search::MessageSearcher>();
}

#[test]
fn english_is_stemmed_and_folded() {
    let (r, u) = (room(1), user(1));
    let mut log = Log::default();
    let deployed = log.post(r, u, "We deployed the fix");
    let deploying = log.post(r, u, "deploying now");
    let deploy = log.post(r, u, "Deploy tomorrow?");
    let meetings = log.post(r, u, "The meetings ran long");
    let cafe1 = log.post(r, u, "Café au lait");
    let cafe2 = log.post(r, u, "cafe closed");
    let (_d, index) = index_of(&log);
    let set = |q: &str| {
        ids(&index, &req(q, &[r]))
            .into_iter()
            .collect::<HashSet<_>>()
    };
    let deploys: HashSet<_> = [deployed, deploying, deploy].into();
    assert_eq!(set("deploy"), deploys);
    assert_eq!(set("DEPLOYED"), deploys);
    assert_eq!(set("meeting"), [meetings].into());
    let cafes: HashSet<_> = [cafe1, cafe2].into();
    assert_eq!(set("cafe"), cafes);
    assert_eq!(set("CAFÉ"), cafes);
}

#[test]
fn edits_replace_text_and_deletes_remove_it() {
    let (r, u) = (room(1), user(1));
    let mut log = Log::default();
    let a = log.post(r, u, "회의는 3시에 시작해요");
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    let before = index.search(&req("회의", &[r])).unwrap().hits;
    assert_eq!(before.len(), 1);

    // Edit of a committed document (found through the searcher).
    log.edit(a, "점심은 12시에 먹어요");
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    assert!(ids(&index, &req("회의", &[r])).is_empty());
    let after = index.search(&req("점심", &[r])).unwrap().hits;
    assert_eq!(after.len(), 1);
    let (b, a2) = (&before[0], &after[0]);
    assert_eq!(
        (
            a2.message_id,
            a2.room_id,
            a2.seq,
            a2.author_id,
            a2.created_at
        ),
        (b.message_id, b.room_id, b.seq, b.author_id, b.created_at)
    );

    // Post, edit and delete inside one uncommitted batch.
    let b = log.post(r, u, "서버 배포 시작");
    log.edit(b, "서버 배포 완료");
    let c = log.post(r, u, "지울 메시지 서버");
    log.delete(c);
    log.delete(a);
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    assert_eq!(ids(&index, &req("서버", &[r])), vec![b]);
    assert!(ids(&index, &req("시작", &[r])).is_empty());
    assert!(ids(&index, &req("점심", &[r])).is_empty());
    assert_eq!(index.num_docs(), 1);

    // An edit arriving after the delete changes nothing.
    log.edit(c, "되살아난 서버");
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    assert_eq!(ids(&index, &req("서버", &[r])), vec![b]);
}

#[test]
fn only_member_rooms_are_searched() {
    let (a, b, u) = (room(1), room(2), user(1));
    let mut log = Log::default();
    let in_a = log.post(a, u, "배포 일정 공유");
    let _in_b = log.post(b, u, "배포 일정 공유");
    let (_d, index) = index_of(&log);
    assert_eq!(ids(&index, &req("배포", &[a])), vec![in_a]);
    assert_eq!(ids(&index, &req("배포", &[a, b])).len(), 2);
    assert!(ids(&index, &req("배포", &[])).is_empty());
    let mut r = req("배포", &[a]);
    r.room_id = Some(b);
    assert!(ids(&index, &r).is_empty());
    r.room_id = Some(a);
    assert_eq!(ids(&index, &r), vec![in_a]);
    // Invalid queries are still reported when nothing could be found anyway.
    assert!(matches!(
        index.search(&req("", &[])),
        Err(SearchError::InvalidQuery(_))
    ));
}

#[test]
fn author_and_time_filters_apply() {
    let (r, alice, bob) = (room(1), user(1), user(2));
    let mut log = Log::default();
    let m1 = log.post(r, alice, "회의 자료 1");
    let t_mid = log.now();
    let m2 = log.post(r, bob, "회의 자료 2");
    let m3 = log.post(r, alice, "회의 자료 3");
    let (_d, index) = index_of(&log);
    let mut q = req("회의", &[r]);
    q.author_id = Some(alice);
    assert_eq!(
        ids(&index, &q).into_iter().collect::<HashSet<_>>(),
        [m1, m3].into()
    );
    q.author_id = None;
    q.after = Some(t_mid - chrono::Duration::seconds(1));
    q.before = Some(log.now() - chrono::Duration::minutes(1));
    assert_eq!(ids(&index, &q), vec![m2]);
}

#[test]
fn cursors_walk_every_hit_once_in_both_orders() {
    let (r, u) = (room(1), user(1));
    let mut log = Log::default();
    let mut all = HashSet::new();
    for i in 0..57 {
        // Some identical bodies (equal scores: ties broken by time), some not.
        let body = match i % 3 {
            0 => "배포 완료".to_string(),
            1 => format!("배포 {i}번 서버 확인"),
            _ => format!("오늘 배포 배포 {i}"),
        };
        all.insert(log.post(r, u, &body));
    }
    log.post(r, u, "관계없는 메시지");
    let (_d, index) = index_of(&log);
    for sort in [SortOrder::Relevance, SortOrder::Recent] {
        let mut seen = Vec::new();
        let mut hits = Vec::new();
        let mut q = SearchRequest {
            limit: 7,
            sort,
            ..req("배포", &[r])
        };
        loop {
            let page = index.search(&q).unwrap();
            assert!(page.hits.len() <= 7);
            seen.extend(page.hits.iter().map(|h| h.message_id));
            hits.extend(page.hits);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), all.len(), "{sort:?}");
        assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all);
        for w in hits.windows(2) {
            let (x, y) = (&w[0], &w[1]);
            let ordered = match sort {
                SortOrder::Recent => x.created_at > y.created_at,
                SortOrder::Relevance => {
                    x.score > y.score || (x.score == y.score && x.created_at > y.created_at)
                }
            };
            assert!(ordered, "{sort:?}: {x:?} before {y:?}");
        }
    }
    let mut q = req("배포", &[r]);
    q.cursor = Some("garbage".into());
    assert!(matches!(index.search(&q), Err(SearchError::InvalidCursor)));
}

#[test]
fn snippets_mark_matches_and_escape_everything_else() {
    let (r, u) = (room(1), user(1));
    let mut log = Log::default();
    log.post(
        r,
        u,
        "<script>alert('x')</script> 주간회의록 & 회의는 \"3시\"",
    );
    log.post(r, u, "Deployed <b>now</b>");
    log.post(r, u, "프로그램 말고 프로젝트 얘기");
    log.post(r, u, "주간 회의록 올렸어요");
    let long = format!(
        "{} 마감재 견적 {}",
        "가나다라 ".repeat(100),
        "마바사 ".repeat(100)
    );
    log.post(r, u, &long);
    let (_d, index) = index_of(&log);
    let snippet = |q: &str| -> Vec<String> {
        index
            .search(&req(q, &[r]))
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.snippet)
            .collect()
    };
    let s = snippet("회의");
    let html = s.iter().find(|s| s.contains("script")).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("주간<mark>회의</mark>록 &amp; <mark>회의</mark>는 &quot;3시&quot;"),
        "{html}"
    );
    let s = snippet("주간회의록");
    assert!(
        s.iter().any(|h| h.contains("<mark>주간회의록</mark>")),
        "{s:?}"
    );
    assert!(
        s.iter().any(|h| h.contains("<mark>주간 회의록</mark>")),
        "{s:?}"
    );
    assert_eq!(
        snippet("deploy"),
        vec!["<mark>Deployed</mark> &lt;b&gt;now&lt;/b&gt;"]
    );
    assert_eq!(
        snippet("프로젝트"),
        vec!["프로그램 말고 <mark>프로젝트</mark> 얘기"]
    );
    // A long message shows the best fragment, with the cuts marked.
    let s = snippet("견적");
    assert!(s[0].starts_with('…') && s[0].ends_with('…'), "{s:?}");
    assert!(
        s[0].contains("<mark>견적</mark>") && s[0].chars().count() < 120,
        "{s:?}"
    );
}

#[test]
fn query_syntax_words_phrases_exclusions() {
    let (r, u) = (room(1), user(1));
    let mut log = Log::default();
    let spaced = log.post(r, u, "회의는 자료를 보고 합시다");
    let reversed = log.post(r, u, "자료 먼저 보고 회의");
    let compound = log.post(r, u, "주간회의 시작");
    let weekly = log.post(r, u, "주간 회의 시작");
    let exact = log.post(r, u, "회의 시작합니다");
    let (_d, index) = index_of(&log);
    let set = |q: &str| {
        ids(&index, &req(q, &[r]))
            .into_iter()
            .collect::<HashSet<_>>()
    };
    assert_eq!(set("\"회의 자료\""), [spaced].into());
    assert_eq!(set("회의 자료"), [spaced, reversed].into());
    assert_eq!(set("회의 -자료"), [compound, weekly, exact].into());
    assert_eq!(set("회의 -\"주간 회의\""), [spaced, reversed, exact].into());
    assert_eq!(set("\"주간 회의\""), [compound, weekly].into());
    // Whole-word matches outrank matches inside compounds.
    let ranked = ids(&index, &req("회의 시작", &[r]));
    assert_eq!(ranked.len(), 3);
    assert_eq!(ranked[2], compound, "{ranked:?}");
    // tantivy's syntax is plain text: every word is required. A `name:`
    // that is not one of cotalk's operators is refused, naming it (quoted,
    // it is text).
    assert!(set("회의 OR 자료").is_empty());
    match index.search(&req("body:회의 시작", &[r])) {
        Err(e @ SearchError::InvalidOperator { .. }) => assert_eq!(e.code(), "invalid_query"),
        other => panic!("body: {other:?}"),
    }
    assert_eq!(set("\"body:회의\" 시작").len(), 0);
    assert_eq!(set("회의* 시작").len(), 3);

    for bad in [
        "",
        "  ",
        "\"회의",
        "-회의",
        "-\"회의 자료\"",
        "!!! ...",
        &"가".repeat(257),
    ] {
        match index.search(&req(bad, &[r])) {
            Err(e @ SearchError::InvalidQuery(_)) => assert_eq!(e.code(), "invalid_query"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn checkpoint_lives_in_the_commit_and_replays_are_skipped() {
    let (r, u) = (room(1), user(1));
    let mut log = Log::default();
    log.post(r, u, "첫 메시지");
    log.post(r, u, "두 번째 메시지");
    let dir = tempfile::tempdir().unwrap();
    {
        let mut index = open(dir.path());
        assert_eq!(index.checkpoint(), 0);
        index.apply(&log.events).unwrap();
        assert_eq!(index.pending(), 2);
        assert_eq!(index.checkpoint(), 0);
        assert_eq!(index.commit().unwrap(), 2);
        assert_eq!(index.searcher().position(), 2);
        // Events without index changes still move the checkpoint.
        log.rename(r, "새 이름");
        index.apply(&log.events).unwrap();
        assert_eq!(index.pending(), 1);
        assert_eq!(index.commit().unwrap(), 3);
        // Uncommitted work is lost on drop, as in a crash.
        log.post(r, u, "커밋 안 된 메시지");
        index.apply(&log.events).unwrap();
    }
    let mut index = open(dir.path());
    assert_eq!(index.checkpoint(), 3);
    assert_eq!(index.num_docs(), 2);
    let digest = index.digest().unwrap();
    index.apply(&log.events[..3]).unwrap();
    assert_eq!(index.pending(), 0);
    index.apply(&log.events).unwrap();
    assert_eq!(index.pending(), 1);
    assert_eq!(index.commit().unwrap(), 4);
    assert_eq!(index.num_docs(), 3);
    assert_ne!(index.digest().unwrap(), digest);
    let page = index.search(&req("메시지", &[r])).unwrap();
    assert_eq!((page.hits.len(), page.position), (3, 4));
}
