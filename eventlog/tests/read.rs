//! The readers against a real Postgres: `read_all` and the per-stream reads
//! give back exactly what was appended (metadata included), `read_between`
//! pages past its page size, `streams_touched` answers for `read_all`'s page,
//! the parallel scan delivers every event once, in order, to every consumer,
//! and a row this build cannot decode is refused with its position by every
//! reader.

mod support;

use domain::{EventMetadata, StoredEvent, StreamId, StreamType, UserId};
use eventlog::scan::{read_pages, ScanPlan};
use eventlog::{
    count_between, head, read_all, read_between, read_stream_page, streams_touched, Commit,
    StoreError, TouchedPage,
};
use sqlx::PgPool;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use support::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Two room streams, interleaved over eight commits: 1100 events.
async fn fill(s: &Setup) -> (StreamId, Vec<StoredEvent>) {
    let (a, _) = new_room();
    let (b, _) = new_room();
    let metadata = EventMetadata {
        actor: Some(UserId(Uuid::now_v7())),
        command_id: Some(Uuid::now_v7()),
        idempotency_key: Some("read-test".into()),
        correlation_id: Some(Uuid::now_v7()),
    };
    let mut appended = Vec::new();
    for round in 0..4 {
        for (stream, n) in [(a, 150u64), (b, 125u64)] {
            let commit = Commit {
                streams: vec![messages(stream, round * n as i64, n)],
                metadata: metadata.clone(),
                side_writes: Vec::new(),
            };
            appended.extend(s.store.append(commit).await.expect("append").events);
        }
    }
    (a, appended)
}

/// Run the parallel scan from `after` into two consumers; what each got,
/// and the position the scan ended at.
async fn scan_twice(pool: &PgPool, after: i64, plan: ScanPlan) -> (Vec<Vec<StoredEvent>>, i64) {
    let mut senders = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let (tx, mut rx) = mpsc::channel::<eventlog::scan::Page>(2);
        senders.push(tx);
        consumers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(page) = rx.recv().await {
                got.extend(page.iter().cloned());
            }
            got
        }));
    }
    let seen_head = Arc::new(AtomicI64::new(0));
    let last = read_pages(
        pool.clone(),
        after,
        plan,
        senders,
        seen_head.clone(),
        CancellationToken::new(),
    )
    .await
    .expect("scan");
    assert_eq!(seen_head.load(Ordering::Relaxed), last, "head kept");
    let mut got = Vec::new();
    for consumer in consumers {
        got.push(consumer.await.expect("consumer"));
    }
    (got, last)
}

#[tokio::test]
async fn every_reader_gives_back_what_was_appended() {
    let s = setup().await;
    let (a, appended) = fill(&s).await;
    let last = appended.last().expect("appended").position;

    assert_eq!(
        read_all(&s.pool, 0, 10_000).await.expect("read_all"),
        appended
    );
    assert_eq!(head(&s.pool).await.expect("head"), last);

    let of_a: Vec<StoredEvent> = appended
        .iter()
        .filter(|e| e.stream_id == a)
        .cloned()
        .collect();
    assert_eq!(
        read_stream_page(&s.pool, a, 0, 10_000)
            .await
            .expect("stream"),
        of_a
    );
    assert_eq!(
        s.store.read_stream(a, 100).await.expect("read_stream"),
        of_a[100..]
    );

    // More than one page of `read_between`, both ends excluded.
    let inner = &appended[1..appended.len() - 1];
    assert_eq!(
        read_between(&s.pool, appended[0].position, last)
            .await
            .expect("read_between"),
        inner
    );
    assert_eq!(
        count_between(&s.pool, appended[0].position, last)
            .await
            .expect("count_between"),
        inner.len() as i64
    );
}

