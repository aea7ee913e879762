//! Operators, hidden messages and blocked authors at the index: what each
//! operator finds, that edits keep what an operator needs, and that what a
//! caller hid or the authors they blocked never take a place on a page.

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use common::{ids, open, req, room, user, Log};
use domain::attachment::Attachment;
use domain::{AttachmentId, MessageId};
use search::{SearchRequest, SortOrder};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

fn attachment(n: u128, content_type: &str) -> Attachment {
    Attachment {
        attachment_id: AttachmentId(Uuid::from_u128(n)),
        content_type: content_type.into(),
        size: 10,
        sha256: "00".into(),
        name: None,
        width: None,
        height: None,
    }
}

fn set(v: &[MessageId]) -> BTreeSet<MessageId> {
    v.iter().copied().collect()
}

#[test]
fn each_operator_finds_what_it_names() {
    let (r1, r2) = (room(1), room(2));
    let (alice, bob, carol) = (user(1), user(2), user(3));
    let mut log = Log::default();
    let plain = log.post(r1, alice, "회의 자료 공유합니다");
    let image = log.post_with(
        r1,
        bob,
        "회의 사진",
        vec![attachment(1, "image/png")],
        vec![],
    );
    let file = log.post_with(
        r2,
        alice,
        "",
        vec![attachment(2, "application/pdf")],
        vec![carol],
    );
    let link = log.post(r2, carol, "회의록은 https://docs.example.com/a 에");
    let www = log.post(r1, bob, "see www.example.com for the 회의");
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    let rooms = [r1, r2];
    let names = HashMap::from([("alice".to_owned(), alice), ("bob".to_owned(), bob)]);
    let find = |q: &str, viewer| {
        set(&ids(
            &index,
            &SearchRequest {
                viewer: Some(viewer),
                usernames: names.clone(),
                ..req(q, &rooms)
            },
        ))
    };
    assert_eq!(find("from:alice", carol), set(&[plain, file]));
    assert_eq!(find("회의 from:bob", carol), set(&[image, www]));
    assert_eq!(
        find("from:alice from:bob", carol),
        set(&[plain, image, file, www])
    );
    assert_eq!(find("from:me", carol), set(&[link]));
    assert_eq!(find("from:nobody_here", carol), set(&[]));
    assert_eq!(find(&format!("in:{}", r2.0), carol), set(&[file, link]));
    assert_eq!(find(&format!("회의 in:{}", r2.0), carol), set(&[link]));
    assert_eq!(find(&format!("in:{}", room(9).0), carol), set(&[]));
    assert_eq!(find("has:file", carol), set(&[image, file]));
    assert_eq!(find("has:image", carol), set(&[image]));
    assert_eq!(find("has:link", carol), set(&[link, www]));
    assert_eq!(find("has:link has:file", carol), set(&[]));
    assert_eq!(find("mentions:me", carol), set(&[file]));
    assert_eq!(find("mentions:me", bob), set(&[]));
    // Operators only: every message of the caller's rooms, newest first.
    let page = index
        .search(&SearchRequest {
            usernames: names.clone(),
            ..req("from:alice from:bob", &rooms)
        })
        .unwrap();
    let newest_first: Vec<MessageId> = page.hits.iter().map(|h| h.message_id).collect();
    assert_eq!(newest_first, vec![www, file, image, plain]);
    assert!(page.hits.iter().all(|h| h.score == 0.0));
}

#[test]
fn edits_keep_attachments_and_mentions_and_recount_links() {
    let r = room(1);
    let mut log = Log::default();
    let m = log.post_with(
        r,
        user(1),
        "사진 https://x.kr",
        vec![attachment(1, "image/jpeg")],
        vec![user(2)],
    );
    log.edit(m, "사진 (링크 지움)");
    let n = log.post(r, user(1), "링크 없음");
    log.edit(n, "링크 생김 http://y.kr");
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    let as_user2 = |q: &str| {
        set(&ids(
            &index,
            &SearchRequest {
                viewer: Some(user(2)),
                ..req(q, &[r])
            },
        ))
    };
    assert_eq!(as_user2("has:image mentions:me"), set(&[m]));
    assert_eq!(as_user2("has:link"), set(&[n]));
}

