//! `GET /v1/search/messages` end to end through HTTP: messages posted,
//! edited and deleted through the command routes are found (or not) through
//! the search index the same process keeps, and only in rooms the caller is
//! a member of at the time of the search.
//!
//! The analyzer's recall/precision on a 225-message hand-judged corpus and
//! the kill -9 durability test live in `search/tests`.

mod support;

use domain::RoomId;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::{start, Answer, Server, User};

/// Percent-encode a query-string value (everything but unreserved bytes).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn path(params: &[(&str, &str)]) -> String {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    format!("/v1/search/messages?{}", qs.join("&"))
}

/// Search as `user`, reading at least `at`.
async fn search(s: &Server, user: &User, at: i64, params: &[(&str, &str)]) -> Answer {
    s.call(Method::GET, &path(params))
        .auth(user)
        .at(at)
        .send()
        .await
}

/// The message ids of a 200 answer.
#[track_caller]
fn ids(a: &Answer) -> BTreeSet<String> {
    a.expect(200, None);
    a.body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["message_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A room of `owner` with `members`: its id and the position of its creation.
async fn room(s: &Server, owner: &User, members: &[&User]) -> (RoomId, i64) {
    let created = s.room(owner, "검색 테스트", members).await;
    (created.room_id, created.position)
}

fn set(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn korean_particles_compounds_and_english_stems_are_found() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let (room, _) = room(&s, &minsu, &[]).await;
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
        let (id, p) = (posted.message_id.to_string(), posted.position);
        m.push(id);
        at = p;
    }

    let a = search(&s, &minsu, at, &[("q", "회의")]).await;
    assert_eq!(
        ids(&a),
        set(&[&m[0], &m[1], &m[2], &m[3], &m[4]]),
        "회의 finds every particle form and the compound: {}",
        a.body
    );
    assert!(a.position() >= at, "X-Position covers the writes");
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
    let (room, _) = room(&s, &minsu, &[]).await;
    let posted = s.post(&minsu, room, "배포 일정은 금요일입니다").await;
    let (id, _) = (posted.message_id.to_string(), posted.position);
    let posted = s.post(&minsu, room, "금요일 저녁 회식").await;
    let (other, at) = (posted.message_id.to_string(), posted.position);
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "금요일")]).await),
        set(&[&id, &other])
    );

    let edit = s
        .call(Method::PATCH, &format!("/v1/rooms/{room}/messages/{id}"))
        .auth(&minsu)
        .json(json!({"body": "릴리스 일정은 월요일입니다"}))
        .send()
        .await;
    edit.expect(200, None);
    let at = edit.position();
    assert!(ids(&search(&s, &minsu, at, &[("q", "배포")]).await).is_empty());
    assert_eq!(
        ids(&search(&s, &minsu, at, &[("q", "금요일")]).await),
        set(&[&other]),
        "the old text no longer matches"
    );
    let a = search(&s, &minsu, at, &[("q", "릴리스")]).await;
    assert_eq!(ids(&a), set(&[&id]));
    let snippet = a.body["hits"][0]["snippet"].as_str().unwrap_or_default();
    assert!(
        snippet.starts_with("<mark>릴리스</mark> 일정은"),
        "{snippet}"
    );
    assert_eq!(a.body["hits"][0]["seq"], 1);

    let del = s
        .call(Method::DELETE, &format!("/v1/rooms/{room}/messages/{id}"))
        .auth(&minsu)
        .send()
        .await;
    del.expect(200, None);
    let at = del.position();
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
    let (shared, _) = room(&s, &minsu, &[&bora, &chul]).await;
    let (dana_room, _) = room(&s, &dana, &[]).await;
    let posted = s.post(&minsu, shared, "프로젝트 회의는 내일입니다").await;
    let (first, _) = (posted.message_id.to_string(), posted.position);
    let posted = s.post(&dana, dana_room, "다나의 비밀 회의 메모").await;
    let (_, at) = (posted.message_id.to_string(), posted.position);
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
    assert!(a.body["next_cursor"].is_null());
    let a = search(
        &s,
        &dana,
        at,
        &[
            ("q", "회의"),
            ("room_id", &uuid::Uuid::new_v4().to_string()),
        ],
    )
    .await;
    assert!(
        ids(&a).is_empty(),
        "a room that does not exist: the same answer"
    );

    // Bora leaves, chul is kicked: nothing from the room, filtered or not.
    let left = s
        .call(
            Method::DELETE,
            &format!("/v1/rooms/{shared}/members/{}", bora.id),
        )
        .auth(&bora)
        .send()
        .await;
    left.expect(200, None);
    let kicked = s
        .call(
            Method::DELETE,
            &format!("/v1/rooms/{shared}/members/{}", chul.id),
        )
        .auth(&minsu)
        .send()
        .await;
    kicked.expect(200, None);
    let posted = s
        .post(&minsu, shared, "회의 자료는 드라이브에 있어요")
        .await;
    let (second, at) = (posted.message_id.to_string(), posted.position);
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
        .call(Method::POST, &format!("/v1/rooms/{shared}/members"))
        .auth(&minsu)
        .json(json!({"user_id": bora.id}))
        .send()
        .await;
    added.expect(201, None);
    let a = search(
        &s,
        &bora,
        added.position(),
        &[("q", "회의"), ("room_id", &shared.to_string())],
    )
    .await;
    assert_eq!(ids(&a), set(&[&first, &second]));
    assert!(a.position() >= added.position());
}

