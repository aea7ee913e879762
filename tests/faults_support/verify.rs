//! What must hold once the pipeline has caught up after the faults:
//! each read model equals a fresh rebuild of it from the log (digests), and
//! each acknowledged command's effect is in it exactly once (checked against
//! the [`Ledger`], key by key and row by row).

use super::load::{Ledger, PostRec, RoomRec};
use domain::ids::{RoomId, UserId};
use domain::views::{
    preview, FriendEntryView, FriendState, MemberView, MessageView, ProfileView, Role, RoomView,
};
use projector::{replay, HistoryProjection, ProjectorConfig, RedisProjection, SearchProjection};
use readmodel::sql::messages_table;
use readmodel::{RedisKeys, TIMELINE_LEN};
use redis::AsyncCommands;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The generation the rebuilds write (the live one is the current pointer).
pub const FRESH: i64 = 97;

/// Rebuild `redis`, `history` and `search` into [`FRESH`] from the log and
/// compare each digest with the live generation's. Nothing may be writing.
/// Returns the number of documents in the live search index.
pub async fn assert_equal_to_rebuild(cfg: &ProjectorConfig, live: [i64; 3], head: i64) -> u64 {
    let (docs, diverged) = compare_to_rebuild(cfg, live, head).await;
    assert!(
        diverged.is_empty(),
        "generations {live:?} differ from a fresh rebuild: {diverged:?}"
    );
    docs
}

/// As [`assert_equal_to_rebuild`], but returns the projections whose live
/// digest differs from the rebuild's (each logged) instead of failing.
pub async fn compare_to_rebuild(
    cfg: &ProjectorConfig,
    live: [i64; 3],
    head: i64,
) -> (u64, Vec<&'static str>) {
    let [redis_live, history_live, search_live] = live;
    let mut diverged = compare_shared_to_rebuild(cfg, [redis_live, history_live], head).await;
    let (docs, same) = compare_search_to_rebuild(cfg, search_live, head).await;
    if !same {
        diverged.push("search");
    }
    (docs, diverged)
}

