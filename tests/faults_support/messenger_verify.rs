//! The messenger read models of one room (issue 15) against the ledger:
//! reactions, what each member hid, the notice the log's order leaves, and
//! the file each acknowledged post sent (on the message in the timeline and
//! in history, and known to downloads).

use super::load::{Ledger, RoomRec};
use domain::ids::{AttachmentId, RoomId, UserId};
use domain::views::{MessageView, NoticeView, ReactionSet};
use projector::ProjectorConfig;
use readmodel::attachments::AttachmentEntry;
use readmodel::sql::messages_table;
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
    assert_attachments(c, k, room, rec).await;
}

/// The attachments a room's live posts should show, by seq.
fn attachments_of(rec: &RoomRec) -> BTreeMap<u64, Vec<Uuid>> {
    rec.posts
        .iter()
        .filter(|(_, p)| !p.deleted)
        .map(|(seq, p)| (*seq, p.attachment.into_iter().collect()))
        .collect()
}

/// Timeline entries show their post's attachment; each sent attachment's
/// entry (what downloads read) names the room.
async fn assert_attachments(
    c: &mut redis::aio::MultiplexedConnection,
    k: &RedisKeys,
    room: Uuid,
    rec: &RoomRec,
) {
    let rid = RoomId(room);
    let want = attachments_of(rec);
    let raw: Vec<String> = c.zrange(k.timeline(rid), 0, -1).await.unwrap();
    for m in raw
        .iter()
        .map(|r| serde_json::from_str::<MessageView>(r).unwrap())
    {
        if let Some(ids) = want.get(&m.seq) {
            let got: Vec<Uuid> = m.attachments.iter().map(|a| a.attachment_id.0).collect();
            assert_eq!(
                &got, ids,
                "attachments of timeline entry {} of room {room}",
                m.seq
            );
        }
    }
    for id in want.values().flatten() {
        let raw: Option<String> = c.get(k.attachment(AttachmentId(*id))).await.unwrap();
        let entry: AttachmentEntry = serde_json::from_str(&raw.expect("attachment entry")).unwrap();
        assert_eq!(entry.room_id, rid, "room of attachment {id}");
        assert_eq!(entry.attachment.attachment_id.0, *id);
    }
}

/// History: every live acknowledged post carries exactly the attachment it sent.
pub async fn assert_history_attachments(cfg: &ProjectorConfig, generation: i64, ledger: &Ledger) {
    let sql = format!(
        "SELECT room_id, seq, attachments FROM {} WHERE NOT deleted",
        messages_table(generation)
    );
    let rows: Vec<(Uuid, i64, serde_json::Value)> = sqlx::query_as(&sql)
        .fetch_all(&cfg.read_pool)
        .await
        .unwrap();
    let got: BTreeMap<(Uuid, u64), Vec<Uuid>> = rows
        .into_iter()
        .map(|(room, seq, list)| {
            let ids = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["attachment_id"].as_str().unwrap().parse().unwrap())
                .collect();
            ((room, seq as u64), ids)
        })
        .collect();
    let want: BTreeMap<(Uuid, u64), Vec<Uuid>> = ledger
        .rooms
        .iter()
        .flat_map(|(room, rec)| {
            attachments_of(rec)
                .into_iter()
                .map(|(seq, ids)| ((*room, seq), ids))
        })
        .collect();
    let sent = want.values().filter(|ids| !ids.is_empty()).count();
    assert!(sent > 0, "the load sent no file that is still live");
    assert_eq!(got, want, "attachments of the messages in history");
}
