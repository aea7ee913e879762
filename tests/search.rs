//! `GET /v1/search/messages` end to end through HTTP: messages posted,
//! edited and deleted through the command routes are found (or not) through
//! the search index the same process keeps, and only in rooms the caller is
//! a member of at the time of the search.
//!
//! The analyzer's recall/precision on a 225-message hand-judged corpus and
//! the kill -9 durability test live in `search/tests`.

mod support;

use contract::commands::{AddMemberRequest, EditMessageRequest};
use contract::queries::SearchResponse;
use reqwest::Method;
use std::collections::BTreeSet;
use support::{assert_refused, start, Server, User};
use testkit::client::{Read, Result};
use uuid::Uuid;

/// The search path with `params`, for raw calls.
fn path(params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    format!("/v1/search/messages?{}", query.finish())
}

/// Search as `user`, reading at least `at`.
async fn search(
    s: &Server,
    user: &User,
    at: i64,
    params: &[(&str, &str)],
) -> Result<Read<SearchResponse>> {
    s.as_user(user).at(at).search(params).await
}

/// The message ids of a 200 answer.
#[track_caller]
fn ids(a: &Result<Read<SearchResponse>>) -> BTreeSet<Uuid> {
    match a {
        Ok(a) => a.hits.iter().map(|h| h.message_id).collect(),
        Err(e) => panic!("search: {e}"),
    }
}

fn set(items: &[&Uuid]) -> BTreeSet<Uuid> {
    items.iter().map(|id| **id).collect()
}

/// The answer of a search that succeeded.
#[track_caller]
fn found(a: Result<Read<SearchResponse>>) -> Read<SearchResponse> {
    a.unwrap_or_else(|e| panic!("search: {e}"))
}

#[tokio::test]
async fn korean_particles_compounds_and_english_stems_are_found() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let room = s.room(&minsu, "검색 테스트", &[]).await.room_id;
    let mut m = Vec::new();
    let mut at = 0;
    for body in [
        "회의는 3시에 시작합니다",            // 0
        "오후 회의를 30분 미룰 수 있을까요?", // 1
        "어제 회의에서 나온 이슈 정리했어요", // 2
        "갑자기 회의가 잡혀서 늦어요",        // 3
        "주간회의록 올려놨습니다",            // 4
        "점심은 김치찌개 어때요",             // 5
        "We are deploying the new build",     // 6
        "The deployment finished at noon",    // 7
        "deploy 끝나면 알려주세요",           // 8 (mixed)
        "배포는 내일 오전에 합니다",          // 9
    ] {
        let posted = s.post(&minsu, room, body).await;
        let (id, p) = (posted.message_id.0, posted.position);
        m.push(id);
        at = p;
    }

    let a = search(&s, &minsu, at, &[("q", "회의")]).await;
    assert_eq!(
        ids(&a),
        set(&[&m[0], &m[1], &m[2], &m[3], &m[4]]),
        "회의 finds every particle form and the compound: {a:?}"
    );
    assert!(found(a).position >= at, "X-Position covers the writes");
    // Any particle form finds the others too.
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "회의에서")]).await),
        set(&[&m[0], &m[1], &m[2], &m[3], &m[4]])
    );
    // Compounds: a part finds the whole word, and the whole word is found.
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "회의록")]).await),
        set(&[&m[4]])
    );
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "주간회의")]).await),
        set(&[&m[4]])
    );
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "배포")]).await),
        set(&[&m[9]])
    );

    // English: stemming and case folding, also inside a mixed message.
    for q in ["deploy", "Deployed", "DEPLOYMENTS"] {
        assert_eq!(
            ids(&search(&s, &minsu, at, &[("q", q)]).await),
            set(&[&m[6], &m[7], &m[8]]),
            "{q}"
        );
    }
    // Exclusions and phrases.
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "deploy -build")]).await),
        set(&[&m[7], &m[8]])
    );
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "\"new build\"")]).await),
        set(&[&m[6]])
    );
    // Author and time filters.
    assert_eq!(
        ids(&search(
            &s,
            &minsu,
            at,
            &[("q", "회의"), ("author_id", &minsu.id.to_string())]
        )
        .await)
        .len(),
        5
    );
    assert!(ids(&search(
        &s,
        &minsu,
        at,
        &[("q", "회의"), ("before", "2000-01-01T00:00:00Z")]
    )
    .await)
    .is_empty());
}

