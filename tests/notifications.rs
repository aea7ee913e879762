//! Notifications (issue 16, and the meet-up kinds of issue 17) through
//! HTTP: every kind reaching its recipient once, none for one's own actions,
//! none from a muted room or a blocked user, cursor paging, the unread
//! count, marking read (and its errors), and the `notification` frame, also
//! when the user's stream is on another node.

mod stream_support;
mod support;

use chrono::{Duration as Span, Utc};
use contract::commands::{AddMemberRequest, FriendRequest, PostMessageRequest};
use contract::meetups::{AddAttendeeRequest, ChangeMeetupRequest, CreateMeetupRequest};
use contract::notifications::NotificationsResponse;
use contract::people::MuteRequest;
use cotalk::config::Role;
use domain::notification::{NotificationId, NotificationKind as K};
use domain::{MessageId, RoomId, UserId};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use stream_support::{connect, node};
use support::{assert_refused, start, Server, User};
use tokio::time::Instant;

/// `user`'s whole feed once the projection reached `at`.
async fn feed(s: &Server, user: &User, at: i64) -> NotificationsResponse {
    s.as_user(user)
        .at(at)
        .notifications(&[("limit", "200")])
        .await
        .expect("read the feed")
        .body
}

/// (kind, actor) of each notification, newest first.
fn kinds(f: &NotificationsResponse) -> Vec<(K, UserId)> {
    f.notifications
        .iter()
        .map(|n| (n.kind, n.actor_id))
        .collect()
}

async fn post(
    s: &Server,
    by: &User,
    room: RoomId,
    body: &str,
    reply_to: Option<MessageId>,
    mentions: &[&User],
) -> (MessageId, i64) {
    let req = PostMessageRequest {
        body: body.into(),
        reply_to,
        attachments: vec![],
        mentions: mentions.iter().map(|u| u.id).collect(),
    };
    let p = s
        .as_user(by)
        .post_message(room, &req)
        .await
        .expect("post a message");
    (p.message_id, p.position)
}

#[tokio::test]
async fn every_kind_reaches_its_recipient_and_never_the_actor() {
    let s = start().await;
    let (a, b, c) = (
        s.user("ahn").await,
        s.user("baek").await,
        s.user("choi").await,
    );
    let room = s.room(&b, "스터디", &[&a]).await;
    let p = s
        .as_user(&b)
        .add_member(room.room_id, &AddMemberRequest { user_id: c.id })
        .await
        .unwrap();
    assert_eq!(
        kinds(&feed(&s, &a, p.position).await),
        vec![(K::AddedToRoom, b.id)]
    );
    assert_eq!(
        kinds(&feed(&s, &c, p.position).await),
        vec![(K::AddedToRoom, b.id)]
    );

    let (first, _) = post(&s, &a, room.room_id, "안녕하세요", None, &[]).await;
    // A reply that mentions the replied-to author is one notification (mention wins).
    let (reply, _) = post(&s, &b, room.room_id, "@choi 반가워요", Some(first), &[&c]).await;
    let p = s
        .as_user(&b)
        .react(room.room_id, first, "👍")
        .await
        .unwrap();
    let f = feed(&s, &a, p.position).await;
    assert_eq!(
        kinds(&f),
        vec![
            (K::Reaction, b.id),
            (K::Reply, b.id),
            (K::AddedToRoom, b.id)
        ]
    );
    assert_eq!(f.notifications[1].message_id, Some(reply));
    assert_eq!(f.notifications[0].message_id, Some(first));
    assert_eq!(f.notifications[0].room_id, Some(room.room_id));
    assert_eq!(f.unread_count, 3);
    let f = feed(&s, &c, p.position).await;
    assert_eq!(kinds(&f)[0], (K::Mention, b.id));
    // Reacting to one's own message, mentioning oneself: nothing.
    let (own, _) = post(&s, &b, room.room_id, "나야", None, &[&b]).await;
    let p = s.as_user(&b).react(room.room_id, own, "😀").await.unwrap();
    assert!(feed(&s, &b, p.position).await.notifications.is_empty());

    s.as_user(&c)
        .request_friend(&FriendRequest { user_id: a.id })
        .await
        .unwrap();
    let p = s.as_user(&a).accept_friend(c.id).await.unwrap();
    assert_eq!(
        kinds(&feed(&s, &a, p.position).await)[0],
        (K::FriendRequest, c.id)
    );
    assert_eq!(
        kinds(&feed(&s, &c, p.position).await)[0],
        (K::FriendAccepted, a.id)
    );

    // Meet-ups: invited (not also "added to room"), changed, cancelled.
    let plan = CreateMeetupRequest {
        title: "저녁".into(),
        starts_at: Utc::now() + Span::days(3),
        ends_at: None,
        place: None,
        description: None,
        invitees: vec![b.id],
        remind_before_minutes: None,
    };
    let m = s.as_user(&a).create_meetup(&plan).await.unwrap();
    s.as_user(&a)
        .invite_attendee(m.meetup_id, &AddAttendeeRequest { user_id: c.id })
        .await
        .unwrap();
    let change = ChangeMeetupRequest {
        place: Some(Some("강남역".into())),
        ..Default::default()
    };
    s.as_user(&a)
        .change_meetup(m.meetup_id, &change)
        .await
        .unwrap();
    let p = s.as_user(&a).cancel_meetup(m.meetup_id).await.unwrap();
    for user in [&b, &c] {
        let f = feed(&s, user, p.position).await;
        assert_eq!(
            kinds(&f)[..3],
            [
                (K::MeetupCancelled, a.id),
                (K::MeetupChanged, a.id),
                (K::MeetupInvited, a.id)
            ]
        );
        assert!(f.notifications[..3]
            .iter()
            .all(|n| n.room_id == Some(m.room_id)));
    }
    // The organizer is told of nothing they did.
    let f = feed(&s, &a, p.position).await;
    assert!(f.notifications.iter().all(|n| n.actor_id != a.id));
    assert!(f.notifications.iter().all(|n| {
        !matches!(
            n.kind,
            K::MeetupInvited | K::MeetupChanged | K::MeetupCancelled
        )
    }));
}

