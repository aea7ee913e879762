//! The repository over the real store: pipelined commands on a hot stream,
//! a stale cache caught by the version check, commands decided on top of a
//! failed one, decisions without events.

// The event log's own test support (a store on a fresh database, a counter
// aggregate, holding the append lock): one copy, shared with its tests.
#[path = "../../eventlog/tests/support/mod.rs"]
mod store_support;

use command::repository::{CommandError, Repository};
use domain::{Aggregate, DomainError, EventMetadata, UserId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use store_support::*;
use uuid::Uuid;

fn meta() -> EventMetadata {
    EventMetadata::default()
}

#[tokio::test]
async fn two_hundred_concurrent_commands_on_one_stream_are_pipelined() {
    let s = setup().await;
    let repo = Repository::new(s.store.clone(), 100);
    let (stream, room) = new_room();
    const COMMANDS: usize = 200;

    // Hold the batcher on one batch: every command must still be able to
    // decide and queue behind it, which only pipelining allows.
    let lock = hold_append_lock(&s.pool).await;
    let blocker = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(new_room().0, 0, 1))).await }
    });
    wait_blocked_with_queue(&s, 0).await;
    let mut tasks = Vec::new();
    for _ in 0..COMMANDS {
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            repo.execute::<Counter>(stream, meta(), vec![], move |c| c.decide(&room))
                .await
        }));
    }
    wait_blocked_with_queue(&s, COMMANDS).await;
    lock.commit().await.expect("release the lock");
    blocker.await.expect("task").expect("blocker");

    let mut seqs = Vec::new();
    for task in tasks {
        let outcome = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("in time")
            .expect("task")
            .expect("command");
        assert_eq!(outcome.events.len(), 1);
        let seq = seq_of(&outcome.committed.events[0].event);
        assert_eq!(outcome.committed.events[0].version as u64, seq);
        seqs.push(seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=COMMANDS as u64).collect::<Vec<_>>());

    let stored = s.store.read_stream(stream, 0).await.expect("read");
    let by_version: Vec<(i64, u64)> = stored
        .iter()
        .map(|e| (e.version, seq_of(&e.event)))
        .collect();
    let expected: Vec<(i64, u64)> = (1..=COMMANDS as u64).map(|v| (v as i64, v)).collect();
    assert_eq!(by_version, expected, "versions and seqs gapless and equal");
    assert_eq!(
        repo.load::<Counter>(stream).await.expect("load").0.seq,
        COMMANDS as u64
    );
}

#[tokio::test]
async fn a_stale_cache_is_caught_and_the_command_retried() {
    let s = setup().await;
    let repo = Repository::new(s.store.clone(), 100);
    let (stream, room) = new_room();
    repo.execute::<Counter>(stream, meta(), vec![], |c| c.decide(&room))
        .await
        .expect("first command");
    // Someone appends behind the cache's back (another node).
    s.store
        .append(commit(messages(stream, 1, 1)))
        .await
        .expect("raw append");

    let decisions = Arc::new(AtomicUsize::new(0));
    let counted = decisions.clone();
    let outcome = repo
        .execute::<Counter>(stream, meta(), vec![], move |c| {
            counted.fetch_add(1, Ordering::SeqCst);
            c.decide(&room)
        })
        .await
        .expect("retried command");
    assert_eq!(
        decisions.load(Ordering::SeqCst),
        2,
        "decided on the stale state, then on fresh state"
    );
    assert_eq!(seq_of(&outcome.committed.events[0].event), 3);
    assert_eq!(outcome.committed.events[0].version, 3);
    assert_eq!(
        repo.load::<Counter>(stream).await.expect("load"),
        (Counter { seq: 3 }, 3)
    );
}

/// Two command nodes on one log: a refusal or a no-op appends nothing, so no
/// expected version catches a stale cache; the repository checks the store
/// before answering one, and `load` before handing out a state.
#[tokio::test]
async fn refusals_and_no_ops_are_decided_on_what_another_node_wrote() {
    let s = setup().await;
    let (one, other) = (
        Repository::new(s.store.clone(), 100),
        Repository::new(s.store.clone(), 100),
    );
    let (stream, room) = new_room();
    one.execute::<Counter>(stream, meta(), vec![], |c| c.decide(&room))
        .await
        .expect("first");
    // `one` caches seq 1; `other` moves the stream to seq 2.
    other
        .execute::<Counter>(stream, meta(), vec![], |c| c.decide(&room))
        .await
        .expect("on the other node");

    // A rule only seq 2 satisfies: refused on the stale state, allowed on fresh.
    let needs_two = |c: &Counter| {
        if c.seq == 2 {
            Ok(vec![])
        } else {
            Err(DomainError::NotRoomOwner)
        }
    };
    let answer = one
        .execute::<Counter>(stream, meta(), vec![], needs_two)
        .await
        .expect("decided on what the other node wrote");
    assert!(answer.events.is_empty());
    assert_eq!(
        one.load::<Counter>(stream).await.expect("load"),
        (Counter { seq: 2 }, 2)
    );

    // A no-op answered from a stale cache would be wrong the other way round.
    other
        .execute::<Counter>(stream, meta(), vec![], |c| c.decide(&room))
        .await
        .expect("seq 3 on the other node");
    let refused = one
        .execute::<Counter>(stream, meta(), vec![], needs_two)
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Domain(DomainError::NotRoomOwner))
    ));
    assert_eq!(one.load::<Counter>(stream).await.expect("load").0.seq, 3);
}