/// A message posted at `at` (UTC) in a fresh index; the days that find it.
fn days_finding(at: &str, tz: Option<search::Tz>, days: &[&str]) -> Vec<String> {
    let at: DateTime<Utc> = at.parse().unwrap();
    let mut log = Log::default();
    let minutes = (at - Log::t0()).num_minutes();
    log.wait(minutes);
    let id = log.post(room(1), user(1), "회의");
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    let mut out = Vec::new();
    for day in days {
        for op in ["on", "before", "after"] {
            let found = ids(
                &index,
                &SearchRequest {
                    tz,
                    ..req(&format!("{op}:{day}"), &[room(1)])
                },
            );
            if found == vec![id] {
                out.push(format!("{op}:{day}"));
            }
        }
    }
    out
}

#[test]
fn days_are_the_time_zone_s_days() {
    // 23:30 in Seoul on 1 Feb 2026 is 14:30 UTC the same day; 00:30 in
    // Seoul on 2 Feb is still 1 Feb in UTC.
    let days = ["2026-01-31", "2026-02-01", "2026-02-02"];
    assert_eq!(
        days_finding("2026-02-01T14:30:00Z", None, &days),
        vec!["after:2026-01-31", "on:2026-02-01", "before:2026-02-02"]
    );
    assert_eq!(
        days_finding("2026-02-01T15:30:00Z", None, &days),
        vec!["after:2026-01-31", "after:2026-02-01", "on:2026-02-02"]
    );
    let utc = Some(search::operators::parse_tz("UTC").unwrap());
    assert_eq!(
        days_finding("2026-02-01T15:30:00Z", utc, &days),
        vec!["after:2026-01-31", "on:2026-02-01", "before:2026-02-02"]
    );
    let day = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    assert!(day.succ_opt().is_some());
}

#[test]
fn hidden_and_blocked_never_take_a_place_on_a_page() {
    let r = room(1);
    let (me, other, pest) = (user(1), user(2), user(3));
    let mut log = Log::default();
    let (mut mine, mut hidden) = (Vec::new(), Vec::new());
    for i in 0..30 {
        let author = if i % 3 == 0 { pest } else { other };
        let id = log.post(r, author, &format!("배포 공지 {i}"));
        if author == other && i % 2 == 0 {
            log.hide(id, me);
            hidden.push(id);
        } else if author == other {
            mine.push(id);
        }
    }
    // Hiding twice changes nothing; another's hiding is theirs.
    log.hide(hidden[0], me);
    log.hide(mine[0], other);
    log.hide(mine[0], other);
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
    for sort in [SortOrder::Relevance, SortOrder::Recent] {
        for q in ["배포", "on:2026-01-01", "배포 -없는말"] {
            let mut request = SearchRequest {
                viewer: Some(me),
                excluded_authors: vec![pest],
                limit: 3,
                sort,
                ..req(q, &[r])
            };
            let mut seen = Vec::new();
            loop {
                let page = index.search(&request).unwrap();
                if page.next_cursor.is_some() {
                    assert_eq!(page.hits.len(), 3, "{q}: a page is full");
                }
                seen.extend(page.hits.iter().map(|h| h.message_id));
                match page.next_cursor {
                    Some(c) => request.cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(set(&seen), set(&mine), "{q} {sort:?}");
        }
    }
    // Nobody else loses them.
    let theirs = ids(
        &index,
        &SearchRequest {
            viewer: Some(other),
            ..req("배포", &[r])
        },
    );
    assert_eq!(theirs.len(), 29, "all but the one `other` hid");
}

#[test]
fn hiding_is_part_of_the_digest_and_survives_a_rebuild() {
    let r = room(1);
    let mut log = Log::default();
    let id = log.post(r, user(1), "회의");
    let before = log.events.clone();
    log.hide(id, user(2));
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open(d1.path());
    a.apply(&before).unwrap();
    a.commit().unwrap();
    let without = a.digest().unwrap();
    a.apply(&log.events).unwrap();
    a.commit().unwrap();
    let with = a.digest().unwrap();
    assert_ne!(without, with);
    // A rebuild in other batches gives the same documents.
    let mut b = open(d2.path());
    for e in log.events.chunks(1) {
        b.apply(e).unwrap();
        b.commit().unwrap();
    }
    assert_eq!(b.digest().unwrap(), with);
}
