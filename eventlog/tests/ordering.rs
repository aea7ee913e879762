//! Gap safety of `read_all`: an append transaction that stays open does not
//! let a later one become visible first, one that rolls back does not stall
//! the reader, and a reader that always continues from its last position sees
//! every committed event exactly once, in order, under concurrent slow
//! appenders on other connections (as other nodes would be).

mod support;

use domain::{EventId, StoredEvent};
use eventlog::{append_uncommitted, read_all, Committed};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::Notify;

/// A reader like the relay: continue from the last position seen, forever,
/// checking positions only ever grow. Stops when told and the log is drained.
fn spawn_reader(pool: PgPool, stop: Arc<Notify>) -> tokio::task::JoinHandle<Vec<StoredEvent>> {
    tokio::spawn(async move {
        let mut seen: Vec<StoredEvent> = Vec::new();
        let mut last = 0;
        let mut stopping = false;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "reader ran past its deadline"
            );
            let page = read_all(&pool, last, 50).await.expect("read_all");
            for e in &page {
                assert!(
                    e.position > last,
                    "positions only grow: {} after {last}",
                    e.position
                );
                last = e.position;
            }
            let empty = page.is_empty();
            seen.extend(page);
            if empty && stopping {
                return seen;
            }
            if empty {
                tokio::select! {
                    _ = stop.notified() => stopping = true,
                    _ = tokio::time::sleep(Duration::from_millis(2)) => {}
                }
            }
        }
    })
}

#[tokio::test]
async fn a_reader_never_skips_an_event_committed_late() {
    let s = setup().await;
    let (x, _) = new_room();
    let (y, _) = new_room();
    let first = s
        .store
        .append(commit(messages(x, 0, 1)))
        .await
        .expect("first");
    let stop = Arc::new(Notify::new());
    let reader = spawn_reader(s.pool.clone(), stop.clone());

    // A slow appender (another node, say) appends and keeps its transaction open.
    let mut slow = s.pool.begin().await.expect("begin");
    let late: Committed = append_uncommitted(&mut slow, commit(messages(x, 1, 1)))
        .await
        .expect("slow append");
    // A later append through the batcher has to wait for it.
    let after = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(y, 0, 2))).await }
    });
    eventually("the batcher waiting on the append lock", || async {
        !lock_waiters(&s.pool).await.is_empty()
    })
    .await;
    // Meanwhile nothing after the first event is visible to anybody.
    for _ in 0..20 {
        let visible = read_all(&s.pool, first.position, 100)
            .await
            .expect("read_all");
        assert!(
            visible.is_empty(),
            "nothing may be visible past an open append: {visible:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !after.is_finished(),
        "the later append waits for the open one"
    );

    slow.commit().await.expect("commit the slow append");
    let after = after.await.expect("task").expect("later append");
    assert!(
        after.events[0].position > late.position,
        "positions are drawn in commit order"
    );

    stop.notify_one();
    let seen = reader.await.expect("reader");
    let positions: Vec<i64> = seen.iter().map(|e| e.position).collect();
    let expected: Vec<i64> = [first.position, late.position]
        .into_iter()
        .chain(after.events.iter().map(|e| e.position))
        .collect();
    assert_eq!(
        positions, expected,
        "the reader saw every event once, in order"
    );
}

#[tokio::test]
async fn a_rolled_back_append_does_not_stall_the_reader() {
    let s = setup().await;
    let (x, _) = new_room();
    let (y, _) = new_room();
    let mut doomed = s.pool.begin().await.expect("begin");
    let lost = append_uncommitted(&mut doomed, commit(messages(x, 0, 3)))
        .await
        .expect("doomed append");
    let after = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(y, 0, 1))).await }
    });
    eventually("the batcher waiting on the append lock", || async {
        !lock_waiters(&s.pool).await.is_empty()
    })
    .await;
    doomed.rollback().await.expect("roll back");
    let after = after.await.expect("task").expect("later append");
    assert!(
        after.position > lost.position,
        "the rolled-back positions are a hole"
    );

    // The reader gets past the hole at once: the event after it is the first it sees.
    let seen = poll_until("the reader to see the later event", || async {
        let seen = read_all(&s.pool, 0, 100).await.expect("read_all");
        (!seen.is_empty()).then_some(seen)
    })
    .await;
    assert_eq!(
        seen, after.events,
        "only the committed event, none of the rolled-back ones"
    );
    assert!(s
        .store
        .stream_versions(&[x])
        .await
        .expect("versions")
        .is_empty());
    // The stream is free again: the rollback left nothing behind.
    s.store
        .append(commit(messages(x, 0, 1)))
        .await
        .expect("x from scratch");
}

#[tokio::test]
async fn slow_concurrent_appenders_are_read_once_in_order() {
    let s = setup().await;
    // Other nodes: their own connections, their own (slow) transactions.
    let nodes = PgPoolOptions::new()
        .max_connections(6)
        .connect(&s.env.database_url)
        .await
        .expect("connect");
    let stop = Arc::new(Notify::new());
    let reader = spawn_reader(s.pool.clone(), stop.clone());

    let mut foreign = Vec::new();
    for node in 0..6u64 {
        let pool = nodes.clone();
        foreign.push(tokio::spawn(async move {
            let (stream, _) = new_room();
            let mut version = 0;
            let mut committed: Vec<EventId> = Vec::new();
            let mut rolled_back: Vec<EventId> = Vec::new();
            for i in 0..8u64 {
                let n = 1 + (node + i) % 2;
                let mut tx = pool.begin().await.expect("begin");
                let done = append_uncommitted(&mut tx, commit(messages(stream, version, n)))
                    .await
                    .expect("foreign append");
                let ids = done.events.iter().map(|e| e.event_id);
                // Deterministic "random" think time while holding the lock.
                tokio::time::sleep(Duration::from_millis((node * 7 + i * 13) % 15)).await;
                if (node + i) % 4 == 3 {
                    tx.rollback().await.expect("rollback");
                    rolled_back.extend(ids);
                } else {
                    tx.commit().await.expect("commit");
                    committed.extend(ids);
                    version += n as i64;
                }
            }
            (committed, rolled_back)
        }));
    }
    let mut batched = Vec::new();
    for _ in 0..4 {
        let store = s.store.clone();
        batched.push(tokio::spawn(async move {
            let (stream, _) = new_room();
            let mut ids = Vec::new();
            for v in 0..10 {
                let done = store
                    .append(commit(messages(stream, v, 1)))
                    .await
                    .expect("batched append");
                ids.extend(done.events.iter().map(|e| e.event_id));
            }
            ids
        }));
    }

    let mut committed: HashSet<EventId> = HashSet::new();
    let mut rolled_back: HashSet<EventId> = HashSet::new();
    for task in foreign {
        let (c, r) = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("in time")
            .expect("task");
        committed.extend(c);
        rolled_back.extend(r);
    }
    for task in batched {
        committed.extend(
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("in time")
                .expect("task"),
        );
    }
    stop.notify_one();
    let seen = reader.await.expect("reader");
    let seen_ids: Vec<EventId> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(
        seen_ids.len(),
        committed.len(),
        "no event read twice or missed"
    );
    assert_eq!(
        seen_ids.into_iter().collect::<HashSet<_>>(),
        committed,
        "exactly the committed events"
    );
    assert!(!rolled_back.is_empty());
    assert!(seen.iter().all(|e| !rolled_back.contains(&e.event_id)));
}
