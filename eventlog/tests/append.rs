//! Appends through the group-commit batcher against a real Postgres:
//! per-stream version checks, duplicate ids and keys, per-commit outcomes in
//! one batch, all-or-nothing multi-stream commits, the dead-epoch rule.

mod support;

use domain::{EventId, EventMetadata, StreamType, UserId};
use eventlog::{read_all, AppendError, Commit, SideWrite, StreamAppend};
use std::collections::HashSet;
use support::*;
use uuid::Uuid;

#[tokio::test]
async fn sixty_four_concurrent_appenders_get_gapless_versions() {
    let s = setup().await;
    let (stream, _) = new_room();
    const WRITERS: usize = 64;
    const EACH: usize = 5;
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<(EventId, i64)> = Vec::new();
            let mut expected = 0;
            let mut attempts = 0;
            while acked.len() < EACH {
                attempts += 1;
                assert!(attempts < 10_000, "appender made no progress");
                match store.append(commit(messages(stream, expected, 1))).await {
                    Ok(done) => {
                        for e in done.events {
                            acked.push((e.event_id, e.version));
                            expected = e.version;
                        }
                    }
                    Err(AppendError::Conflict { actual, .. }) => expected = actual,
                    Err(other) => panic!("unexpected append error: {other}"),
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        let done = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("appenders finish")
            .expect("task");
        acked.extend(done);
    }
    let total = WRITERS * EACH;
    assert_eq!(acked.len(), total);

    let stored = s.store.read_stream(stream, 0).await.expect("read stream");
    let versions: Vec<i64> = stored.iter().map(|e| e.version).collect();
    assert_eq!(
        versions,
        (1..=total as i64).collect::<Vec<_>>(),
        "one event per version, no gaps"
    );
    let stored_ids: HashSet<EventId> = stored.iter().map(|e| e.event_id).collect();
    let acked_ids: HashSet<EventId> = acked.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        acked_ids.len(),
        total,
        "every acknowledged event is distinct"
    );
    assert_eq!(
        stored_ids, acked_ids,
        "every acknowledged event is stored exactly once"
    );
    for (id, version) in &acked {
        let e = stored
            .iter()
            .find(|e| e.event_id == *id)
            .expect("acked event stored");
        assert_eq!(
            e.version, *version,
            "acknowledged version is the stored one"
        );
    }
    let positions: Vec<i64> = stored.iter().map(|e| e.position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions follow versions"
    );
    let versions = s.store.stream_versions(&[stream]).await.expect("versions");
    assert_eq!(versions[&stream], (StreamType::Room, total as i64));
    assert_eq!(
        s.store.head().await.expect("head"),
        *positions.last().expect("events")
    );
}

#[tokio::test]
async fn duplicate_event_id_appends_nothing() {
    let s = setup().await;
    let (a, _) = new_room();
    let (b, _) = new_room();
    let id = EventId(Uuid::now_v7());
    let first = s
        .store
        .append_with_event_ids(commit(messages(a, 0, 1)), vec![id])
        .await
        .expect("first append");
    assert_eq!(first.events[0].event_id, id);

    let again = s
        .store
        .append_with_event_ids(commit(messages(b, 0, 1)), vec![id])
        .await;
    assert_eq!(again, Err(AppendError::DuplicateEventId(id)));
    assert!(s.store.read_stream(b, 0).await.expect("read").is_empty());
    assert!(s
        .store
        .stream_versions(&[b])
        .await
        .expect("versions")
        .is_empty());
    assert_eq!(read_all(&s.pool, 0, 100).await.expect("read all").len(), 1);
}

