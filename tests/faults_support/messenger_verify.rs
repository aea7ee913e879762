//! The messenger read models of one room (issue 15) against the ledger:
//! reactions, what each member hid, and the notice the log's order leaves.

use super::load::RoomRec;
use domain::ids::{RoomId, UserId};
use domain::views::{NoticeView, ReactionSet};
use readmodel::RedisKeys;
use redis::AsyncCommands;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// Reactions, hides and the notice of `room` hold what was acknowledged.
pub async fn assert_room(
    c: &mut redis::aio::MultiplexedConnection,
    k: &RedisKeys,
    room: Uuid,
    rec: &RoomRec,
) {
    let rid = RoomId(room);
    let raw: HashMap<u64, String> = c.hgetall(k.reactions(rid)).await.unwrap();
    let got: BTreeMap<u64, BTreeMap<String, BTreeSet<Uuid>>> = raw
        .iter()
        .map(|(seq, v)| {
            let sets: Vec<ReactionSet> = serde_json::from_str(v).unwrap();
            let by = sets
                .into_iter()
                .map(|s| (s.emoji, s.users.into_iter().map(|u| u.0).collect()))
                .collect();
            (*seq, by)
        })
        .collect();
    let want: BTreeMap<_, _> = rec
        .reactions
        .iter()
        .filter(|(_, by)| !by.is_empty())
        .map(|(s, by)| (*s, by.clone()))
        .collect();
    assert_eq!(got, want, "reactions of room {room}");
    for (user, seqs) in &rec.hidden {
        let got: Vec<u64> = c.zrange(k.hidden(rid, UserId(*user)), 0, -1).await.unwrap();
        assert_eq!(
            got,
            seqs.iter().copied().collect::<Vec<_>>(),
            "hidden by {user} in {room}"
        );
    }
    let raw: Option<String> = c.get(k.notice(rid)).await.unwrap();
    let got = raw.map(|r| serde_json::from_str::<NoticeView>(&r).unwrap().seq);
    assert_eq!(got, rec.notice(), "notice of room {room}");
}
