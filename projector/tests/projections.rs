//! The `redis` and `history` projections applied directly (no NATS): the
//! scripted conversation, duplicate delivery, concurrent appliers, and live
//! batches versus a rebuild from the log.

mod common;

use common::{append, t, Cast};
use domain::ids::{RoomId, UserId};
use domain::views::{
    FriendEntryView, FriendState, MemberView, MessageView, ProfileView, Role, RoomView,
};
use projector::digest::{history_digest, redis_digest};
use projector::{replay, source, HistoryProjection, Projection, RedisProjection};
use readmodel::{RedisKeys, TIMELINE_LEN};
use redis::AsyncCommands;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

async fn conn(env: &testkit::TestEnv) -> redis::aio::MultiplexedConnection {
    redis::Client::open(env.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn json<T: serde::de::DeserializeOwned>(
    c: &mut redis::aio::MultiplexedConnection,
    key: String,
) -> T {
    let raw: String = c.get(&key).await.unwrap_or_else(|e| panic!("{key}: {e}"));
    serde_json::from_str(&raw).unwrap()
}

/// A user's room list as the query side reads it: (room, activity), most
/// recent first.
async fn room_list_scores(
    c: &mut redis::aio::MultiplexedConnection,
    k: &RedisKeys,
    u: UserId,
) -> Vec<(RoomId, i64)> {
    let mut pipe = redis::pipe();
    readmodel::rooms::queue_page(&mut pipe, k, u);
    let values: Vec<redis::Value> = pipe.query_async(c).await.unwrap();
    let mut replies = readmodel::Replies::new(values);
    readmodel::rooms::take_page(&mut replies, None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.room, e.score as i64))
        .collect()
}

async fn room_list(
    c: &mut redis::aio::MultiplexedConnection,
    k: &RedisKeys,
    u: UserId,
) -> Vec<RoomId> {
    room_list_scores(c, k, u)
        .await
        .into_iter()
        .map(|(room, _)| room)
        .collect()
}

/// The unread count exactly as the query side computes it.
async fn unread(
    c: &mut redis::aio::MultiplexedConnection,
    k: &RedisKeys,
    r: RoomId,
    u: UserId,
) -> i64 {
    let marker: Option<u64> = c.hget(k.read_markers(r), u.to_string()).await.unwrap();
    let lo = format!("({}", marker.unwrap_or(0));
    let live: i64 = c.zcount(k.live_seqs(r), &lo, "+inf").await.unwrap();
    let own: i64 = c.zcount(k.own_seqs(r, u), &lo, "+inf").await.unwrap();
    live - own
}

/// (room_id, seq, body, deleted, edited_at)
type HistoryRow = (
    uuid::Uuid,
    i64,
    String,
    bool,
    Option<chrono::DateTime<chrono::Utc>>,
);

async fn log(env: &testkit::TestEnv) -> Vec<domain::event::StoredEvent> {
    source::read_after(&env.write_pool, 0, 100_000)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_projection_applies_the_conversation() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    let events = cast.conversation();
    // Stop half-way to check unread counts while everyone is still there.
    let split = events
        .iter()
        .position(|e| e.event_type() == "room.member_added")
        .unwrap();
    append(&env.write_pool, &events[..split]).await;
    let mut p = RedisProjection::new(&env.redis_url, &env.namespace, 1).unwrap();
    let k = p.keys().clone();
    let mut c = conn(&env).await;
    p.apply_batch(&log(&env).await).await.unwrap();
    let (a, b, cc, d, g, dm) = (
        cast.alice,
        cast.bob,
        cast.carol,
        cast.dave,
        cast.group,
        cast.direct,
    );
    // alice read to 2; live = {1,2,4} (3 deleted); 4 is bob's.
    assert_eq!(unread(&mut c, &k, g, a).await, 1);
    // bob posted 4: nothing above his marker.
    assert_eq!(unread(&mut c, &k, g, b).await, 0);
    // carol's marker is her post (3, deleted since): bob's 4 is unread.
    assert_eq!(unread(&mut c, &k, g, cc).await, 1);
    assert_eq!(unread(&mut c, &k, dm, a).await, 1);
    assert_eq!(room_list(&mut c, &k, a).await, vec![dm, g]);

    append(&env.write_pool, &events[split..]).await;
    let last = p.apply_batch(&log(&env).await).await.unwrap();
    assert_eq!(p.checkpoint().await.unwrap(), last);

    let room: RoomView = json(&mut c, k.room(g)).await;
    assert_eq!(room.name, "저녁");
    assert_eq!(room.owner_id, b);
    assert_eq!(room.last_seq, 5);
    let lm = room.last_message.unwrap();
    assert_eq!(
        (lm.seq, lm.author_id, lm.body_preview.as_str()),
        (5, d, "hi all")
    );
    assert_eq!(room.last_activity_at, t(21));

    let members: HashMap<String, String> = c.hgetall(k.members(g)).await.unwrap();
    let mut members: Vec<MemberView> = members
        .values()
        .map(|v| serde_json::from_str(v).unwrap())
        .collect();
    members.sort_by_key(|m| m.user_id);
    assert_eq!(
        members
            .iter()
            .map(|m| (m.user_id, m.role))
            .collect::<Vec<_>>(),
        {
            let mut v = vec![(b, Role::Owner), (d, Role::Member)];
            v.sort_by_key(|x| x.0);
            v
        }
    );

    // Room lists: most recent activity first; left and kicked members lose the room.
    assert_eq!(room_list(&mut c, &k, a).await, vec![dm]);
    assert_eq!(room_list(&mut c, &k, b).await, vec![g, dm]);
    assert_eq!(room_list(&mut c, &k, cc).await, Vec::<RoomId>::new());
    assert_eq!(room_list(&mut c, &k, d).await, vec![g]);
    assert_eq!(
        room_list_scores(&mut c, &k, b).await[0],
        (g, t(21).timestamp_millis())
    );
    // Posts move their room's one `activity` entry, not an entry in every
    // member's list: bob's entry for the group still says when he joined.
    let entry: f64 = c.zscore(k.rooms_of(b), g.to_string()).await.unwrap();
    let bob = members.iter().find(|m| m.user_id == b).unwrap();
    assert_eq!(entry as i64, bob.joined_at.timestamp_millis());
    assert_ne!(bob.joined_at, t(21));

    // Unread: bob's marker stayed at 4 (the read at 3 was behind it); dave's 5 is unread.
    assert_eq!(unread(&mut c, &k, g, b).await, 1);
    // dave joined at last_seq 4 and posted 5.
    assert_eq!(unread(&mut c, &k, g, d).await, 0);
    assert_eq!(unread(&mut c, &k, dm, b).await, 0);
    assert_eq!(unread(&mut c, &k, dm, a).await, 1);

    let timeline: Vec<String> = c.zrange(k.timeline(g), 0, -1).await.unwrap();
    let timeline: Vec<MessageView> = timeline
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    assert_eq!(
        timeline.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        (timeline[1].body.as_str(), timeline[1].edited_at),
        ("ok!", Some(t(18)))
    );
    assert!(timeline[2].deleted && timeline[2].body.is_empty());
    assert!(!timeline[3].deleted);

    let bob: ProfileView = json(&mut c, k.user(b)).await;
    assert_eq!(
        (bob.username.as_str(), bob.display_name.as_str()),
        ("bob", "Bobby")
    );
    let owner: String = c.get(k.username("alice")).await.unwrap();
    assert_eq!(owner, a.to_string());

    let friends = |m: HashMap<String, String>| -> HashMap<String, FriendState> {
        m.into_iter()
            .map(|(k, v)| {
                (
                    k,
                    serde_json::from_str::<FriendEntryView>(&v).unwrap().state,
                )
            })
            .collect()
    };
    let fa = friends(c.hgetall(k.friends(a)).await.unwrap());
    assert_eq!(fa.len(), 2);
    assert_eq!(fa[&b.to_string()], FriendState::Friend);
    assert_eq!(fa[&cc.to_string()], FriendState::Outgoing);
    let fc = friends(c.hgetall(k.friends(cc)).await.unwrap());
    assert_eq!(fc[&a.to_string()], FriendState::Incoming);
    assert!(friends(c.hgetall(k.friends(d)).await.unwrap()).is_empty());

    projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn history_projection_applies_the_conversation() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    append(&env.write_pool, &cast.conversation()).await;
    let mut p = HistoryProjection::open(env.read_pool.clone(), 1)
        .await
        .unwrap();
    let events = log(&env).await;
    let last = p.apply_batch(&events).await.unwrap();
    assert_eq!(last, events.last().unwrap().position);
    assert_eq!(p.checkpoint().await.unwrap(), last);
    let rows: Vec<HistoryRow> = sqlx::query_as(
        "SELECT room_id, seq, body, deleted, edited_at FROM messages_g1 ORDER BY room_id, seq",
    )
    .fetch_all(&env.read_pool)
    .await
    .unwrap();
    let g: Vec<_> = rows.iter().filter(|r| r.0 == cast.group.0).collect();
    assert_eq!(
        g.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!((g[1].2.as_str(), g[1].4), ("ok!", Some(t(18))));
    assert!(g[2].3 && g[2].2.is_empty());
    assert_eq!(rows.iter().filter(|r| r.0 == cast.direct.0).count(), 1);
    // The query role may read it (and its partitions).
    let granted: bool =
        sqlx::query_scalar("SELECT has_table_privilege($1, 'messages_g1_p3', 'SELECT')")
            .bind(migrations::QUERY_ROLE)
            .fetch_one(&env.read_pool)
            .await
            .unwrap();
    assert!(granted);
}

#[tokio::test]
async fn duplicate_and_overlapping_batches_change_nothing() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    append(&env.write_pool, &cast.conversation()).await;
    let events = log(&env).await;
    let mut r = RedisProjection::new(&env.redis_url, &env.namespace, 1).unwrap();
    let mut h = HistoryProjection::open(env.read_pool.clone(), 1)
        .await
        .unwrap();
    r.apply_batch(&events).await.unwrap();
    h.apply_batch(&events).await.unwrap();
    let rd = redis_digest(&env.redis_url, &env.namespace, 1)
        .await
        .unwrap();
    let hd = history_digest(&env.read_pool, 1).await.unwrap();
    let mid = events.len() / 2;
    for batch in [
        &events[..],
        &events[mid..],
        &events[..mid],
        &events[mid - 3..mid + 3],
    ] {
        r.apply_batch(batch).await.unwrap();
        h.apply_batch(batch).await.unwrap();
    }
    assert_eq!(
        redis_digest(&env.redis_url, &env.namespace, 1)
            .await
            .unwrap(),
        rd
    );
    assert_eq!(history_digest(&env.read_pool, 1).await.unwrap(), hd);
    let last = events.last().unwrap().position;
    assert_eq!(r.checkpoint().await.unwrap(), last);
    assert_eq!(h.checkpoint().await.unwrap(), last);
    projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_appliers_apply_each_event_once() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    append(&env.write_pool, &cast.busy_room(120)).await;
    let events = log(&env).await;
    let mut one = RedisProjection::new(&env.redis_url, &env.namespace, 1).unwrap();
    one.apply_batch(&events).await.unwrap();
    // Two appliers race over the same generation with differently sized batches.
    let mut x = RedisProjection::new(&env.redis_url, &env.namespace, 2).unwrap();
    let mut y = RedisProjection::new(&env.redis_url, &env.namespace, 2).unwrap();
    let (ex, ey) = (events.clone(), events.clone());
    let fx = async move {
        for chunk in ex.chunks(7) {
            x.apply_batch(chunk).await.unwrap();
        }
    };
    let fy = async move {
        for chunk in ey.chunks(11) {
            y.apply_batch(chunk).await.unwrap();
        }
    };
    tokio::join!(fx, fy);
    assert_eq!(
        redis_digest(&env.redis_url, &env.namespace, 2)
            .await
            .unwrap(),
        redis_digest(&env.redis_url, &env.namespace, 1)
            .await
            .unwrap()
    );
    for g in [1, 2] {
        projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, g)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn live_batches_equal_a_rebuild_from_the_log() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    let mut events = cast.busy_room(260);
    let mut other = Cast::new();
    events.extend(other.conversation());
    append(&env.write_pool, &events).await;
    let log = log(&env).await;

    // Live: small, uneven batches with overlaps, as redeliveries produce.
    let mut r1 = RedisProjection::new(&env.redis_url, &env.namespace, 1).unwrap();
    let mut h1 = HistoryProjection::open(env.read_pool.clone(), 1)
        .await
        .unwrap();
    let mut i = 0;
    let mut size = 1;
    while i < log.len() {
        let end = (i + size).min(log.len());
        let start = i.saturating_sub(size % 3);
        r1.apply_batch(&log[start..end]).await.unwrap();
        h1.apply_batch(&log[start..end]).await.unwrap();
        i = end;
        size = size % 9 + 1;
    }
    // Rebuild: a fresh generation straight from the log.
    let cancel = CancellationToken::new();
    let mut r2 = RedisProjection::new(&env.redis_url, &env.namespace, 2).unwrap();
    let mut h2 = HistoryProjection::open(env.read_pool.clone(), 2)
        .await
        .unwrap();
    let mut seen = 0;
    replay::catch_up(&mut r2, &env.write_pool, 1000, &cancel, |p| seen = p.events)
        .await
        .unwrap();
    replay::catch_up(&mut h2, &env.write_pool, 50, &cancel, |_| {})
        .await
        .unwrap();
    assert_eq!(seen as usize, log.len());

    assert_eq!(
        redis_digest(&env.redis_url, &env.namespace, 1)
            .await
            .unwrap(),
        redis_digest(&env.redis_url, &env.namespace, 2)
            .await
            .unwrap()
    );
    assert_eq!(
        history_digest(&env.read_pool, 1).await.unwrap(),
        history_digest(&env.read_pool, 2).await.unwrap()
    );
    // The timeline keeps the newest TIMELINE_LEN messages.
    let mut c = conn(&env).await;
    let k = r1.keys().clone();
    let seqs: Vec<(String, f64)> = c
        .zrange_withscores(k.timeline(cast.group), 0, -1)
        .await
        .unwrap();
    assert_eq!(seqs.len(), TIMELINE_LEN);
    assert_eq!(seqs[0].1 as u64, 260 - TIMELINE_LEN as u64 + 1);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM messages_g1 WHERE room_id = $1")
        .bind(cast.group.0)
        .fetch_one(&env.read_pool)
        .await
        .unwrap();
    assert_eq!(rows, 260);
    for g in [1, 2] {
        projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, g)
            .await
            .unwrap();
    }
}