#[tokio::test]
async fn duplicate_idempotency_key_appends_nothing() {
    let s = setup().await;
    let user = UserId(Uuid::now_v7());
    let (a, _) = new_room();
    let (b, _) = new_room();
    let with_key = |stream| Commit {
        side_writes: vec![answer(user, "k-1")],
        ..commit(messages(stream, 0, 1))
    };
    let first = s.store.append(with_key(a)).await.expect("first append");
    let again = s.store.append(with_key(b)).await;
    assert_eq!(again, Err(AppendError::IdempotencyKeyExists));
    assert!(s.store.read_stream(b, 0).await.expect("read").is_empty());

    let stored = s
        .store
        .idempotent_answer(user, "k-1")
        .await
        .expect("read answer")
        .expect("answer stored");
    assert_eq!(stored.status, 201);
    assert_eq!(stored.request_hash, vec![1, 2, 3]);
    assert_eq!(stored.body["message_id"], "m1");
    assert_eq!(
        stored.body["position"], first.position,
        "the answer carries the commit's position"
    );
    assert_eq!(
        s.store.idempotent_answer(user, "k-2").await.expect("read"),
        None
    );

    // The same key twice in one batch: the first wins, the second appends nothing.
    let (c, _) = new_room();
    let (d, _) = new_room();
    let key2 = |stream| Commit {
        side_writes: vec![answer(user, "k-2")],
        ..commit(messages(stream, 0, 1))
    };
    let outcomes = one_batch(&s, vec![key2(c), key2(d)]).await;
    let first = outcomes[0].as_ref().expect("first with the key");
    assert_eq!(outcomes[1], Err(AppendError::IdempotencyKeyExists));
    assert!(s.store.read_stream(d, 0).await.expect("read").is_empty());
    let stored = s
        .store
        .idempotent_answer(user, "k-2")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.body["position"], first.position);
}

