//! The `redis` projection's frame windows follow edits and deletions: no
//! text a deletion or an edit removed stays in Redis, whether the events
//! arrive in live batches (an edit in the batch of its post, or later) or
//! through the bulk path of a rebuild.

mod common;

use common::{append, Cast};
use domain::event::{DomainEvent, RoomEvent};
use domain::frame::{Frame, FrameBody};
use projector::{source, Projection, RedisProjection};
use readmodel::RedisKeys;
use redis::AsyncCommands;

/// Text that must be gone from the window once the script below has run.
const REMOVED: [&str; 4] = ["TOPSECRET", "ORIGINALX", "first \\\"edit\\\"", "gone soon"];

fn script(cast: &mut Cast) -> Vec<DomainEvent> {
    let (a, b, g) = (cast.alice, cast.bob, cast.group);
    let mut ev = cast.pair_in_group("비밀");
    ev.push(cast.post(g, 1, a, "say \"hi\" \\ TOPSECRET 안녕", 4));
    ev.push(cast.post(g, 2, b, "ORIGINALX", 5));
    ev.push(cast.edit(g, 2, "first \"edit\"", 6));
    ev.push(cast.post(g, 3, a, "stays \"as is\"", 7));
    ev.push(cast.edit(g, 2, "second edit \\ done 끝", 8));
    ev.push(cast.delete(g, 1, a, a, 9));
    ev.push(cast.post(g, 4, b, "gone soon", 10));
    ev.push(cast.delete(g, 4, b, b, 11));
    ev
}

async fn window(env: &testkit::TestEnv, keys: &RedisKeys, cast: &Cast) -> Vec<String> {
    let mut c = redis::Client::open(env.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    c.zrange(keys.frames(cast.group), 0, -1).await.unwrap()
}

/// Every stored frame reads as the room reads now.
fn check(raw: &[String]) {
    for text in raw {
        assert!(
            REMOVED.iter().all(|r| !text.contains(r)),
            "removed text stored: {text}"
        );
    }
    let frames: Vec<Frame> = raw
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    let bodies: Vec<(&str, u64, &str)> = frames
        .iter()
        .filter_map(|f| match &f.body {
            FrameBody::MessagePosted { seq, body, .. } => Some(("posted", *seq, body.as_str())),
            FrameBody::MessageEdited { seq, body, .. } => Some(("edited", *seq, body.as_str())),
            FrameBody::MessageDeleted { seq, .. } => Some(("deleted", *seq, "")),
            _ => None,
        })
        .collect();
    let now = "second edit \\ done 끝";
    assert_eq!(
        bodies,
        [
            ("posted", 1, ""),
            ("posted", 2, now),
            ("edited", 2, now),
            ("posted", 3, "stays \"as is\""),
            ("edited", 2, now),
            ("deleted", 1, ""),
            ("posted", 4, ""),
            ("deleted", 4, ""),
        ]
    );
}

#[tokio::test]
async fn stored_frames_follow_edits_and_deletions_live_and_in_bulk() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    append(&env.write_pool, &script(&mut cast)).await;
    let log = source::read_after(&env.write_pool, 0, 1000).await.unwrap();
    let posted_at = |seq: u64| {
        log.iter()
            .position(|e| {
                matches!(&e.event, DomainEvent::Room(RoomEvent::MessagePosted(p)) if p.seq == seq)
            })
            .unwrap()
    };

    // Live: the first post and its edits in separate batches, the last post
    // and its deletion in one.
    let mut live = RedisProjection::new(&env.redis_url, &env.namespace, 1).unwrap();
    let cuts = [
        0,
        posted_at(2) + 1,
        posted_at(3) + 1,
        posted_at(4),
        log.len(),
    ];
    for w in cuts.windows(2) {
        live.apply_batch(&log[w[0]..w[1]]).await.unwrap();
    }
    let stored = window(&env, live.keys(), &cast).await;
    check(&stored);

    // Bulk: batches of two, each computed while the one before runs.
    let mut bulk = RedisProjection::new(&env.redis_url, &env.namespace, 2).unwrap();
    bulk.checkpoint().await.unwrap();
    bulk.apply_bulk(&log, 2).await.unwrap();
    bulk.finish_bulk().await.unwrap();
    assert_eq!(window(&env, bulk.keys(), &cast).await, stored);

    for g in [1, 2] {
        projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, g)
            .await
            .unwrap();
    }
}