#[tokio::test]
async fn edits_replace_the_text_and_deletes_remove_it() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let room = s.room(&minsu, "검색 테스트", &[]).await.room_id;
    let posted = s.post(&minsu, room, "배포 일정은 금요일입니다").await;
    let (id, _) = (posted.message_id.0, posted.position);
    let posted = s.post(&minsu, room, "금요일 저녁 회식").await;
    let (other, at) = (posted.message_id.0, posted.position);
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "금요일")]).await),
        set(&[&id, &other])
    );

    let as_minsu = s.as_user(&minsu);
    let edit = EditMessageRequest {
        body: "릴리스 일정은 월요일입니다".into(),
    };
    let at = as_minsu
        .edit_message(room, domain::MessageId(id), &edit)
        .await
        .expect("edit")
        .position;
    assert!(ids(&search(&s, &minsu, at, &[("q", "배포")]).await).is_empty());
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "금요일")]).await),
        set(&[&other]),
        "the old text no longer matches"
    );
    let a = search(&s, &minsu, at, &[("q", "릴리스")]).await;
    assert_eq!(ids(&a), set(&[&id]));
    let hit = &found(a).hits[0];
    assert!(
        hit.snippet.starts_with("<mark>릴리스</mark> 일정은"),
        "{}",
        hit.snippet
    );
    assert_eq!(hit.seq, 1);

    let at = as_minsu
        .delete_message(room, domain::MessageId(id))
        .await
        .expect("delete")
        .position;
    assert!(ids(&search(&s, &minsu, at, &[("q", "릴리스")]).await).is_empty());
    assert!(ids(&search(&s, &minsu, at, &[("q", "일정")]).await).is_empty());
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "금요일")]).await),
        set(&[&other])
    );
}

#[tokio::test]
async fn only_rooms_the_caller_is_in_now() {
    let s = start().await;
    let (minsu, bora, chul, dana) = (
        s.user("minsu").await,
        s.user("bora").await,
        s.user("chul").await,
        s.user("dana").await,
    );
    let shared = s.room(&minsu, "검색 테스트", &[&bora, &chul]).await.room_id;
    let dana_room = s.room(&dana, "검색 테스트", &[]).await.room_id;
    let posted = s.post(&minsu, shared, "프로젝트 회의는 내일입니다").await;
    let (first, _) = (posted.message_id.0, posted.position);
    let posted = s.post(&dana, dana_room, "다나의 비밀 회의 메모").await;
    let (_, at) = (posted.message_id.0, posted.position);
    let both = ids(&search(&s, &bora, at, &[("q", "회의")]).await);
    assert_eq!(both, set(&[&first]), "never another room's messages");

    // A non-member filtering on a room: 200 and no hits, like an empty room.
    let a = search(
        &s,
        &dana,
        at,
        &[("q", "회의"), ("room_id", &shared.to_string())],
    )
    .await;
    assert!(ids(&a).is_empty());
    assert!(found(a).next_cursor.is_none());
    let a = search(
        &s,
        &dana,
        at,
        &[("q", "회의"), ("room_id", &Uuid::new_v4().to_string())],
    )
    .await;
    assert!(
        ids(&a).is_empty(),
        "a room that does not exist: the same answer"
    );

    // Bora leaves, chul is kicked: nothing from the room, filtered or not.
    s.as_user(&bora)
        .remove_member(shared, bora.id)
        .await
        .expect("leave");
    s.as_user(&minsu)
        .remove_member(shared, chul.id)
        .await
        .expect("kick");
    let posted = s
        .post(&minsu, shared, "회의 자료는 드라이브에 있어요")
        .await;
    let (second, at) = (posted.message_id.0, posted.position);
    for user in [&bora, &chul] {
        assert!(ids(&search(&s, user, at, &[("q", "회의")]).await).is_empty());
        assert!(ids(&search(
            &s,
            user,
            at,
            &[("q", "회의"), ("room_id", &shared.to_string())]
        )
        .await)
        .is_empty());
    }
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "회의")]).await),
        set(&[&first, &second])
    );

    // Added back: the whole history, including what was said meanwhile.
    let added = s
        .as_user(&minsu)
        .add_member(shared, &AddMemberRequest { user_id: bora.id })
        .await
        .expect("add back")
        .position;
    let a = search(
        &s,
        &bora,
        added,
        &[("q", "회의"), ("room_id", &shared.to_string())],
    )
    .await;
    assert_eq!(ids(&a), set(&[&first, &second]));
    assert!(found(a).position >= added);
}