#[tokio::test]
async fn a_conflict_fails_only_its_own_commit_in_a_batch() {
    let s = setup().await;
    let (hot, _) = new_room();
    let (other, _) = new_room();
    s.store
        .append(commit(messages(hot, 0, 2)))
        .await
        .expect("seed");

    let outcomes = one_batch(
        &s,
        vec![
            commit(messages(hot, 2, 1)),   // ok: 3
            commit(messages(hot, 2, 1)),   // conflict: the first moved it to 3
            commit(messages(other, 0, 2)), // ok
            commit(messages(hot, 3, 2)),   // ok: decided after the first
        ],
    )
    .await;
    assert_eq!(outcomes[0].as_ref().expect("first").events[0].version, 3);
    assert_eq!(
        outcomes[1],
        Err(AppendError::Conflict {
            stream_id: hot,
            expected: 2,
            actual: 3
        })
    );
    assert_eq!(outcomes[2].as_ref().expect("other stream").events.len(), 2);
    let last = outcomes[3].as_ref().expect("fourth");
    assert_eq!(
        last.events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(last.position, last.events[1].position);

    assert_eq!(versions_of(&s, hot).await, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_multi_stream_commit_is_all_or_nothing() {
    let s = setup().await;
    let (a, _) = new_room();
    let (b, _) = new_room();
    s.store
        .append(commit(messages(b, 0, 1)))
        .await
        .expect("seed b");

    let both = |expected_b| Commit {
        streams: vec![messages(a, 0, 2), messages(b, expected_b, 1)],
        metadata: EventMetadata::default(),
        side_writes: vec![],
    };
    let refused = s.store.append(both(0)).await;
    assert_eq!(
        refused,
        Err(AppendError::Conflict {
            stream_id: b,
            expected: 0,
            actual: 1
        })
    );
    assert!(
        s.store.read_stream(a, 0).await.expect("read").is_empty(),
        "nothing of the commit stored"
    );
    assert_eq!(s.store.read_stream(b, 0).await.expect("read").len(), 1);

    let done = s.store.append(both(1)).await.expect("both streams");
    assert_eq!(done.events.len(), 3);
    let positions: Vec<i64> = done.events.iter().map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(done.position, positions[2]);
    assert_eq!(s.store.read_stream(a, 0).await.expect("read").len(), 2);
    assert_eq!(s.store.read_stream(b, 0).await.expect("read").len(), 2);
}

#[tokio::test]
async fn a_failed_epoch_fails_commits_decided_on_top_of_it() {
    let s = setup().await;
    let (stream, _) = new_room();
    s.store
        .append(commit(messages(stream, 0, 1)))
        .await
        .expect("seed");
    let cached = |expected, epoch| {
        commit(StreamAppend {
            epoch: Some(epoch),
            ..messages(stream, expected, 1)
        })
    };

    // A was decided on a stale cache (version 0); B on top of A, so B's
    // expected version happens to match the stream. B must not be stored.
    let outcomes = one_batch(
        &s,
        vec![cached(0, 7), cached(1, 7), commit(messages(stream, 1, 1))],
    )
    .await;
    assert!(matches!(
        outcomes[0],
        Err(AppendError::Conflict {
            expected: 0,
            actual: 1,
            ..
        })
    ));
    assert!(matches!(
        outcomes[1],
        Err(AppendError::Conflict {
            expected: 1,
            actual: 1,
            ..
        })
    ));
    assert_eq!(
        outcomes[2].as_ref().expect("uncached append").events[0].version,
        2
    );

    // Still refused in later batches, until the epoch is retired.
    assert!(matches!(
        s.store.append(cached(2, 7)).await,
        Err(AppendError::Conflict { .. })
    ));
    s.store.retire_epoch(stream, 7).await;
    assert_eq!(
        s.store
            .append(cached(2, 7))
            .await
            .expect("after retire")
            .events[0]
            .version,
        3
    );
    // Other epochs were never affected.
    assert_eq!(
        s.store
            .append(cached(3, 8))
            .await
            .expect("other epoch")
            .events[0]
            .version,
        4
    );
}

#[tokio::test]
async fn credentials_side_writes_and_lookups() {
    let s = setup().await;
    let user = UserId(Uuid::now_v7());
    let registered = domain::DomainEvent::from(domain::event::UserEvent::Registered(
        domain::event::UserRegistered {
            user_id: user,
            username: "minji".into(),
            display_name: "민지".into(),
            at: at(),
        },
    ));
    let commit = Commit {
        streams: vec![StreamAppend {
            stream_id: user.into(),
            stream_type: StreamType::User,
            expected_version: 0,
            events: vec![registered.clone()],
            epoch: None,
        }],
        metadata: EventMetadata {
            actor: Some(user),
            ..Default::default()
        },
        side_writes: vec![SideWrite::Credential {
            user_id: user,
            username: "minji".into(),
            password_hash: "$argon2id$test".into(),
        }],
    };
    let done = s.store.append(commit).await.expect("register");
    let credential = s.store.credential("minji", "minji").await.expect("lookup");
    assert_eq!(
        credential.map(|c| (c.user_id, c.password_hash, c.registered_at)),
        Some((user, "$argon2id$test".into(), done.position))
    );
    assert_eq!(
        s.store
            .credential("nobody", "nobody")
            .await
            .expect("lookup"),
        None
    );

    let all = read_all(&s.pool, 0, 10).await.expect("read all");
    assert_eq!(
        all, done.events,
        "read back exactly what the append answered"
    );
    assert_eq!(all[0].event, registered);
    assert_eq!(all[0].metadata.actor, Some(user));

    // Events of another stream type are refused before anything is written.
    let wrong = Commit {
        streams: vec![StreamAppend {
            stream_id: new_room().0,
            stream_type: StreamType::Room,
            expected_version: 0,
            events: vec![registered],
            epoch: None,
        }],
        metadata: EventMetadata::default(),
        side_writes: vec![],
    };
    assert!(matches!(
        s.store.append(wrong).await,
        Err(AppendError::Rejected(_))
    ));

    // A commit of side writes alone answers with the head.
    let head = s.store.head().await.expect("head");
    let only_answer = Commit {
        streams: vec![],
        metadata: EventMetadata::default(),
        side_writes: vec![answer(user, "k-head")],
    };
    assert_eq!(
        s.store
            .append(only_answer)
            .await
            .expect("answer only")
            .position,
        head
    );
}

/// A planned batch is one statement, sent whole: the commits queued while
/// it waits inside Postgres for the append lock (held by another node) form
/// the next batch, one transaction, written as soon as it is done.
#[tokio::test]
async fn commits_queued_while_a_planned_batch_waits_for_the_lock_form_the_next() {
    let s = setup().await;
    let outcomes = one_batch(
        &s,
        vec![
            commit(messages(new_room().0, 0, 1)),
            commit(messages(new_room().0, 0, 2)),
        ],
    )
    .await;
    let committed: Vec<_> = outcomes.into_iter().map(|o| o.expect("appended")).collect();
    let head = s.store.head().await.expect("head");
    let all = read_all(&s.pool, 0, 100).await.expect("read");
    assert_eq!(all.last().expect("events").position, head);
    let blocker = &all[0];
    let next = committed[0].events[0].recorded_at;
    assert_ne!(next, blocker.recorded_at, "not the blocker's transaction");
    for c in &committed {
        for e in &c.events {
            assert_eq!(e.recorded_at, next, "one transaction");
        }
    }
    let counts = s.store.batch_counts();
    assert_eq!((counts.planned, counts.checked), (2, 0), "{counts:?}");
}

/// A batch written checked opens its transaction first and waits for the
/// lock in it: the commits queued meanwhile join it once the lock is
/// granted, so under load it carries what arrived during the whole wait.
#[tokio::test]
async fn commits_queued_while_a_checked_batch_waits_for_the_lock_join_it() {
    let s = setup().await;
    let lock = hold_append_lock(&s.pool).await;
    // An answer without events is written checked: its position is the
    // log's head, which only a read gives.
    let blocker = tokio::spawn({
        let store = s.store.clone();
        async move {
            store
                .append(Commit {
                    streams: vec![],
                    metadata: EventMetadata::default(),
                    side_writes: vec![answer(UserId(Uuid::now_v7()), "k-blocker")],
                })
                .await
        }
    });
    wait_blocked_with_queue(&s, 0).await;
    let mut tasks = Vec::new();
    for (i, n) in [1, 2].into_iter().enumerate() {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            store.append(commit(messages(new_room().0, 0, n))).await
        }));
        wait_blocked_with_queue(&s, i + 1).await;
    }
    lock.commit().await.expect("release the lock");
    blocker.await.expect("task").expect("blocker appended");
    let mut recorded = Vec::new();
    for task in tasks {
        let done = task.await.expect("task").expect("appended");
        recorded.extend(done.events.iter().map(|e| e.recorded_at));
    }
    assert!(recorded.windows(2).all(|w| w[0] == w[1]), "one transaction");
    let counts = s.store.batch_counts();
    assert_eq!((counts.planned, counts.checked), (0, 1), "{counts:?}");
}

