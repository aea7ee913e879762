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

    let versions: Vec<i64> = s
        .store
        .read_stream(hot, 0)
        .await
        .expect("read")
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
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

/// Commits queued while a batch waits for the append lock (behind the batch
/// before it, committing) join that batch: it is written only once the lock
/// is granted, so under load a batch carries what arrived during a whole
/// commit instead of half of it.
#[tokio::test]
async fn commits_queued_while_a_batch_waits_for_the_lock_join_it() {
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
    // `one_batch`'s first commit took the lock's wait alone; one transaction
    // (one `recorded_at`) holds it and both commits queued behind it.
    let head = s.store.head().await.expect("head");
    let all = read_all(&s.pool, 0, 100).await.expect("read");
    assert_eq!(all.last().expect("events").position, head);
    let blocker = &all[0];
    for c in &committed {
        for e in &c.events {
            assert_eq!(e.recorded_at, blocker.recorded_at, "one transaction");
        }
    }
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
    // `one_batch`'s first commit (1 event) waits for the lock alone; when it
    // gets it, `a` joins it (3 events, full). The next batch takes `b` and
    // hands `c` back; `d` would fit beside `b`, but was queued after `c`.
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