#[tokio::test]
async fn pages_snippets_and_errors() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let room = s.room(&minsu, "검색 테스트", &[]).await.room_id;
    let mut posted = Vec::new();
    let mut at = 0;
    for i in 0..7 {
        let answer = s.post(&minsu, room, &format!("페이지 테스트 {i}번")).await;
        posted.push(answer.message_id.0);
        at = answer.position;
    }
    let answer = s
        .post(
            &minsu,
            room,
            "<script>alert(1)</script> 보안 점검 & \"인용\"",
        )
        .await;
    let (xss, at2) = (answer.message_id.0, answer.position);
    at = at.max(at2);

    // Pagination: 3 + 3 + 1, no overlap, newest first with sort=recent.
    for sort in ["relevance", "recent"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut params = vec![("q", "페이지"), ("limit", "3"), ("sort", sort)];
            if let Some(c) = &cursor {
                params.push(("cursor", c.as_str()));
            }
            let a = found(search(&s, &minsu, at, &params).await);
            pages += 1;
            assert!(a.hits.len() <= 3);
            seen.extend(a.hits.iter().map(|h| h.message_id));
            if sort == "recent" {
                let seqs: Vec<u64> = a.hits.iter().map(|h| h.seq).collect();
                assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
            }
            match &a.next_cursor {
                Some(c) => cursor = Some(c.clone()),
                None => break,
            }
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 3, "{sort}");
        assert_eq!(seen.len(), 7, "{sort}: {seen:?}");
        assert_eq!(
            seen.iter().collect::<BTreeSet<_>>(),
            posted.iter().collect(),
            "{sort}"
        );
        if sort == "recent" {
            assert_eq!(seen.first(), posted.last(), "newest first");
        }
    }

    // Snippets mark matches and escape everything else.
    let a = search(&s, &minsu, at, &[("q", "보안")]).await;
    assert_eq!(ids(&a), set(&[&xss]));
    // The answer type has every field (room_id, seq, author_id,
    // created_at, score): it decoding is the check that none is missing.
    let hit = &found(a).hits[0];
    let snippet = &hit.snippet;
    assert!(snippet.contains("<mark>보안</mark>"), "{snippet}");
    assert!(snippet.contains("&lt;script&gt;"), "{snippet}");
    assert!(!snippet.contains("<script>"), "{snippet}");
    assert!(snippet.contains("&amp;"), "{snippet}");
    assert_eq!(hit.room_id, room.0);
    assert_eq!(hit.author_id, minsu.id.0);

    // Queries it cannot search are 422 invalid_query.
    let long = "가".repeat(257);
    for q in ["", "   ", "\"회의 자료", "-회의", long.as_str()] {
        assert_refused(
            search(&s, &minsu, at, &[("q", q)]).await,
            422,
            "invalid_query",
        );
    }
    s.call(Method::GET, "/v1/search/messages")
        .auth(&minsu)
        .send()
        .await
        .expect(422, Some("invalid_query"));
    found(search(&s, &minsu, at, &[("q", &"가".repeat(256))]).await);
    let page = |extra: (&'static str, &'static str)| {
        let (s, minsu) = (&s, &minsu);
        async move { search(s, minsu, at, &[("q", "페이지"), extra]).await }
    };
    assert_refused(page(("cursor", "bm9wZQ")).await, 422, "invalid_cursor");
    assert_refused(page(("limit", "0")).await, 422, "invalid_limit");
    assert_refused(page(("limit", "201")).await, 422, "invalid_limit");
    for bad in [
        ("room_id", "x"),
        ("before", "yesterday"),
        ("sort", "best"),
        ("foo", "1"),
    ] {
        assert_refused(page(bad).await, 400, "invalid_request");
    }
    // No token: 401.
    assert_refused(
        s.api.search(&[("q", "페이지")]).await,
        401,
        "unauthenticated",
    );
    // A position the index has not reached: 503 with Retry-After, not an
    // answer that silently misses messages.
    let a = s
        .call(Method::GET, &path(&[("q", "페이지")]))
        .auth(&minsu)
        .at(at + 1_000_000)
        .header("x-max-wait-ms", 50)
        .send()
        .await;
    a.expect(503, Some("projection_lagging"));
    assert!(a.headers.get("retry-after").is_some());
}

