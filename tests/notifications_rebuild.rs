//! The notification feed (issue 16) is rebuildable: the `history`
//! projection built live from a log holding every kind of notification,
//! mutes, blocks, a member who left, meet-ups and read positions equals,
//! digest for digest, the same log applied event by event and in one bulk
//! batch into fresh generations (batch boundaries change nothing).

mod support;

use chrono::{Duration as Span, Utc};
use contract::commands::{FriendRequest, PostMessageRequest};
use contract::meetups::{AddAttendeeRequest, ChangeMeetupRequest, CreateMeetupRequest};
use contract::people::MuteRequest;
use projector::digest::history_digest;
use projector::{generations, source, HistoryProjection, Projection};
use readmodel::sql::{notification_reads_table, notifications_table};
use readmodel::ProjectionName;

async fn count(pool: &sqlx::PgPool, table: String) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_feed_rebuilds_to_the_same_digest_event_by_event_and_in_bulk() {
    let s = support::start().await;
    let (a, b, c) = (
        s.user("mina").await,
        s.user("jun").await,
        s.user("seo").await,
    );
    let (ua, ub, uc) = (s.as_user(&a), s.as_user(&b), s.as_user(&c));
    let room = s.room(&a, "팀", &[&b, &c]).await.room_id;
    let mention = |text: &str, who: Vec<domain::UserId>| PostMessageRequest {
        mentions: who,
        ..PostMessageRequest::text(text)
    };
    let m1 = ua
        .post_message(room, &mention("@jun @seo 공지", vec![b.id, c.id]))
        .await
        .unwrap()
        .message_id;
    let reply = PostMessageRequest {
        reply_to: Some(m1),
        ..PostMessageRequest::text("넵")
    };
    let m2 = ub.post_message(room, &reply).await.unwrap().message_id;
    ua.react(room, m2, "👍").await.unwrap();
    uc.mute(room, &MuteRequest::default()).await.unwrap();
    ua.post_message(room, &mention("@seo 조용", vec![c.id]))
        .await
        .unwrap();
    uc.unmute(room).await.unwrap();
    ub.block(a.id).await.unwrap();
    ua.post_message(room, &mention("@jun 차단됨", vec![b.id]))
        .await
        .unwrap();
    ub.unblock(a.id).await.unwrap();
    // Gone from the room: a reaction to their message reaches nobody.
    let m3 = s.post(&c, room, "갈게요").await.message_id;
    uc.remove_member(room, c.id).await.unwrap();
    ua.react(room, m3, "👋").await.unwrap();
    uc.request_friend(&FriendRequest { user_id: b.id })
        .await
        .unwrap();
    ub.accept_friend(c.id).await.unwrap();
    let plan = CreateMeetupRequest {
        title: "회식".into(),
        starts_at: Utc::now() + Span::days(2),
        ends_at: None,
        place: None,
        description: None,
        invitees: vec![b.id],
        remind_before_minutes: None,
    };
    let m = ua.create_meetup(&plan).await.unwrap();
    ub.invite_attendee(m.meetup_id, &AddAttendeeRequest { user_id: c.id })
        .await
        .unwrap();
    let change = ChangeMeetupRequest {
        title: Some("회식 (변경)".into()),
        ..Default::default()
    };
    ua.change_meetup(m.meetup_id, &change).await.unwrap();
    let cancelled = ua.cancel_meetup(m.meetup_id).await.unwrap().position;
    let page = ub.at(cancelled).notifications(&[]).await.unwrap();
    let newest = page.notifications[0].notification_id;
    let third = page.notifications[2].notification_id;
    ub.mark_notifications_read(third.0).await.unwrap();
    let last = ub.mark_notifications_read(newest.0).await.unwrap().position;

    let cfg = s.projector_config();
    let live = generations::current(&cfg, ProjectionName::History)
        .await
        .unwrap();
    support::caught_up(&cfg, ProjectionName::History, live, last).await;
    assert_eq!(
        ub.at(last).notifications(&[]).await.unwrap().unread_count,
        0
    );

    let events = source::read_after(&s.env.write_pool, 0, 10_000)
        .await
        .unwrap();
    let mut one_by_one = HistoryProjection::open(s.env.read_pool.clone(), 50)
        .await
        .unwrap();
    for e in &events {
        one_by_one
            .apply_batch(std::slice::from_ref(e))
            .await
            .unwrap();
    }
    let mut bulk = HistoryProjection::open(s.env.read_pool.clone(), 60)
        .await
        .unwrap();
    bulk.apply_bulk(&events).await.unwrap();

    let pool = &s.env.read_pool;
    let digest = history_digest(pool, live).await.unwrap();
    assert_eq!(
        history_digest(pool, 50).await.unwrap(),
        digest,
        "event by event = live"
    );
    assert_eq!(
        history_digest(pool, 60).await.unwrap(),
        digest,
        "bulk = live"
    );
    let rows = count(pool, notifications_table(60)).await;
    assert_eq!(rows, count(pool, notifications_table(live)).await);
    assert!(rows >= 12, "the scenario notifies: {rows}");
    assert_eq!(count(pool, notification_reads_table(60)).await, 1);

    for g in [50, 60] {
        generations::drop_generation(&cfg, ProjectionName::History, g)
            .await
            .unwrap();
    }
}
