//! Search operators through HTTP (`from:`, `in:`, `has:`, `mentions:me`,
//! `before:`/`after:`/`on:` in the `tz` time zone), queries of operators
//! only, the 422s naming a bad operator, and what a caller hid or the users
//! they blocked never found nor taking a place on a page.
//!
//! Day boundaries at a chosen instant (23:30 KST) are checked at the index
//! in `search/tests/operators.rs`, where the time of a message can be set;
//! here the server stamps messages, so the test reads the stamp and asks
//! for days of two zones 25 hours apart, which always differ.

mod support;

use chrono::{DateTime, Duration, Utc};
use contract::commands::PostMessageRequest;
use contract::queries::SearchResponse;
use domain::{RoomId, UserId};
use reqwest::Method;
use std::collections::BTreeSet;
use support::{start, Server, User};
use uuid::Uuid;

fn path(params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    format!("/v1/search/messages?{}", query.finish())
}

/// The message ids found by `user` for `params`, reading at least `at`.
async fn found(s: &Server, user: &User, at: i64, params: &[(&str, &str)]) -> BTreeSet<Uuid> {
    let answer = s.as_user(user).at(at).search(params).await;
    match answer {
        Ok(a) => a.hits.iter().map(|h| h.message_id).collect(),
        Err(e) => panic!("search {params:?}: {e}"),
    }
}

fn set(items: &[Uuid]) -> BTreeSet<Uuid> {
    items.iter().copied().collect()
}

/// A small PNG the upload route takes as an image.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a png");
    out.into_inner()
}

fn pdf() -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..600).map(|i| (i % 251) as u8));
    v
}

/// Post with attachments (uploaded first) and mentions; (id, position).
async fn post_with(
    s: &Server,
    user: &User,
    room: RoomId,
    body: &str,
    files: Vec<Vec<u8>>,
    mentions: &[UserId],
) -> (Uuid, i64) {
    let api = s.as_user(user);
    let mut attachments = Vec::new();
    for bytes in files {
        let stored = api
            .upload_attachment(room, bytes, None)
            .await
            .expect("upload");
        attachments.push(stored.attachment_id);
    }
    let posted = api
        .post_message(
            room,
            &PostMessageRequest {
                attachments,
                mentions: mentions.to_vec(),
                ..PostMessageRequest::text(body)
            },
        )
        .await
        .expect("post");
    (posted.message_id.0, posted.position)
}

#[tokio::test]
async fn each_operator_finds_what_it_names() {
    let s = start().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob_kim").await;
    let carol = s.user("carol").await;
    let team = s.room(&alice, "팀", &[&bob, &carol]).await.room_id;
    let pair = s.room(&alice, "둘", &[&carol]).await.room_id;
    let plain = s
        .post(&alice, team, "회의 자료 공유합니다")
        .await
        .message_id
        .0;
    let (image, _) = post_with(&s, &bob, team, "회의 사진", vec![png()], &[]).await;
    let (file, _) = post_with(&s, &alice, pair, "계약서", vec![pdf()], &[carol.id]).await;
    let (link, at) = post_with(
        &s,
        &carol,
        pair,
        "회의록은 https://docs.example.com/a 에",
        vec![],
        &[],
    )
    .await;
    let in_pair = format!("in:{pair}");
    let cases: Vec<(&User, String, Vec<Uuid>)> = vec![
        (&carol, "from:alice".into(), vec![plain, file]),
        (&carol, "from:@Alice 회의".into(), vec![plain]),
        (
            &carol,
            "from:alice from:bob_kim".into(),
            vec![plain, image, file],
        ),
        (&carol, "from:me".into(), vec![link]),
        (&carol, "from:nobody_at_all".into(), vec![]),
        (&carol, in_pair.clone(), vec![file, link]),
        (&carol, format!("회의 {in_pair}"), vec![link]),
        (&bob, in_pair.clone(), vec![]),
        (&carol, "has:file".into(), vec![image, file]),
        (&carol, "has:image".into(), vec![image]),
        (&carol, "has:link".into(), vec![link]),
        (&carol, "has:image 회의".into(), vec![image]),
        (&carol, "mentions:me".into(), vec![file]),
        (&bob, "mentions:me".into(), vec![]),
        (&carol, "회의 -자료".into(), vec![image, link]),
    ];
    for (user, q, want) in cases {
        assert_eq!(found(&s, user, at, &[("q", &q)]).await, set(&want), "{q}");
    }
    // `room_id` and `in:` both narrow.
    let team_s = team.to_string();
    assert_eq!(
        found(&s, &carol, at, &[("q", &in_pair), ("room_id", &team_s)]).await,
        set(&[])
    );
}