#[tokio::test]
async fn a_reminder_notifies_each_attendee_going_or_maybe() {
    let s = start().await;
    let (a, b, c) = (
        s.user("ahn").await,
        s.user("baek").await,
        s.user("choi").await,
    );
    let plan = CreateMeetupRequest {
        title: "커피".into(),
        starts_at: Utc::now() + Span::seconds(2),
        ends_at: None,
        place: None,
        description: None,
        invitees: vec![b.id, c.id],
        remind_before_minutes: Some(0),
    };
    let m = s.as_user(&a).create_meetup(&plan).await.unwrap();
    s.as_user(&b).rsvp(m.meetup_id, "maybe").await.unwrap();
    s.as_user(&c).rsvp(m.meetup_id, "declined").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for user in [&a, &b] {
        loop {
            let f = feed(&s, user, 0).await;
            let reminders: Vec<_> = f
                .notifications
                .iter()
                .filter(|n| n.kind == K::MeetupReminder)
                .collect();
            if let [r] = reminders[..] {
                assert_eq!((r.actor_id, r.room_id), (a.id, Some(m.room_id)));
                break;
            }
            assert!(reminders.is_empty(), "one reminder each: {reminders:?}");
            assert!(
                Instant::now() < deadline,
                "no reminder notification in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let f = feed(&s, &c, 0).await;
    assert!(f.notifications.iter().all(|n| n.kind != K::MeetupReminder));
}

#[tokio::test]
async fn muted_rooms_and_blocked_users_produce_none() {
    let s = start().await;
    let (a, b, c) = (
        s.user("ahn").await,
        s.user("baek").await,
        s.user("choi").await,
    );
    let room = s.room(&b, "공지", &[&a, &c]).await;
    s.as_user(&a)
        .mute(room.room_id, &MuteRequest { until: None })
        .await
        .unwrap();
    s.as_user(&c).block(b.id).await.unwrap();
    let (_, p) = post(&s, &b, room.room_id, "@ahn @choi 확인", None, &[&a, &c]).await;
    let before = |f: &NotificationsResponse| {
        f.notifications
            .iter()
            .filter(|n| n.kind == K::Mention)
            .count()
    };
    assert_eq!(before(&feed(&s, &a, p).await), 0, "muted");
    assert_eq!(before(&feed(&s, &c, p).await), 0, "blocked");
    // Blocked later: what they did before is hidden too, back once unblocked.
    let p = s.as_user(&a).unmute(room.room_id).await.unwrap();
    let (_, p2) = post(&s, &b, room.room_id, "@ahn 다시", None, &[&a]).await;
    assert_eq!(before(&feed(&s, &a, p2.max(p.position)).await), 1);
    let p = s.as_user(&a).block(b.id).await.unwrap();
    let f = feed(&s, &a, p.position).await;
    assert!(f.notifications.iter().all(|n| n.actor_id != b.id));
    assert_eq!(f.unread_count, 0);
    let p = s.as_user(&a).unblock(b.id).await.unwrap();
    assert_eq!(before(&feed(&s, &a, p.position).await), 1);
    // A friend request from someone who blocked you reaches nobody.
    s.as_user(&b).block(c.id).await.unwrap();
    let p = s
        .as_user(&b)
        .request_friend(&FriendRequest { user_id: c.id })
        .await
        .unwrap();
    let f = feed(&s, &c, p.position).await;
    assert!(f.notifications.iter().all(|n| n.kind != K::FriendRequest));
}

#[tokio::test]
async fn pages_unread_count_and_mark_read() {
    let s = start().await;
    let (a, b) = (s.user("ahn").await, s.user("baek").await);
    let room = s.room(&b, "방", &[&a]).await;
    let mut last = 0;
    for i in 0..5 {
        last = post(&s, &b, room.room_id, &format!("@ahn {i}"), None, &[&a])
            .await
            .1;
    }
    let api = s.as_user(&a);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("limit", "2")];
        if let Some(c) = &cursor {
            q.push(("cursor", c.as_str()));
        }
        let page = api.at(last).notifications(&q).await.unwrap().body;
        assert_eq!(page.unread_count, 6, "every unread one, not the page's");
        assert!(page.notifications.len() <= 2);
        seen.extend(page.notifications.iter().map(|n| n.notification_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "5 mentions and the room");
    let positions: Vec<i64> = seen
        .iter()
        .map(|id| id.position_for(a.id).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "newest first");

    // Read up to the third newest: it and the older ones are read.
    let p = api.mark_notifications_read(seen[2].0).await.unwrap();
    let f = feed(&s, &a, p.position).await;
    assert_eq!(f.unread_count, 2);
    let read: Vec<bool> = f.notifications.iter().map(|n| n.read).collect();
    assert_eq!(read, [false, false, true, true, true, true]);
    // An older one again: already read, no event, the same answer.
    let again = api.mark_notifications_read(seen[4].0).await.unwrap();
    assert_eq!(feed(&s, &a, again.position).await.unread_count, 2);

    // Someone else's, or no notification at all: 404.
    assert_refused(
        s.as_user(&b).mark_notifications_read(seen[0].0).await,
        404,
        "notification_not_found",
    );
    assert_refused(
        api.mark_notifications_read(uuid::Uuid::now_v7()).await,
        404,
        "notification_not_found",
    );
    let forged = NotificationId::of(p.position + 1_000_000, b.id);
    assert_refused(
        api.mark_notifications_read(forged.0).await,
        404,
        "notification_not_found",
    );
    s.call(Method::POST, "/v1/me/notifications/read")
        .auth(&a)
        .json(json!({"up_to": "nope"}))
        .send()
        .await
        .expect(400, Some("invalid_request"));
    for (q, status, code) in [
        ("cursor=abc", 400, "invalid_cursor"),
        ("cursor=0", 400, "invalid_cursor"),
        ("limit=0", 422, "invalid_limit"),
        ("limit=x", 400, "invalid_request"),
        ("other=1", 400, "invalid_request"),
    ] {
        s.call(Method::GET, &format!("/v1/me/notifications?{q}"))
            .auth(&a)
            .send()
            .await
            .expect(status, Some(code));
    }
    s.call(Method::GET, "/v1/me/notifications")
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

/// The `notification` frames in `frames` for `user`'s notification `id`.
fn frames_of(frames: &[Value], id: NotificationId) -> usize {
    frames
        .iter()
        .filter(|f| {
            f["type"] == "notification" && f["notification"]["notification_id"] == id.to_string()
        })
        .count()
}

#[tokio::test]
async fn a_frame_arrives_once_as_each_is_created_also_on_another_node() {
    let s = start().await;
    let (a, b) = (s.user("ahn").await, s.user("baek").await);
    let room = s.room(&b, "방", &[&a]).await;
    // Its own data directory (its own search replica).
    let mut config = s.config.clone();
    config.data_dir = config.data_dir.join("second");
    let other = node(&config, Role::Query).await;
    for base in [&s.base, &other.base] {
        let mut stream = connect(base, &a, None).await;
        let (_, p1) = post(&s, &b, room.room_id, "@ahn 하나", None, &[&a]).await;
        let (_, p2) = post(&s, &b, room.room_id, "@ahn 둘", None, &[&a]).await;
        let (first, second) = (NotificationId::of(p1, a.id), NotificationId::of(p2, a.id));
        let frames = stream
            .until(|f| f["type"] == "notification" && f["position"] == p2)
            .await;
        assert_eq!(frames_of(&frames, first), 1, "{frames:?}");
        assert_eq!(frames_of(&frames, second), 1);
        let frame = frames
            .iter()
            .find(|f| f["type"] == "notification" && f["position"] == p1)
            .unwrap();
        assert!(frame.get("room_id").is_none(), "not a room frame");
        assert_eq!(frame["notification"]["kind"], "mention");
        assert_eq!(frame["notification"]["actor_id"], b.id.to_string());
        assert_eq!(frame["notification"]["read"], false);
        // Once a frame is out, the feed has it.
        let f = feed(&s, &a, 0).await;
        assert!(f.notifications.iter().any(|n| n.notification_id == second));
        // Nobody else's stream gets it.
        let mut bs = connect(base, &b, None).await;
        let (_, p3) = post(&s, &a, room.room_id, "@baek 셋", None, &[&b]).await;
        let frames = bs
            .until(|f| f["type"] == "notification" && f["position"] == p3)
            .await;
        assert!(frames
            .iter()
            .filter(|f| f["type"] == "notification")
            .all(|f| f["notification"]["actor_id"] == a.id.to_string()));
    }
}