/// A commit that does not fit into a batch keeps its place: what was
/// queued after it does not join that batch while it waits for the lock.
#[tokio::test]
async fn a_commit_that_does_not_fit_keeps_its_place_in_the_queue() {
    let s = setup_with(eventlog::BatchConfig {
        max_events: 3,
        ..Default::default()
    })
    .await;
    // `one_batch`'s first commit (1 event) waits for the lock alone. Then
    // `a` forms a batch and hands `b` back (4 events would be too many),
    // `b` one that hands `c` back, and `c` one with `d` (3 events): `d`
    // would have fitted beside `a` or `b`, but was queued after `c`.
    let outcomes = one_batch(
        &s,
        vec![
            commit(messages(new_room().0, 0, 2)), // a
            commit(messages(new_room().0, 0, 2)), // b
            commit(messages(new_room().0, 0, 2)), // c
            commit(messages(new_room().0, 0, 1)), // d
        ],
    )
    .await;
    let committed: Vec<_> = outcomes.into_iter().map(|o| o.expect("appended")).collect();
    let (c, d) = (&committed[2], &committed[3]);
    assert!(
        d.events[0].position > c.position,
        "queue order kept: d at {} after c at {}",
        d.events[0].position,
        c.position
    );
}

/// The batcher's thread runs at the nice value asked for (a value above the
/// process's needs no privilege), and the other threads keep theirs.
#[tokio::test]
async fn the_batcher_thread_runs_at_the_nice_value_asked_for() {
    let s = setup_with(eventlog::BatchConfig {
        thread_nice: Some(7),
        ..Default::default()
    })
    .await;
    // The thread sets its priority before it takes its first commit.
    s.store
        .append(commit(messages(new_room().0, 0, 1)))
        .await
        .expect("appended");
    // `/proc/self/task/<tid>/stat`: field 19 is the nice value; the name
    // (field 2, in parentheses) may hold spaces, so split after it.
    let nice_of = |task: &std::path::Path| -> Option<(String, i32)> {
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let nice = rest.split_whitespace().nth(16)?.parse().ok()?;
        Some((comm.trim().to_owned(), nice))
    };
    let mut threads = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("tasks") {
        threads.extend(nice_of(&task.expect("task").path()));
    }
    let process_nice = nice_of(std::path::Path::new("/proc/self"))
        .expect("own stat")
        .1;
    let batchers: Vec<_> = threads
        .iter()
        .filter(|(name, _)| name == "eventlog-batche")
        .collect();
    // Other tests' stores may run in this process at the default priority.
    assert!(
        batchers.iter().any(|(_, nice)| *nice == 7),
        "batcher threads {batchers:?} among {threads:?}"
    );
    assert!(
        threads
            .iter()
            .any(|(name, nice)| name != "eventlog-batche" && *nice == process_nice),
        "other threads keep the process's nice value: {threads:?}"
    );
}