#[tokio::test]
async fn days_are_days_of_the_tz_parameter() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let room = s.room(&minsu, "날짜", &[]).await.room_id;
    let posted = s.post(&minsu, room, "마감 일정").await;
    let id = posted.message_id.0;
    let hit = s
        .as_user(&minsu)
        .at(posted.position)
        .search(&[("q", "마감")])
        .await
        .expect("search");
    let created: DateTime<Utc> = hit.hits[0].created_at;
    let day_in = |tz: &str| {
        let tz: search::Tz = tz.parse().expect("a zone");
        created.with_timezone(&tz).date_naive()
    };
    let (east, west) = (day_in("Pacific/Kiritimati"), day_in("Pacific/Pago_Pago"));
    assert_ne!(east, west, "25 hours apart, never the same day");
    let at = posted.position;
    let on = |d: chrono::NaiveDate| format!("on:{d}");
    for (day, tz, want) in [
        (east, "Pacific/Kiritimati", vec![id]),
        (east, "Pacific/Pago_Pago", vec![]),
        (west, "Pacific/Pago_Pago", vec![id]),
    ] {
        let q = on(day);
        assert_eq!(
            found(&s, &minsu, at, &[("q", &q), ("tz", tz)]).await,
            set(&want),
            "{q} {tz}"
        );
    }
    // Without `tz` the days are Seoul's.
    let seoul = day_in("Asia/Seoul");
    assert_eq!(
        found(&s, &minsu, at, &[("q", &on(seoul))]).await,
        set(&[id])
    );
    let before = format!(
        "after:{} before:{}",
        seoul - Duration::days(1),
        seoul + Duration::days(1)
    );
    assert_eq!(found(&s, &minsu, at, &[("q", &before)]).await, set(&[id]));
    let after = format!("마감 after:{seoul}");
    assert_eq!(found(&s, &minsu, at, &[("q", &after)]).await, set(&[]));
    let earlier = format!("before:{seoul}");
    assert_eq!(found(&s, &minsu, at, &[("q", &earlier)]).await, set(&[]));
}

#[tokio::test]
async fn operators_only_lists_the_newest_first_page_by_page() {
    let s = start().await;
    let jiwoo = s.user("jiwoo").await;
    let room = s.room(&jiwoo, "기록", &[]).await.room_id;
    let mut posted = Vec::new();
    let mut at = 0;
    for i in 0..7 {
        let p = s.post(&jiwoo, room, &format!("메모 {i}")).await;
        posted.push(p.message_id.0);
        at = p.position;
    }
    posted.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("q", "from:me"), ("limit", "3")];
        if let Some(c) = &cursor {
            params.push(("cursor", c));
        }
        let page: SearchResponse = s
            .as_user(&jiwoo)
            .at(at)
            .search(&params)
            .await
            .expect("search")
            .body;
        assert!(page.hits.iter().all(|h| h.score == 0.0));
        seen.extend(page.hits.iter().map(|h| h.message_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, posted, "newest first, no page overlapping");
}

#[tokio::test]
async fn a_bad_operator_is_422_naming_it() {
    let s = start().await;
    let user = s.user("hana").await;
    let cases = [
        ("has:video", "has:"),
        ("회의 has:", "has:"),
        ("from:x", "from:"),
        ("in:not-a-room", "in:"),
        ("mentions:bob", "mentions:"),
        ("before:yesterday", "before:"),
        ("after:2026-02-30", "after:"),
        ("on:26-01-01", "on:"),
        ("title:foo", "title:"),
        ("회의 -from:hana", "from:"),
    ];
    for (q, operator) in cases {
        let a = s
            .call(Method::GET, &path(&[("q", q)]))
            .auth(&user)
            .send()
            .await;
        a.expect(422, Some("invalid_query"));
        let detail = &a.problem.as_ref().expect("a problem").detail;
        assert!(detail.contains(&format!("`{operator}`")), "{q}: {detail}");
    }
    let a = s
        .call(
            Method::GET,
            &path(&[("q", "on:2026-01-01"), ("tz", "Mars/Olympus")]),
        )
        .auth(&user)
        .send()
        .await;
    a.expect(422, Some("invalid_query"));
    let detail = &a.problem.as_ref().expect("a problem").detail;
    assert!(
        detail.contains("Mars/Olympus") && detail.contains("tz"),
        "{detail}"
    );
    // Quoted, links and times: text, as before.
    for q in ["\"title:foo\"", "https://example.com", "12:30"] {
        s.call(Method::GET, &path(&[("q", q)]))
            .auth(&user)
            .send()
            .await
            .expect(200, None);
    }
}

#[tokio::test]
async fn hidden_and_blocked_are_never_found_and_pages_stay_full() {
    let s = start().await;
    let me = s.user("yuna").await;
    let friend = s.user("seojun").await;
    let pest = s.user("pest").await;
    let room = s.room(&me, "공지방", &[&friend, &pest]).await.room_id;
    let mut mine = Vec::new();
    let mut at = 0;
    for i in 0..12 {
        let author = if i % 4 == 3 { &pest } else { &friend };
        let p = s.post(author, room, &format!("배포 공지 {i}")).await;
        at = p.position;
        if i % 4 == 3 {
            continue;
        }
        if i % 2 == 0 {
            at = s
                .as_user(&me)
                .hide_message(room, p.message_id)
                .await
                .expect("hide")
                .position;
        } else {
            mine.push(p.message_id.0);
        }
    }
    at = at.max(s.as_user(&me).block(pest.id).await.expect("block").position);
    for q in ["배포", "from:seojun from:pest", "공지 -없는말"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = vec![("q", q), ("limit", "2")];
            if let Some(c) = &cursor {
                params.push(("cursor", c));
            }
            let page = s
                .as_user(&me)
                .at(at)
                .search(&params)
                .await
                .expect("search")
                .body;
            if page.next_cursor.is_some() {
                assert_eq!(page.hits.len(), 2, "{q}: a page with more after it is full");
            }
            seen.extend(page.hits.iter().map(|h| h.message_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(set(&seen), set(&mine), "{q}");
    }
    // Hiding is the hider's own: the others still find everything.
    assert_eq!(found(&s, &friend, at, &[("q", "배포")]).await.len(), 12);
}