#[tokio::test]
async fn pages_snippets_and_errors() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let (room, _) = room(&s, &minsu, &[]).await;
    let mut posted = Vec::new();
    let mut at = 0;
    for i in 0..7 {
        let answer = s.post(&minsu, room, &format!("페이지 테스트 {i}번")).await;
        posted.push(answer.message_id.to_string());
        at = answer.position;
    }
    let answer = s
        .post(
            &minsu,
            room,
            "<script>alert(1)</script> 보안 점검 & \"인용\"",
        )
        .await;
    let (xss, at2) = (answer.message_id.to_string(), answer.position);
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
            let a = search(&s, &minsu, at, &params).await;
            a.expect(200, None);
            pages += 1;
            let hits = a.body["hits"].as_array().unwrap().clone();
            assert!(hits.len() <= 3);
            seen.extend(
                hits.iter()
                    .map(|h| h["message_id"].as_str().unwrap().to_owned()),
            );
            if sort == "recent" {
                let seqs: Vec<u64> = hits.iter().map(|h| h["seq"].as_u64().unwrap()).collect();
                assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
            }
            match a.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
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
    let hit: &Value = &a.body["hits"][0];
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>보안</mark>"), "{snippet}");
    assert!(snippet.contains("&lt;script&gt;"), "{snippet}");
    assert!(!snippet.contains("<script>"), "{snippet}");
    assert!(snippet.contains("&amp;"), "{snippet}");
    for key in ["room_id", "seq", "author_id", "created_at", "score"] {
        assert!(!hit[key].is_null(), "{key} in {hit}");
    }
    assert_eq!(hit["room_id"], room.to_string());
    assert_eq!(hit["author_id"], minsu.id.to_string());

    // Queries it cannot search are 422 invalid_query.
    let long = "가".repeat(257);
    for q in ["", "   ", "\"회의 자료", "-회의", long.as_str()] {
        search(&s, &minsu, at, &[("q", q)])
            .await
            .expect(422, Some("invalid_query"));
    }
    s.call(Method::GET, "/v1/search/messages")
        .auth(&minsu)
        .send()
        .await
        .expect(422, Some("invalid_query"));
    search(&s, &minsu, at, &[("q", &"가".repeat(256))])
        .await
        .expect(200, None);
    search(&s, &minsu, at, &[("q", "페이지"), ("cursor", "bm9wZQ")])
        .await
        .expect(422, Some("invalid_cursor"));
    search(&s, &minsu, at, &[("q", "페이지"), ("limit", "0")])
        .await
        .expect(422, Some("invalid_limit"));
    search(&s, &minsu, at, &[("q", "페이지"), ("limit", "201")])
        .await
        .expect(422, Some("invalid_limit"));
    for bad in [
        ("room_id", "x"),
        ("before", "yesterday"),
        ("sort", "best"),
        ("foo", "1"),
    ] {
        search(&s, &minsu, at, &[("q", "페이지"), bad])
            .await
            .expect(400, Some("invalid_request"));
    }
    // No token: 401.
    s.call(Method::GET, &path(&[("q", "페이지")]))
        .send()
        .await
        .expect(401, Some("unauthenticated"));
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
fn ranked(a: &Answer) -> Vec<(String, Value)> {
    a.expect(200, None);
    let hits = a.body["hits"].as_array().expect("hits");
    hits.iter()
        .map(|h| {
            (
                h["message_id"].as_str().unwrap().to_owned(),
                h["score"].clone(),
            )
        })
        .collect()
}

/// Issue 13, finding 4: what is said in a room the caller cannot read moves
/// neither the caller's scores nor the order of their hits.
#[tokio::test]
async fn scores_and_ranks_ignore_rooms_the_caller_cannot_read() {
    let s = start().await;
    let (minsu, dana) = (s.user("minsu").await, s.user("dana").await);
    let (mine, _) = room(&s, &minsu, &[]).await;
    let (theirs, _) = room(&s, &dana, &[]).await;
    // Two hits of "zyxquor plumbus" whose order says which word is rarer.
    s.post(&minsu, mine, "zyxquor").await;
    let posted = s.post(&minsu, mine, "zyxquor zyxquor plumbus").await;
    let (heavy_z, _) = (posted.message_id.to_string(), posted.position);
    let posted = s.post(&minsu, mine, "zyxquor plumbus plumbus").await;
    let (heavy_p, _) = (posted.message_id.to_string(), posted.position);
    for _ in 0..3 {
        s.post(&minsu, mine, "plumbus only here").await;
    }
    let posted = s.post(&minsu, mine, "회의 자료 공유합니다").await;
    let (_, at) = (posted.message_id.to_string(), posted.position);
    let seen = |at: i64| {
        let (s, minsu) = (&s, &minsu);
        async move {
            let mut out = Vec::new();
            for q in ["zyxquor", "zyxquor plumbus", "회의"] {
                out.push(ranked(&search(s, minsu, at, &[("q", q)]).await));
            }
            out
        }
    };
    let before = seen(at).await;
    let order: Vec<&String> = before[1].iter().map(|(id, _)| id).collect();
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
        .call(Method::POST, &format!("/v1/rooms/{mine}/members"))
        .auth(&minsu)
        .json(json!({"user_id": dana.id}))
        .send()
        .await;
    added.expect(201, None);
    let for_dana = ranked(&search(&s, &dana, added.position(), &[("q", "zyxquor plumbus")]).await);
    let order: Vec<&String> = for_dana.iter().map(|(id, _)| id).collect();
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
    s.call(Method::GET, &path(&[("q", "회의")]))
        .auth(&minsu)
        .send()
        .await
        .expect(404, Some("not_found"));
}