/// The hits of a 200 answer: message id and score, in order.
#[track_caller]
fn ranked(a: Result<Read<SearchResponse>>) -> Vec<(Uuid, f32)> {
    let a = found(a);
    a.hits.iter().map(|h| (h.message_id, h.score)).collect()
}

/// Issue 13, finding 4: what is said in a room the caller cannot read moves
/// neither the caller's scores nor the order of their hits.
#[tokio::test]
async fn scores_and_ranks_ignore_rooms_the_caller_cannot_read() {
    let s = start().await;
    let (minsu, dana) = (s.user("minsu").await, s.user("dana").await);
    let mine = s.room(&minsu, "검색 테스트", &[]).await.room_id;
    let theirs = s.room(&dana, "검색 테스트", &[]).await.room_id;
    // Two hits of "zyxquor plumbus" whose order says which word is rarer.
    s.post(&minsu, mine, "zyxquor").await;
    let posted = s.post(&minsu, mine, "zyxquor zyxquor plumbus").await;
    let (heavy_z, _) = (posted.message_id.0, posted.position);
    let posted = s.post(&minsu, mine, "zyxquor plumbus plumbus").await;
    let (heavy_p, _) = (posted.message_id.0, posted.position);
    for _ in 0..3 {
        s.post(&minsu, mine, "plumbus only here").await;
    }
    let posted = s.post(&minsu, mine, "회의 자료 공유합니다").await;
    let (_, at) = (posted.message_id.0, posted.position);
    let seen = |at: i64| {
        let (s, minsu) = (&s, &minsu);
        async move {
            let mut out = Vec::new();
            for q in ["zyxquor", "zyxquor plumbus", "회의"] {
                out.push(ranked(search(s, minsu, at, &[("q", q)]).await));
            }
            out
        }
    };
    let before = seen(at).await;
    let order: Vec<&Uuid> = before[1].iter().map(|(id, _)| id).collect();
    assert_eq!(
        order,
        vec![&heavy_z, &heavy_p],
        "zyxquor is rarer in minsu's room"
    );

    let mut at = at;
    for i in 0..30 {
        at = s
            .post(&dana, theirs, &format!("zyxquor 회의 {i}"))
            .await
            .position;
    }
    assert_eq!(seen(at).await, before, "30 hidden uses of the word");
    for i in 0..200 {
        let body =
            format!("점심 메뉴 {i}번 후보는 김치찌개 된장찌개 비빔밥 lunch options are long");
        at = s.post(&dana, theirs, &body).await.position;
    }
    assert_eq!(seen(at).await, before, "200 hidden unrelated messages");

    // Dana, added to minsu's room, reads both: for her zyxquor is common.
    let added = s
        .as_user(&minsu)
        .add_member(mine, &AddMemberRequest { user_id: dana.id })
        .await
        .expect("add dana")
        .position;
    let for_dana = ranked(search(&s, &dana, added, &[("q", "zyxquor plumbus")]).await);
    let order: Vec<&Uuid> = for_dana.iter().map(|(id, _)| id).collect();
    assert_eq!(order, vec![&heavy_p, &heavy_z]);
}

#[tokio::test]
async fn processes_without_an_index_do_not_serve_search() {
    let s = support::start_with(
        testkit::TestEnv::new().await,
        cotalk::config::Role::Command,
        None,
    )
    .await;
    let minsu = s.user("minsu").await;
    assert_refused(
        s.as_user(&minsu).search(&[("q", "회의")]).await,
        404,
        "not_found",
    );
}