/// A batch whose commits can be judged without the database is written in
/// one statement that checks what it assumed (issue 20): nothing is read
/// under the lock first, and the outcome is what the checked walk gives.
#[tokio::test]
async fn a_batch_the_commits_alone_can_judge_is_written_planned() {
    let s = setup().await;
    let (seeded, _) = new_room();
    let first = s
        .store
        .append(commit(messages(seeded, 0, 2)))
        .await
        .expect("seed");
    // A fresh log's sequence has drawn nothing: the first position is 1.
    assert_eq!(first.events[0].position, 1);
    assert_eq!(first.position, 2);

    let (fresh, _) = new_room();
    let user = UserId(Uuid::now_v7());
    let outcomes = one_batch(
        &s,
        vec![
            commit(messages(seeded, 2, 1)),
            Commit {
                side_writes: vec![answer(user, "k-planned")],
                ..commit(messages(fresh, 0, 2))
            },
            commit(messages(seeded, 3, 1)),
        ],
    )
    .await;
    let done: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.expect("every commit accepted"))
        .collect();
    let positions: Vec<i64> = done
        .iter()
        .flat_map(|c| c.events.iter().map(|e| e.position))
        .collect();
    // `one_batch`'s blocker, the batch before, took position 3.
    assert_eq!(positions, vec![4, 5, 6, 7], "positions follow the head");
    assert_eq!(done[0].events[0].version, 3);
    assert_eq!(done[2].events[0].version, 4);
    let stored = s
        .store
        .idempotent_answer(user, "k-planned")
        .await
        .expect("read")
        .expect("answer stored");
    assert_eq!(
        stored.body["position"], 6,
        "the answer carries its position"
    );

    let log = read_all(&s.pool, 0, 100).await.expect("read all");
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<i64>>()
    );
    let versions = s
        .store
        .stream_versions(&[seeded, fresh])
        .await
        .expect("versions");
    assert_eq!(versions.get(&seeded).map(|v| v.1), Some(4));
    assert_eq!(versions.get(&fresh).map(|v| v.1), Some(2));
    let counts = s.store.batch_counts();
    // The seed, the blocker, then the batch: nothing read the streams first.
    assert_eq!(counts.planned, 3, "{counts:?}");
    assert_eq!(counts.checked, 0, "{counts:?}");
    assert_eq!(counts.replanned, 0, "{counts:?}");
}