#[tokio::test]
async fn commands_pipelined_on_a_failed_one_are_decided_again() {
    let s = setup().await;
    let repo = Repository::new(s.store.clone(), 100);
    let user = UserId(Uuid::now_v7());
    let (other, _) = new_room();
    let used = eventlog::Commit {
        side_writes: vec![answer(user, "once")],
        ..commit(messages(other, 0, 1))
    };
    s.store.append(used).await.expect("key stored");
    let (stream, room) = new_room();
    repo.load::<Counter>(stream).await.expect("warm the cache");

    let lock = hold_append_lock(&s.pool).await;
    let blocker = tokio::spawn({
        let store = s.store.clone();
        async move { store.append(commit(messages(new_room().0, 0, 1))).await }
    });
    wait_blocked_with_queue(&s, 0).await;
    // A reuses a stored key, so its commit will fail; B is decided on top of A.
    let a = tokio::spawn({
        let repo = repo.clone();
        async move {
            repo.execute::<Counter>(stream, meta(), vec![answer(user, "once")], move |c| {
                c.decide(&room)
            })
            .await
        }
    });
    wait_blocked_with_queue(&s, 1).await;
    let b = tokio::spawn({
        let repo = repo.clone();
        async move {
            repo.execute::<Counter>(stream, meta(), vec![], move |c| c.decide(&room))
                .await
        }
    });
    wait_blocked_with_queue(&s, 2).await;
    lock.commit().await.expect("release the lock");
    blocker.await.expect("task").expect("blocker");

    let a = a.await.expect("task");
    assert!(
        matches!(a, Err(CommandError::IdempotencyKeyExists)),
        "got {a:?}"
    );
    let b = b
        .await
        .expect("task")
        .expect("B decided again on real state");
    assert_eq!(
        seq_of(&b.committed.events[0].event),
        1,
        "no phantom message before it"
    );
    let stored = s.store.read_stream(stream, 0).await.expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(seq_of(&stored[0].event), 1);
}

#[tokio::test]
async fn decisions_without_events_or_with_errors_append_nothing() {
    let s = setup().await;
    let repo = Repository::new(s.store.clone(), 100);
    let (stream, room) = new_room();
    let first = repo
        .execute::<Counter>(stream, meta(), vec![], |c| c.decide(&room))
        .await
        .expect("first");
    // Another stream moves the head on.
    s.store
        .append(commit(messages(new_room().0, 0, 1)))
        .await
        .expect("elsewhere");

    let nothing = repo
        .execute::<Counter>(stream, meta(), vec![], |_| Ok(vec![]))
        .await
        .expect("no-op");
    assert!(nothing.events.is_empty() && nothing.committed.events.is_empty());
    assert_eq!(
        nothing.committed.position, first.committed.position,
        "the stream's last position"
    );
    assert_eq!(repo.load::<Counter>(stream).await.expect("load").0.seq, 1);

    let refused = repo
        .execute::<Counter>(stream, meta(), vec![], |_| Err(DomainError::NotRoomOwner))
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Domain(DomainError::NotRoomOwner))
    ));
    assert_eq!(s.store.read_stream(stream, 0).await.expect("read").len(), 1);

    // A cold repository replays the stream and answers no-ops with the same position.
    let cold = Repository::new(s.store.clone(), 100);
    let replayed = cold
        .execute::<Counter>(stream, meta(), vec![], |_| Ok(vec![]))
        .await
        .expect("no-op on replayed state");
    assert_eq!(replayed.committed.position, first.committed.position);
    assert_eq!(cold.load::<Counter>(stream).await.expect("load").0.seq, 1);
}

#[tokio::test]
async fn a_commit_appended_through_the_repository_refreshes_the_cache() {
    let s = setup().await;
    let repo = Repository::new(s.store.clone(), 100);
    let (stream, room) = new_room();
    assert_eq!(repo.load::<Counter>(stream).await.expect("load").1, 0);
    repo.append(commit(messages(stream, 0, 2)))
        .await
        .expect("raw append");
    // Without a refresh a refusal based on the stale state would stand.
    let outcome = repo
        .execute::<Counter>(stream, meta(), vec![], |c| {
            if c.seq == 0 {
                Err(DomainError::RoomNotFound)
            } else {
                c.decide(&room)
            }
        })
        .await
        .expect("decided on fresh state");
    assert_eq!(seq_of(&outcome.committed.events[0].event), 3);
}

#[tokio::test]
async fn a_raw_commit_refused_on_a_stale_cache_refreshes_it_for_the_retry() {
    let s = setup().await;
    let repo = Repository::new(s.store.clone(), 100);
    let (stream, _) = new_room();
    assert_eq!(repo.load::<Counter>(stream).await.expect("load").1, 0);
    // Another process appends behind the cache's back (the reminder
    // scheduler into a meet-up's stream, say).
    s.store
        .append(commit(messages(stream, 0, 1)))
        .await
        .expect("raw append");
    // A commit decided on what the cache held before (version 0).
    let refused = repo.append(commit(messages(stream, 0, 1))).await;
    assert!(
        matches!(refused, Err(eventlog::AppendError::Conflict { .. })),
        "decided on the stale version: {refused:?}"
    );
    // The retry decides on what the store holds, not on the stale entry
    // (kept, every retry would be refused the same way, forever).
    let (_, version) = repo.load::<Counter>(stream).await.expect("load");
    assert_eq!(version, 1, "the refused commit's streams were forgotten");
    repo.append(commit(messages(stream, version, 1)))
        .await
        .expect("retried on fresh state");
}