/// A room with more frames than its window holds, edits and deletions of
/// messages in it, out of it and posted in the same batch.
fn long_script(cast: &mut Cast) -> Vec<DomainEvent> {
    let (a, b, g) = (cast.alice, cast.bob, cast.group);
    let mut ev = cast.pair_in_group("긴 방");
    let changed = [5, 110, 150, 280, 310];
    for s in 1..=320u64 {
        let at = 10 + s as i64 * 3;
        let body = if changed.contains(&s) {
            format!("SECRET-{s}")
        } else {
            format!("keep {s}")
        };
        ev.push(cast.post(g, s, if s % 2 == 0 { a } else { b }, &body, at));
        match s {
            120 => ev.push(cast.edit(g, 5, "EDIT-A", at + 1)),
            200 => ev.push(cast.delete(g, 110, a, a, at + 1)),
            290 => ev.push(cast.edit(g, 5, "EDIT-B \"끝\"", at + 1)),
            300 => ev.push(cast.edit(g, 280, "EDIT-D", at + 1)),
            301 => ev.push(cast.delete(g, 280, a, a, at + 1)),
            310 => ev.push(cast.delete(g, 310, a, a, at + 1)),
            315 => ev.push(cast.edit(g, 150, "EDIT-C", at + 1)),
            _ => {}
        }
    }
    ev
}

#[tokio::test]
async fn bulk_runs_of_any_shape_store_the_windows_live_batches_store() {
    let env = testkit::TestEnv::new().await;
    let mut cast = Cast::new();
    append(&env.write_pool, &long_script(&mut cast)).await;
    let log = source::read_after(&env.write_pool, 0, 10_000)
        .await
        .unwrap();

    let mut live = RedisProjection::new(&env.redis_url, &env.namespace, 1).unwrap();
    for part in log.chunks(7) {
        live.apply_batch(part).await.unwrap();
    }
    let stored = window(&env, live.keys(), &cast).await;
    assert_eq!(stored.len(), readmodel::FRAMES_LEN);
    for text in &stored {
        for gone in ["SECRET-", "EDIT-A", "EDIT-D"] {
            assert!(!text.contains(gone), "removed text stored: {text}");
        }
    }
    assert!(stored.iter().any(|f| f.contains("EDIT-C")));
    assert!(stored.iter().any(|f| f.contains(r#"EDIT-B \"끝\""#)));

    // From an empty generation, in batches of every size.
    for (generation, chunk) in [(2, 1), (3, 13), (4, 10_000)] {
        let mut bulk = RedisProjection::new(&env.redis_url, &env.namespace, generation).unwrap();
        bulk.checkpoint().await.unwrap();
        bulk.apply_bulk(&log, chunk).await.unwrap();
        bulk.finish_bulk().await.unwrap();
        assert_eq!(
            window(&env, bulk.keys(), &cast).await,
            stored,
            "bulk in batches of {chunk}"
        );
    }

    // Resumed: a run that finds frames it did not store.
    let mut first = RedisProjection::new(&env.redis_url, &env.namespace, 5).unwrap();
    first.apply_batch(&log[..150]).await.unwrap();
    let mut resumed = RedisProjection::new(&env.redis_url, &env.namespace, 5).unwrap();
    resumed.checkpoint().await.unwrap();
    resumed.apply_bulk(&log, 9).await.unwrap();
    resumed.finish_bulk().await.unwrap();
    assert_eq!(window(&env, resumed.keys(), &cast).await, stored, "resumed");

    for g in 1..=5 {
        projector::redis_projection::drop_generation(&env.redis_url, &env.namespace, g)
            .await
            .unwrap();
    }
}
