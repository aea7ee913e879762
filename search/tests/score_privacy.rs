//! Scores and ranks depend only on messages the caller can read (issue 13,
//! finding 4): what is said in a room the caller is not in must move neither
//! a score nor the order of the caller's hits, or both would tell the caller
//! how often a word is used behind closed doors.

mod common;

use common::{open, req, room, user, Log};
use domain::{MessageId, RoomId};
use search::{SearchIndex, SearchRequest};

/// Every hit of a request: id and exact score, in order.
fn ranked_by(index: &SearchIndex, r: &SearchRequest) -> Vec<(MessageId, u32)> {
    index
        .search(r)
        .unwrap()
        .hits
        .iter()
        .map(|h| (h.message_id, h.score.to_bits()))
        .collect()
}

/// Every hit of `q` for a member of `rooms`.
fn ranked(index: &SearchIndex, q: &str, rooms: &[RoomId]) -> Vec<(MessageId, u32)> {
    ranked_by(index, &req(q, rooms))
}

fn commit(log: &Log, index: &mut SearchIndex) {
    index.apply(&log.events).unwrap();
    index.commit().unwrap();
}

fn ids(hits: &[(MessageId, u32)]) -> Vec<MessageId> {
    hits.iter().map(|(id, _)| *id).collect()
}

/// X's room and what X sees in it, before anything happens elsewhere.
struct Setup {
    _dir: tempfile::TempDir,
    index: SearchIndex,
    log: Log,
    before: Vec<Vec<(MessageId, u32)>>,
    heavy_z: MessageId,
    heavy_p: MessageId,
}

const MINE: u128 = 1;
const THEIRS: u128 = 2;
const QUERIES: [&str; 4] = ["zyxquor", "zyxquor plumbus", "회의", "\"zyxquor plumbus\""];

/// What X (a member of `MINE` only) sees for every query.
fn seen(index: &SearchIndex) -> Vec<Vec<(MessageId, u32)>> {
    QUERIES
        .iter()
        .map(|q| ranked(index, q, &[room(MINE)]))
        .collect()
}

fn setup() -> Setup {
    let (mine, x) = (room(MINE), user(1));
    let mut log = Log::default();
    let dir = tempfile::tempdir().unwrap();
    let mut index = open(dir.path());
    // A rare word alone, and two hits of "zyxquor plumbus" whose order is
    // decided by which word is rarer: each has one of them twice.
    log.post(mine, x, "zyxquor");
    let heavy_z = log.post(mine, x, "zyxquor zyxquor plumbus");
    let heavy_p = log.post(mine, x, "zyxquor plumbus plumbus");
    for _ in 0..3 {
        log.post(mine, x, "plumbus only here");
    }
    log.post(mine, x, "회의 자료 공유합니다");
    log.post(mine, x, "주간회의록 올렸어요");
    commit(&log, &mut index);
    let before = seen(&index);
    assert_eq!(before[0].len(), 3);
    assert_eq!(
        ids(&before[1]),
        vec![heavy_z, heavy_p],
        "in X's room zyxquor is the rarer word"
    );
    Setup {
        _dir: dir,
        index,
        log,
        before,
        heavy_z,
        heavy_p,
    }
}

#[test]
fn hidden_uses_of_a_word_move_no_score_or_rank() {
    let Setup {
        _dir,
        mut index,
        mut log,
        before,
        heavy_z,
        heavy_p,
    } = setup();
    let (mine, theirs, y) = (room(MINE), room(THEIRS), user(2));
    for i in 0..30 {
        log.post(theirs, y, &format!("zyxquor 회의 {i}"));
    }
    commit(&log, &mut index);
    assert_eq!(seen(&index), before, "30 hidden uses of the word");

    // Filtering on X's room scores exactly as searching all of X's rooms.
    let mut only_mine = req("zyxquor plumbus", &[mine]);
    only_mine.room_id = Some(mine);
    assert_eq!(ranked_by(&index, &only_mine), before[1]);

    // Y reads both rooms, and for Y zyxquor is now the common word: the
    // experiment tells a rank that moves from one that cannot.
    let for_y = ranked(&index, "zyxquor plumbus", &[mine, theirs]);
    assert_eq!(ids(&for_y), vec![heavy_p, heavy_z]);
    let (rare, x_score) = before[0][0];
    let y_score = ranked(&index, "zyxquor", &[mine, theirs])
        .into_iter()
        .find(|(id, _)| *id == rare)
        .map(|(_, s)| s);
    assert_ne!(Some(x_score), y_score, "Y's statistics include Y's rooms");
}

#[test]
fn hidden_unrelated_messages_move_no_score_or_rank() {
    let Setup {
        _dir,
        mut index,
        mut log,
        before,
        ..
    } = setup();
    let (theirs, y) = (room(THEIRS), user(2));
    // More documents, longer fields, some deleted again.
    let mut posted = Vec::new();
    for i in 0..300 {
        let body =
            format!("점심 메뉴 {i}번 후보는 김치찌개 된장찌개 비빔밥 lunch options are long");
        posted.push(log.post(theirs, y, &body));
        if i % 100 == 99 {
            commit(&log, &mut index);
        }
    }
    for id in posted.iter().step_by(7) {
        log.delete(*id);
    }
    commit(&log, &mut index);
    assert_eq!(seen(&index), before, "300 hidden unrelated messages");
}
