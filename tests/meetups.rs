//! Meet-ups through HTTP (API.md "Meet-ups"): every route, its answer and
//! each of its error codes; the meet-up's room is created in the same
//! commit and follows invitations.

mod support;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use contract::meetups::{MeetupCreatedResponse, MeetupResponse, MyMeetupsResponse};
use reqwest::Method;
use serde_json::json;
use support::{start, Server, User};

const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;
const GET: Method = Method::GET;

fn in_days(days: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::days(days)).trunc_subsecs(0)
}

async fn plan(
    s: &Server,
    organizer: &User,
    title: &str,
    days: i64,
    invitees: &[&User],
) -> MeetupCreatedResponse {
    let ids: Vec<_> = invitees.iter().map(|u| u.id).collect();
    let a = s
        .call(POST, "/v1/meetups")
        .auth(organizer)
        .json(
            json!({"title": title, "starts_at": in_days(days), "invitees": ids, "place": "강남역"}),
        )
        .send()
        .await;
    a.expect(201, None);
    a.json()
}

async fn get(s: &Server, u: &User, meetup: impl std::fmt::Display, at: i64) -> support::Answer {
    s.call(GET, &format!("/v1/meetups/{meetup}"))
        .auth(u)
        .at(at)
        .send()
        .await
}

#[tokio::test]
async fn plan_read_and_the_room() {
    let s = start().await;
    let (minsu, bora, stranger) = (
        s.user("minsu").await,
        s.user("bora").await,
        s.user("jin").await,
    );
    let starts = in_days(3);
    let created = s
        .call(POST, "/v1/meetups")
        .auth(&minsu)
        .header("idempotency-key", "plan-1")
        .json(json!({"title": " 저녁 모임 ", "starts_at": starts, "ends_at": starts + Duration::hours(2),
                     "description": "준비물:\n- 우산", "invitees": [bora.id, bora.id, minsu.id],
                     "remind_before_minutes": 60}))
        .send()
        .await;
    created.expect(201, None);
    let created: MeetupCreatedResponse = created.json();
    // The same key again: the same answer, nothing planned twice.
    let again = s
        .call(POST, "/v1/meetups")
        .auth(&minsu)
        .header("idempotency-key", "plan-1")
        .json(json!({"title": " 저녁 모임 ", "starts_at": starts, "ends_at": starts + Duration::hours(2),
                     "description": "준비물:\n- 우산", "invitees": [bora.id, bora.id, minsu.id],
                     "remind_before_minutes": 60}))
        .send()
        .await;
    again.expect(201, None);
    assert_eq!(again.json::<MeetupCreatedResponse>(), created);

    let read = get(&s, &bora, created.meetup_id, created.position).await;
    read.expect(200, None);
    assert!(read.position() >= created.position);
    let m: MeetupResponse = read.json();
    assert_eq!(m.title, "저녁 모임");
    assert_eq!(m.starts_at, starts);
    assert_eq!(m.ends_at, Some(starts + Duration::hours(2)));
    assert_eq!(m.place, None);
    assert_eq!(m.description.as_deref(), Some("준비물:\n- 우산"));
    assert_eq!(
        (m.organizer_id, m.room_id, m.cancelled),
        (minsu.id, created.room_id, false)
    );
    assert_eq!(m.remind_before_minutes, 60);
    let attendees: Vec<_> = m
        .attendees
        .iter()
        .map(|a| (a.user_id, a.rsvp.as_str()))
        .collect();
    assert_eq!(attendees, vec![(minsu.id, "going"), (bora.id, "pending")]);

    // Not an attendee, no such meet-up, not even an id: the same 404.
    get(&s, &stranger, created.meetup_id, created.position)
        .await
        .expect(404, Some("meetup_not_found"));
    get(&s, &bora, uuid::Uuid::now_v7(), created.position)
        .await
        .expect(404, Some("meetup_not_found"));
    get(&s, &bora, "not-a-uuid", created.position)
        .await
        .expect(404, Some("meetup_not_found"));

    // Its room: a group room named after it with the organizer and invitees.
    let room = s
        .call(GET, &format!("/v1/rooms/{}", created.room_id))
        .auth(&bora)
        .at(created.position)
        .send()
        .await;
    room.expect(200, None);
    assert_eq!(room.body["name"], "저녁 모임");
    assert_eq!(room.body["members"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn planning_refusals() {
    let s = start().await;
    let minsu = s.user("minsu").await;
    let starts = in_days(1);
    let cases = [
        (
            json!({"title": "  ", "starts_at": starts}),
            422,
            "invalid_meetup",
        ),
        (
            json!({"title": "x".repeat(101), "starts_at": starts}),
            422,
            "invalid_meetup",
        ),
        (
            json!({"title": "a", "starts_at": starts, "ends_at": starts}),
            422,
            "invalid_meetup",
        ),
        (
            json!({"title": "a", "starts_at": starts, "remind_before_minutes": 10081}),
            422,
            "invalid_meetup",
        ),
        (
            json!({"title": "a", "starts_at": starts, "remind_before_minutes": -1}),
            422,
            "invalid_meetup",
        ),
        (
            json!({"title": "a", "starts_at": starts, "place": "1층\n2층"}),
            422,
            "invalid_meetup",
        ),
        (
            json!({"title": "a", "starts_at": starts, "invitees": [uuid::Uuid::now_v7()]}),
            404,
            "user_not_found",
        ),
        (
            json!({"title": "a", "starts_at": "tomorrow"}),
            400,
            "invalid_request",
        ),
        (
            json!({"title": "a", "starts_at": starts, "colour": "red"}),
            400,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        s.call(POST, "/v1/meetups")
            .auth(&minsu)
            .json(body)
            .send()
            .await
            .expect(status, Some(code));
    }
    let many: Vec<_> = (0..101).map(|_| uuid::Uuid::now_v7()).collect();
    s.call(POST, "/v1/meetups")
        .auth(&minsu)
        .json(json!({"title": "a", "starts_at": starts, "invitees": many}))
        .send()
        .await
        .expect(422, Some("invalid_meetup"));
    let mine = s.call(GET, "/v1/me/meetups").auth(&minsu).send().await;
    mine.expect(200, None);
    assert!(
        mine.json::<MyMeetupsResponse>().meetups.is_empty(),
        "refusals planned nothing"
    );
}

#[tokio::test]
async fn change_cancel_and_answer() {
    let s = start().await;
    let (minsu, bora, stranger) = (
        s.user("minsu").await,
        s.user("bora").await,
        s.user("jin").await,
    );
    let c = plan(&s, &minsu, "점심", 2, &[&bora]).await;
    let path = format!("/v1/meetups/{}", c.meetup_id);
    let patch = |u: &User, body| s.call(PATCH, &path).auth(u).json(body).send();
    patch(&bora, json!({"title": "x"}))
        .await
        .expect(403, Some("not_meetup_organizer"));
    patch(&stranger, json!({"title": "x"}))
        .await
        .expect(404, Some("meetup_not_found"));
    patch(&minsu, json!({"title": ""}))
        .await
        .expect(422, Some("invalid_meetup"));
    patch(&minsu, json!({"remind_before_minutes": 10081}))
        .await
        .expect(422, Some("invalid_meetup"));
    let new_start = in_days(4);
    let changed = patch(
        &minsu,
        json!({"title": "늦은 점심", "starts_at": new_start, "place": null}),
    )
    .await;
    changed.expect(200, None);
    let m: MeetupResponse = get(&s, &bora, c.meetup_id, changed.position()).await.json();
    assert_eq!(
        (m.title.as_str(), m.starts_at, m.place),
        ("늦은 점심", new_start, None)
    );

    let rsvp = |u: &User, answer: &str| {
        s.call(POST, &format!("{path}/rsvp"))
            .auth(u)
            .json(json!({"answer": answer}))
            .send()
    };
    rsvp(&bora, "pending")
        .await
        .expect(422, Some("invalid_rsvp"));
    rsvp(&bora, "yes").await.expect(422, Some("invalid_rsvp"));
    rsvp(&stranger, "going")
        .await
        .expect(404, Some("meetup_not_found"));
    let answered = rsvp(&bora, "maybe").await;
    answered.expect(200, None);
    let m: MeetupResponse = get(&s, &minsu, c.meetup_id, answered.position())
        .await
        .json();
    assert_eq!(m.attendees[1].rsvp, "maybe");

    s.call(DELETE, &path)
        .auth(&bora)
        .send()
        .await
        .expect(403, Some("not_meetup_organizer"));
    s.call(DELETE, &path)
        .auth(&stranger)
        .send()
        .await
        .expect(404, Some("meetup_not_found"));
    let cancelled = s.call(DELETE, &path).auth(&minsu).send().await;
    cancelled.expect(200, None);
    // Cancelling again changes nothing and is no error.
    s.call(DELETE, &path)
        .auth(&minsu)
        .send()
        .await
        .expect(200, None);
    let m: MeetupResponse = get(&s, &bora, c.meetup_id, cancelled.position())
        .await
        .json();
    assert!(m.cancelled, "kept, marked cancelled");
    patch(&minsu, json!({"title": "y"}))
        .await
        .expect(409, Some("meetup_cancelled"));
    rsvp(&bora, "going")
        .await
        .expect(409, Some("meetup_cancelled"));
}

#[tokio::test]
async fn a_new_title_renames_the_room_unless_renamed_by_hand() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let c = plan(&s, &minsu, "점심", 2, &[&bora]).await;
    let path = format!("/v1/meetups/{}", c.meetup_id);
    let room_path = format!("/v1/rooms/{}", c.room_id);
    let room_name = |at: i64| {
        let room_path = room_path.clone();
        let s = &s;
        let bora = &bora;
        async move {
            let a = s.call(GET, &room_path).auth(bora).at(at).send().await;
            a.expect(200, None);
            a.json::<serde_json::Value>()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let retitled = s
        .call(PATCH, &path)
        .auth(&minsu)
        .json(json!({"title": "늦은 점심"}))
        .send()
        .await;
    retitled.expect(200, None);
    assert_eq!(room_name(retitled.position()).await, "늦은 점심");

    // Renamed by hand: a later title leaves the room's name alone.
    let by_hand = s
        .call(PATCH, &room_path)
        .auth(&minsu)
        .json(json!({"name": "우리 방"}))
        .send()
        .await;
    by_hand.expect(200, None);
    let again = s
        .call(PATCH, &path)
        .auth(&minsu)
        .json(json!({"title": "저녁"}))
        .send()
        .await;
    again.expect(200, None);
    assert_eq!(room_name(again.position()).await, "우리 방");
    let m: MeetupResponse = get(&s, &bora, c.meetup_id, again.position()).await.json();
    assert_eq!(m.title, "저녁");
}

#[tokio::test]
async fn invite_joins_the_room() {
    let s = start().await;
    let (minsu, bora, jin, stranger) = (
        s.user("minsu").await,
        s.user("bora").await,
        s.user("jin").await,
        s.user("hana").await,
    );
    let c = plan(&s, &minsu, "산책", 2, &[&bora]).await;
    let path = format!("/v1/meetups/{}/attendees", c.meetup_id);
    let invite = |by: &User, who: serde_json::Value| {
        s.call(POST, &path)
            .auth(by)
            .json(json!({"user_id": who}))
            .send()
    };
    invite(&stranger, json!(jin.id))
        .await
        .expect(404, Some("meetup_not_found"));
    invite(&bora, json!(uuid::Uuid::now_v7()))
        .await
        .expect(404, Some("user_not_found"));
    invite(&bora, json!(minsu.id))
        .await
        .expect(409, Some("already_attending"));
    let invited = invite(&bora, json!(jin.id)).await;
    invited.expect(201, None);
    invite(&minsu, json!(jin.id))
        .await
        .expect(409, Some("already_attending"));
    let m: MeetupResponse = get(&s, &jin, c.meetup_id, invited.position()).await.json();
    assert!(m
        .attendees
        .iter()
        .any(|a| a.user_id == jin.id && a.rsvp == "pending"));
    let room = s
        .call(GET, &format!("/v1/rooms/{}", c.room_id))
        .auth(&jin)
        .at(invited.position())
        .send()
        .await;
    room.expect(200, None);
    assert_eq!(room.body["members"].as_array().map(Vec::len), Some(3));
    s.call(DELETE, &format!("/v1/meetups/{}", c.meetup_id))
        .auth(&minsu)
        .send()
        .await
        .expect(200, None);
    invite(&minsu, json!(stranger.id))
        .await
        .expect(409, Some("meetup_cancelled"));
}

#[tokio::test]
async fn my_meetups_in_order_and_window() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let late = plan(&s, &minsu, "나중", 10, &[&bora]).await;
    let soon = plan(&s, &bora, "곧", 1, &[&minsu]).await;
    let middle = plan(&s, &minsu, "중간", 5, &[]).await;
    let list = |query: String| {
        s.call(GET, &format!("/v1/me/meetups{query}"))
            .auth(&minsu)
            .at(middle.position)
            .send()
    };
    let all = list(String::new()).await;
    all.expect(200, None);
    assert!(all.position() >= middle.position);
    let ids: Vec<_> = all
        .json::<MyMeetupsResponse>()
        .meetups
        .iter()
        .map(|m| m.meetup_id)
        .collect();
    assert_eq!(ids, vec![soon.meetup_id, middle.meetup_id, late.meetup_id]);
    let q = format!(
        "?from={}&to={}",
        urlencode(in_days(2)),
        urlencode(in_days(9))
    );
    let window = list(q).await;
    let ids: Vec<_> = window
        .json::<MyMeetupsResponse>()
        .meetups
        .iter()
        .map(|m| m.meetup_id)
        .collect();
    assert_eq!(
        ids,
        vec![middle.meetup_id],
        "only those starting inside the window"
    );
    // Bora attends two of them.
    let hers = s
        .call(GET, "/v1/me/meetups")
        .auth(&bora)
        .at(middle.position)
        .send()
        .await;
    assert_eq!(hers.json::<MyMeetupsResponse>().meetups.len(), 2);
    list("?from=yesterday".into())
        .await
        .expect(400, Some("invalid_request"));
    list("?since=1".into())
        .await
        .expect(400, Some("invalid_request"));
}

fn urlencode(t: DateTime<Utc>) -> String {
    t.to_rfc3339().replace('+', "%2B")
}