/// A commit behind the stream, which only the database knows, fails the
/// planned statement; written again checked, only that commit is refused.
#[tokio::test]
async fn a_stale_version_only_the_database_knows_is_refused_alone() {
    let s = setup().await;
    let (hot, _) = new_room();
    let (other, _) = new_room();
    s.store
        .append(commit(messages(hot, 0, 2)))
        .await
        .expect("seed");
    let before = s.store.batch_counts();

    let outcomes = one_batch(
        &s,
        vec![commit(messages(other, 0, 1)), commit(messages(hot, 1, 1))],
    )
    .await;
    assert!(outcomes[0].as_ref().expect("other stream").position > 2);
    assert_eq!(
        outcomes[1],
        Err(AppendError::Conflict {
            stream_id: hot,
            expected: 1,
            actual: 2
        })
    );
    assert_eq!(s.store.batch_counts().replanned, before.replanned + 1);
    assert_eq!(versions_of(&s, hot).await, vec![1, 2]);
}

/// A commit expecting a version the stream has not reached would insert
/// without a key conflict, leaving a gap in the stream's versions; the plan's
/// check refuses it, and the checked walk says why.
#[tokio::test]
async fn a_version_ahead_of_the_stream_is_refused_not_written_with_a_gap() {
    let s = setup().await;
    let (hot, _) = new_room();
    s.store
        .append(commit(messages(hot, 0, 2)))
        .await
        .expect("seed");
    let (ghost, _) = new_room();
    let before = s.store.batch_counts();

    let ahead = s.store.append(commit(messages(hot, 4, 1))).await;
    assert_eq!(
        ahead,
        Err(AppendError::Conflict {
            stream_id: hot,
            expected: 4,
            actual: 2
        })
    );
    // A stream that does not exist is at version 0, not any other.
    let absent = s.store.append(commit(messages(ghost, 3, 1))).await;
    assert_eq!(
        absent,
        Err(AppendError::Conflict {
            stream_id: ghost,
            expected: 3,
            actual: 0
        })
    );
    assert_eq!(s.store.batch_counts().replanned, before.replanned + 2);
    assert_eq!(s.store.read_stream(hot, 0).await.expect("read").len(), 2);
    assert!(s
        .store
        .read_stream(ghost, 0)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(read_all(&s.pool, 0, 100).await.expect("read all").len(), 2);

    // The refused statements wrote nothing; the next planned batch follows
    // the seed.
    let next = s
        .store
        .append(commit(messages(hot, 2, 1)))
        .await
        .expect("the right version");
    assert!(next.position > 2);
    assert_eq!(s.store.batch_counts().replanned, before.replanned + 2);
}

/// A stream of another type under the same id is refused as the checked
/// walk refuses it, after the plan's check failed.
#[tokio::test]
async fn a_stream_of_another_type_is_refused_after_the_plan() {
    let s = setup().await;
    let (room, _) = new_room();
    s.store
        .append(commit(messages(room, 0, 1)))
        .await
        .expect("seed");
    let user = UserId(room.0);
    let registered = domain::DomainEvent::from(domain::event::UserEvent::Registered(
        domain::event::UserRegistered {
            user_id: user,
            username: "dahye".into(),
            display_name: "다혜".into(),
            at: at(),
        },
    ));
    let wrong = s
        .store
        .append(commit(StreamAppend {
            stream_id: room,
            stream_type: StreamType::User,
            expected_version: 1,
            events: vec![registered],
            epoch: None,
        }))
        .await;
    assert!(
        matches!(&wrong, Err(AppendError::Rejected(reason)) if reason.contains("room stream")),
        "{wrong:?}"
    );
    assert_eq!(s.store.batch_counts().replanned, 1);
    assert_eq!(s.store.read_stream(room, 0).await.expect("read").len(), 1);
}
