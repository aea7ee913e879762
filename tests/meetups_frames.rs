//! Live frames of meet-ups (issue 17) on `GET /v1/stream`: a change, the
//! reminders fired by the scheduler (this process runs every part, the
//! scheduler included) and the cancellation reach the attendees as
//! `meetup_changed`, `meetup_reminder` and `meetup_cancelled` in the
//! meet-up's room.

mod stream_support;
mod support;

use chrono::{DateTime, Utc};
use contract::meetups::{ChangeMeetupRequest, CreateMeetupRequest};
use serde_json::Value;
use stream_support::connect;
use support::start;

fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f["type"] == kind
}

#[tokio::test]
async fn changes_reminders_and_cancellation_reach_attendees() {
    let s = start().await;
    let (org, guest) = (s.user("organizer").await, s.user("guest").await);
    let mut stream = connect(&s.base, &guest, None).await;
    let starts_at: DateTime<Utc> =
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis() + 2500).expect("time");
    let created = s
        .as_user(&org)
        .create_meetup(&CreateMeetupRequest {
            title: "저녁 모임".into(),
            starts_at,
            ends_at: None,
            place: None,
            description: None,
            invitees: vec![guest.id],
            remind_before_minutes: Some(0),
        })
        .await
        .expect("plan");
    let (meetup, room) = (created.meetup_id, created.room_id);
    s.as_user(&guest).rsvp(meetup, "going").await.expect("rsvp");
    let change = ChangeMeetupRequest {
        place: Some(Some("강남역".into())),
        ..ChangeMeetupRequest::default()
    };
    s.as_user(&org)
        .change_meetup(meetup, &change)
        .await
        .expect("change");

    let changed = stream
        .until(is("meetup_changed"))
        .await
        .pop()
        .expect("a frame");
    assert_eq!(changed["room_id"], room.to_string());
    assert_eq!(changed["meetup_id"], meetup.to_string());
    assert_eq!(changed["place"], "강남역");
    assert_eq!(changed["changed"], serde_json::json!(["place"]));
    assert_eq!(changed["sequence"], 1);

    // One reminder per attendee going, each naming whom it is for.
    let mut reminded = Vec::new();
    while reminded.len() < 2 {
        let f = stream
            .until(is("meetup_reminder"))
            .await
            .pop()
            .expect("a frame");
        assert_eq!(f["meetup_id"], meetup.to_string());
        assert_eq!(f["room_id"], room.to_string());
        let at: DateTime<Utc> = serde_json::from_value(f["at"].clone()).expect("at");
        assert!(at >= starts_at, "fired early: {f}");
        assert!(f["late_by_ms"].as_u64().is_some(), "{f}");
        reminded.push(f["user_id"].as_str().expect("user_id").to_owned());
    }
    reminded.sort();
    let mut expected = vec![org.id.to_string(), guest.id.to_string()];
    expected.sort();
    assert_eq!(reminded, expected);

    s.as_user(&org).cancel_meetup(meetup).await.expect("cancel");
    let cancelled = stream
        .until(is("meetup_cancelled"))
        .await
        .pop()
        .expect("a frame");
    assert_eq!(cancelled["meetup_id"], meetup.to_string());
    assert_eq!(cancelled["sequence"], 2);
    assert_eq!(cancelled["by"], org.id.to_string());
}
