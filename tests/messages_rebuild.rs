//! The messenger read models (reactions, hides, notices, joined seqs,
//! mentions in the history) are rebuildable: projections built live from a
//! log holding every new event equal, digest for digest, the same log
//! applied event by event and in bulk into fresh generations.

mod support;

use contract::commands::{PostMessageRequest, ReadMarkerRequest, SetNoticeRequest};
use projector::digest::{history_digest, redis_digest};
use projector::{
    generations, source, HistoryProjection, Projection, RedisProjection, SearchProjection,
};
use readmodel::ProjectionName;

#[tokio::test]
async fn messenger_read_models_rebuild_to_the_same_digests() {
    let s = support::start().await;
    let (a, b, c) = (
        s.user("mina").await,
        s.user("jun").await,
        s.user("seo").await,
    );
    let room = s.room(&a, "팀", &[&b, &c]).await.room_id;
    let (ua, ub, uc) = (s.as_user(&a), s.as_user(&b), s.as_user(&c));
    let req = PostMessageRequest {
        mentions: vec![b.id, c.id],
        ..PostMessageRequest::text("@jun @seo 공지 확인")
    };
    let m1 = ua.post_message(room, &req).await.unwrap().message_id;
    let m2 = s.post(&b, room, "넵").await.message_id;
    let m3 = s.post(&c, room, "oops").await.message_id;
    ua.react(room, m1, "👍").await.unwrap();
    ub.react(room, m1, "👍").await.unwrap();
    ub.react(room, m1, "❤️").await.unwrap();
    ub.unreact(room, m1, "❤️").await.unwrap();
    uc.react(room, m2, "😂").await.unwrap();
    ub.hide_message(room, m3).await.unwrap();
    ua.hide_message(room, m2).await.unwrap();
    ub.set_notice(room, &SetNoticeRequest { message_id: m1 })
        .await
        .unwrap();
    ua.set_notice(room, &SetNoticeRequest { message_id: m3 })
        .await
        .unwrap();
    uc.delete_message(room, m3).await.unwrap();
    ua.set_notice(room, &SetNoticeRequest { message_id: m2 })
        .await
        .unwrap();
    uc.mark_read(room, &ReadMarkerRequest { seq: 2 })
        .await
        .unwrap();
    let last = uc.remove_member(room, c.id).await.unwrap().position;

    let cfg = s.projector_config();
    let live_redis = generations::current(&cfg, ProjectionName::Redis)
        .await
        .unwrap();
    let live_history = generations::current(&cfg, ProjectionName::History)
        .await
        .unwrap();
    support::caught_up(&cfg, ProjectionName::Redis, live_redis, last).await;
    support::caught_up(&cfg, ProjectionName::History, live_history, last).await;

    let events = source::read_after(&s.env.write_pool, 0, 10_000)
        .await
        .unwrap();
    let mut one_by_one = RedisProjection::new(&s.env.redis_url, &s.env.namespace, 50)
        .unwrap()
        .with_pii_of(&cfg);
    let mut history = HistoryProjection::open(s.env.read_pool.clone(), 50)
        .await
        .unwrap();
    for e in &events {
        one_by_one
            .apply_batch(std::slice::from_ref(e))
            .await
            .unwrap();
        history.apply_batch(std::slice::from_ref(e)).await.unwrap();
    }
    let mut bulk = RedisProjection::new(&s.env.redis_url, &s.env.namespace, 60)
        .unwrap()
        .with_pii_of(&cfg);
    bulk.apply_bulk(&events, 4).await.unwrap();
    bulk.finish_bulk().await.unwrap();
    let mut bulk_history = HistoryProjection::open(s.env.read_pool.clone(), 60)
        .await
        .unwrap();
    bulk_history.apply_bulk(&events).await.unwrap();

    let redis = |g| redis_digest(&s.env.redis_url, &s.env.namespace, g);
    let live = redis(live_redis).await.unwrap();
    assert_eq!(redis(50).await.unwrap(), live, "event by event = live");
    assert_eq!(redis(60).await.unwrap(), live, "bulk = live");
    let live = history_digest(&s.env.read_pool, live_history)
        .await
        .unwrap();
    assert_eq!(history_digest(&s.env.read_pool, 50).await.unwrap(), live);
    assert_eq!(history_digest(&s.env.read_pool, 60).await.unwrap(), live);
    // The search index holds hides too (the hider's searches leave them
    // out): built event by event or in one batch, the same documents.
    let mut search_one = SearchProjection::open(&cfg, 50).await.unwrap();
    for e in &events {
        search_one
            .apply_batch(std::slice::from_ref(e))
            .await
            .unwrap();
    }
    search_one.flush(true).await.unwrap();
    let mut search_bulk = SearchProjection::open(&cfg, 60).await.unwrap();
    search_bulk.apply_batch(&events).await.unwrap();
    search_bulk.flush(true).await.unwrap();
    assert_eq!(
        search_one.digest().await.unwrap(),
        search_bulk.digest().await.unwrap()
    );
    let searcher = search_bulk.searcher().expect("an open index");
    let found = |viewer: domain::UserId| {
        let page = searcher
            .search(&search::SearchRequest {
                q: "넵".into(),
                member_rooms: vec![room],
                viewer: Some(viewer),
                ..Default::default()
            })
            .unwrap();
        page.hits.len()
    };
    assert_eq!((found(a.id), found(b.id)), (0, 1), "hidden by mina only");
    drop((search_one, search_bulk, searcher));
    for g in [50, 60] {
        generations::drop_generation(&cfg, ProjectionName::Search, g)
            .await
            .unwrap();
        generations::drop_generation(&cfg, ProjectionName::Redis, g)
            .await
            .unwrap();
        generations::drop_generation(&cfg, ProjectionName::History, g)
            .await
            .unwrap();
    }
}