/// The search index at generation `live` in `cfg.data_dir` (no writer may
/// hold it) against a fresh rebuild up to `head` beside it: its document
/// count, and whether the digests are equal (a difference is logged).
pub async fn compare_search_to_rebuild(cfg: &ProjectorConfig, live: i64, head: i64) -> (u64, bool) {
    let dir = projector::search_projection::index_dir(&cfg.data_dir, &cfg.namespace, live);
    let opts = cfg.search.index.clone();
    let (checkpoint, docs, live_digest) = tokio::task::spawn_blocking(move || {
        let index = search::SearchIndex::open(&dir, opts).expect("open the live search index");
        let digest = index.digest().expect("digest the live index");
        (index.checkpoint(), index.num_docs(), digest)
    })
    .await
    .unwrap();
    assert_eq!(checkpoint, head, "search index checkpoint");
    // Fresh: an index left at FRESH (a query node's data dir outlives a
    // run) would resume from its checkpoint instead of rebuilding.
    let fresh_dir = projector::search_projection::index_dir(&cfg.data_dir, &cfg.namespace, FRESH);
    let _ = std::fs::remove_dir_all(&fresh_dir);
    let mut s = SearchProjection::open(cfg, FRESH).await.unwrap();
    let cp = replay::catch_up(
        &mut s,
        &cfg.write_pool,
        1000,
        &CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(cp, head, "search rebuild stopped short");
    let fresh = s.digest().await.unwrap();
    drop(s);
    let _ = std::fs::remove_dir_all(&fresh_dir);
    let same = live_digest == fresh;
    if !same {
        eprintln!("search: live digest {live_digest:?} differs from a fresh rebuild's {fresh:?}");
    }
    (docs, same)
}

/// The shared projections (`redis` and `history`, at generations `live`)
/// against a fresh rebuild of each up to `head`: the names of those whose
/// digests differ.
pub async fn compare_shared_to_rebuild(
    cfg: &ProjectorConfig,
    live: [i64; 2],
    head: i64,
) -> Vec<&'static str> {
    let mut diverged = Vec::new();
    let mut compare = |name: &'static str, live: String, fresh: String| {
        if live != fresh {
            eprintln!("{name}: live digest {live} differs from a fresh rebuild's {fresh}");
            diverged.push(name);
        }
    };
    let cancel = CancellationToken::new();
    let [redis_live, history_live] = live;

    let mut r = RedisProjection::new(&cfg.redis_url, &cfg.namespace, FRESH)
        .unwrap()
        .with_pii_of(cfg);
    let cp = replay::catch_up(&mut r, &cfg.write_pool, 1000, &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(cp, head, "redis rebuild stopped short");
    let (live_digest, fresh_digest) = (
        projector::digest::redis_digest(&cfg.redis_url, &cfg.namespace, redis_live).await,
        projector::digest::redis_digest(&cfg.redis_url, &cfg.namespace, FRESH).await,
    );
    compare(
        "redis",
        format!("{:?}", live_digest.unwrap()),
        format!("{:?}", fresh_digest.unwrap()),
    );

    let mut h = HistoryProjection::open(cfg.read_pool.clone(), FRESH)
        .await
        .unwrap();
    let cp = replay::catch_up(&mut h, &cfg.write_pool, 1000, &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(cp, head, "history rebuild stopped short");
    let history = |g| projector::digest::history_digest(&cfg.read_pool, g);
    compare(
        "history",
        format!("{:?}", history(history_live).await.unwrap()),
        format!("{:?}", history(FRESH).await.unwrap()),
    );
    diverged
}

/// History: exactly one row per acknowledged post, at its seq, in its final state.
pub async fn assert_history_exact(cfg: &ProjectorConfig, generation: i64, ledger: &Ledger) {
    let sql = format!(
        "SELECT room_id, seq, message_id, author_id, body, edited_at IS NOT NULL, deleted
           FROM {} ORDER BY room_id, seq",
        messages_table(generation)
    );
    type Row = (Uuid, i64, Uuid, Uuid, String, bool, bool);
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .fetch_all(&cfg.read_pool)
        .await
        .unwrap();
    let mut expected: Vec<Row> = Vec::new();
    for (room, rec) in &ledger.rooms {
        let seqs: Vec<u64> = rec.posts.keys().copied().collect();
        let gapless: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(
            seqs, gapless,
            "acknowledged seqs of room {room} are not 1..n"
        );
        for (seq, p) in &rec.posts {
            expected.push((
                *room,
                *seq as i64,
                p.message_id,
                p.author,
                p.body.clone(),
                p.edited,
                p.deleted,
            ));
        }
    }
    expected.sort();
    let posts = expected.len();
    assert_eq!(
        rows.len(),
        posts,
        "history holds {} messages, {posts} posts were acknowledged",
        rows.len()
    );
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(
            got, want,
            "history row differs from the acknowledged commands"
        );
    }
    let ids: BTreeSet<Uuid> = rows.iter().map(|r| r.2).collect();
    assert_eq!(ids.len(), posts, "a message id appears twice in history");
}

/// Search: one document per acknowledged, not deleted message (`docs` as
/// counted by [`assert_equal_to_rebuild`], which opens the live index).
pub fn assert_search_exact(docs: u64, ledger: &Ledger) {
    let live = ledger
        .rooms
        .values()
        .flat_map(|r| r.posts.values())
        .filter(|p| !p.deleted)
        .count() as u64;
    assert_eq!(docs, live, "search documents vs live acknowledged messages");
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, raw: &str) -> T {
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("bad value at {key}: {e}: {raw}"))
}