#[tokio::test]
async fn streams_touched_answers_for_the_page_read_all_would_give() {
    let s = setup().await;
    let (a, appended) = fill(&s).await;
    let touched = |after: i64, limit: i64, stream_type: StreamType| {
        let pool = s.pool.clone();
        async move {
            streams_touched(&pool, after, limit, stream_type)
                .await
                .expect("streams_touched")
        }
    };
    // The first 150 events are all of stream `a`.
    assert_eq!(
        touched(0, 100, StreamType::Room).await,
        TouchedPage {
            read: 100,
            last: Some(appended[99].position),
            streams: vec![a],
        }
    );
    // A page across both streams: each once, in id order, and the page ends
    // where `read_all`'s does.
    let after = appended[120].position;
    let page = read_all(&s.pool, after, 200).await.expect("read_all");
    let mut streams: Vec<StreamId> = page.iter().map(|e| e.stream_id).collect();
    streams.sort_by_key(|id| id.0);
    streams.dedup();
    assert_eq!(streams.len(), 2);
    assert_eq!(
        touched(after, 200, StreamType::Room).await,
        TouchedPage {
            read: 200,
            last: Some(page[199].position),
            streams,
        }
    );
    // Other types are filtered out, but the page is still read and counted.
    assert_eq!(
        touched(after, 200, StreamType::Meetup).await,
        TouchedPage {
            read: 200,
            last: Some(page[199].position),
            streams: vec![],
        }
    );
    // At the head: nothing read, nowhere to move.
    let last = appended.last().expect("appended").position;
    assert_eq!(
        touched(last, 200, StreamType::Room).await,
        TouchedPage::default()
    );
}

#[tokio::test]
async fn the_parallel_scan_delivers_every_event_once_in_order_to_every_consumer() {
    let s = setup().await;
    let (_, appended) = fill(&s).await;
    // The scan does not read metadata: its events carry the default.
    let lean: Vec<StoredEvent> = appended
        .iter()
        .cloned()
        .map(|e| StoredEvent {
            metadata: EventMetadata::default(),
            ..e
        })
        .collect();
    let last = lean.last().expect("appended").position;
    let plan = ScanPlan {
        page: 97,
        parallel: 4,
    };

    let (got, ended) = scan_twice(&s.pool, 0, plan).await;
    assert_eq!(ended, last);
    for events in got {
        assert_eq!(events, lean);
    }

    let from = lean[499].position;
    let (got, ended) = scan_twice(&s.pool, from, plan).await;
    assert_eq!(ended, last);
    for events in got {
        assert_eq!(events, lean[500..]);
    }
}

#[tokio::test]
async fn a_row_this_build_cannot_decode_is_refused_with_its_position() {
    let s = setup().await;
    let (_, appended) = fill(&s).await;
    let before = appended.last().expect("appended").position;
    let insert = |stream_type: &'static str, event_type: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO events (position, event_id, stream_id, stream_type, version, \
                                 event_type, schema_version, payload, metadata) \
             VALUES (nextval('events_position_seq'), $1, $2, $3, 1, $4, 1, '{}', '{}') \
             RETURNING position",
        )
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(stream_type)
        .bind(event_type)
        .fetch_one(&s.pool)
    };

    let unknown_event = insert("room", "room.no_such_event").await.expect("insert");
    let refused = read_all(&s.pool, before, 10).await;
    assert!(
        matches!(refused, Err(StoreError::Decode { position, .. }) if position == unknown_event),
        "{refused:?}"
    );
    let scanned = read_pages(
        s.pool.clone(),
        before,
        ScanPlan {
            page: 10,
            parallel: 2,
        },
        Vec::new(),
        Arc::new(AtomicI64::new(0)),
        CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(scanned, Err(StoreError::Decode { position, .. }) if position == unknown_event),
        "{scanned:?}"
    );

    let unknown_stream = insert("spaceship", "room.message_posted")
        .await
        .expect("insert");
    let refused = read_all(&s.pool, unknown_event, 10).await;
    assert!(
        matches!(refused, Err(StoreError::Corrupt { position, .. }) if position == unknown_stream),
        "{refused:?}"
    );
}