/// Redis: profiles, friends, rooms, members, markers, unread sets, timelines
/// and room lists hold exactly what the acknowledged commands imply.
pub async fn assert_redis_exact(cfg: &ProjectorConfig, generation: i64, ledger: &Ledger) {
    let client = redis::Client::open(cfg.redis_url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let k = RedisKeys::new(&cfg.namespace, generation);
    let cp: Option<i64> = c.get(k.checkpoint()).await.unwrap();
    assert_eq!(cp, Some(ledger.max_position), "redis checkpoint");

    for (id, (username, display)) in &ledger.users {
        let uid = UserId(*id);
        let raw: Option<String> = c.get(k.user(uid)).await.unwrap();
        let p: ProfileView = parse(&k.user(uid), &raw.expect("profile present"));
        assert_eq!((&p.username, &p.display_name), (username, display));
        let owner: Option<String> = c.get(k.username(username)).await.unwrap();
        assert_eq!(owner, Some(id.to_string()), "username {username}");
        let raw: HashMap<String, String> = c.hgetall(k.friends(uid)).await.unwrap();
        let got: BTreeMap<Uuid, FriendState> = raw
            .iter()
            .map(|(o, v)| (o.parse().unwrap(), parse::<FriendEntryView>(o, v).state))
            .collect();
        let want: BTreeMap<Uuid, FriendState> = ledger
            .friends
            .iter()
            .filter(|(a, _)| a == id)
            .map(|(_, b)| (*b, FriendState::Friend))
            .collect();
        assert_eq!(got, want, "friends of {username}");
        let rooms: Vec<String> = c.zrange(k.rooms_of(uid), 0, -1).await.unwrap();
        let got: BTreeSet<Uuid> = rooms.iter().map(|r| r.parse().unwrap()).collect();
        let want: BTreeSet<Uuid> = ledger
            .rooms
            .iter()
            .filter(|(_, r)| r.members.contains(id))
            .map(|(room, _)| *room)
            .collect();
        assert_eq!(
            got.len(),
            rooms.len(),
            "room list of {username} has repeats"
        );
        assert_eq!(got, want, "room list of {username}");
    }
    for (room, rec) in &ledger.rooms {
        assert_room(&mut c, &k, *room, rec).await;
    }
}

async fn assert_room(
    c: &mut redis::aio::MultiplexedConnection,
    k: &RedisKeys,
    room: Uuid,
    rec: &RoomRec,
) {
    let rid = RoomId(room);
    let raw: Option<String> = c.get(k.room(rid)).await.unwrap();
    let view: RoomView = parse(&k.room(rid), &raw.expect("room present"));
    let n = rec.posts.len() as u64;
    assert_eq!(view.last_seq, n, "last_seq of room {room}");
    assert_eq!(view.owner_id, UserId(rec.owner));
    let last = rec.posts.get(&n);
    assert_eq!(
        view.last_message
            .as_ref()
            .map(|m| (m.message_id.0, m.body_preview.clone())),
        last.map(|p| (p.message_id, preview(&p.body))),
        "last message of room {room}"
    );

    let raw: HashMap<String, String> = c.hgetall(k.members(rid)).await.unwrap();
    let got: BTreeMap<Uuid, Role> = raw
        .iter()
        .map(|(u, v)| (u.parse().unwrap(), parse::<MemberView>(u, v).role))
        .collect();
    let want: BTreeMap<Uuid, Role> = rec
        .members
        .iter()
        .map(|u| {
            let role = if *u == rec.owner {
                Role::Owner
            } else if rec.admins.contains(u) {
                Role::Admin
            } else {
                Role::Member
            };
            (*u, role)
        })
        .collect();
    assert_eq!(got, want, "members of room {room}");

    let raw: HashMap<String, u64> = c.hgetall(k.read_markers(rid)).await.unwrap();
    let got: BTreeMap<Uuid, u64> = raw.iter().map(|(u, s)| (u.parse().unwrap(), *s)).collect();
    assert_eq!(got, rec.markers, "read markers of room {room}");

    let live = |p: &&PostRec| !p.deleted;
    let got: Vec<u64> = c.zrange(k.live_seqs(rid), 0, -1).await.unwrap();
    let want: Vec<u64> = rec
        .posts
        .iter()
        .filter(|(_, p)| live(p))
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(got, want, "live seqs of room {room}");
    let authors: BTreeSet<Uuid> = rec.posts.values().map(|p| p.author).collect();
    for a in authors {
        let got: Vec<u64> = c.zrange(k.own_seqs(rid, UserId(a)), 0, -1).await.unwrap();
        let want: Vec<u64> = rec
            .posts
            .iter()
            .filter(|(_, p)| p.author == a && !p.deleted)
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(got, want, "own seqs of {a} in room {room}");
    }

    super::messenger_verify::assert_room(c, k, room, rec).await;

    let entries: Vec<(String, f64)> = c.zrange_withscores(k.timeline(rid), 0, -1).await.unwrap();
    let keep = (n as usize).min(TIMELINE_LEN) as u64;
    let seqs: Vec<u64> = entries.iter().map(|(_, s)| *s as u64).collect();
    let want: Vec<u64> = (n - keep + 1..=n).collect();
    assert_eq!(seqs, want, "timeline seqs of room {room}");
    for (raw, seq) in &entries {
        let m: MessageView = parse(&k.timeline(rid), raw);
        let p = &rec.posts[&(*seq as u64)];
        assert_eq!(
            (m.message_id.0, m.seq, m.author_id.0, &m.body),
            (p.message_id, *seq as u64, p.author, &p.body),
            "timeline entry {seq} of room {room}"
        );
        assert_eq!(
            (m.edited_at.is_some(), m.deleted),
            (p.edited, p.deleted),
            "timeline entry {seq} of room {room}"
        );
    }
}
