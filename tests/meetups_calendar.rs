//! The calendar feed: its own revocable token, and RFC 5545 output that an
//! independent parser (Python's `icalendar`, installed by `scripts/pytools`)
//! reads back field by field.

mod support;

use chrono::{Duration, SubsecRound, Utc};
use contract::meetups::{CalendarTokenResponse, MeetupCreatedResponse};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use support::start;

/// The venv's python (`scripts/pytools` installs it).
fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = std::env::var("COTALK_DATA_DIR").map_or_else(|_| root.join(".data"), PathBuf::from);
    let python = data.join("pytools/bin/python");
    if !python.exists() {
        let status = std::process::Command::new(root.join("scripts/pytools"))
            .status()
            .expect("run scripts/pytools");
        assert!(status.success(), "scripts/pytools failed");
    }
    python
}

/// Parse `ics` with Python's icalendar: every VEVENT's fields as JSON.
fn parse(ics: &str) -> Vec<Value> {
    let script = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
out = []
for e in cal.walk("VEVENT"):
    g = lambda k: (str(e.get(k)) if e.get(k) is not None else None)
    dt = lambda k: (e.decoded(k).isoformat() if e.get(k) is not None else None)
    out.append({"uid": g("UID"), "summary": g("SUMMARY"), "location": g("LOCATION"),
                "description": g("DESCRIPTION"), "status": g("STATUS"),
                "sequence": int(e.get("SEQUENCE")), "dtstart": dt("DTSTART"), "dtend": dt("DTEND"),
                "dtstamp": dt("DTSTAMP")})
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused the feed:\n{ics}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_feed_round_trips_and_its_token_is_revocable() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let starts = (Utc::now() + Duration::days(3)).trunc_subsecs(0);
    let description = "준비물: 우산, 간식; 회비는 1,000원\n늦으면 연락 주세요";
    let a = s
        .call(Method::POST, "/v1/meetups")
        .auth(&minsu)
        .json(json!({"title": "저녁, 모임; \"둘째 주\"", "starts_at": starts, "ends_at": starts + Duration::hours(2),
                     "place": "강남역 2번 출구", "description": description, "invitees": [bora.id]}))
        .send()
        .await;
    a.expect(201, None);
    let first: MeetupCreatedResponse = a.json();
    let b = s
        .call(Method::POST, "/v1/meetups")
        .auth(&bora)
        .json(json!({"title": "산책", "starts_at": starts + Duration::days(1), "invitees": [minsu.id]}))
        .send()
        .await;
    let second: MeetupCreatedResponse = b.json();
    s.call(Method::PATCH, &format!("/v1/meetups/{}", second.meetup_id))
        .auth(&bora)
        .json(json!({"title": "긴 산책"}))
        .send()
        .await
        .expect(200, None);
    let cancelled = s
        .call(Method::DELETE, &format!("/v1/meetups/{}", second.meetup_id))
        .auth(&bora)
        .send()
        .await;
    cancelled.expect(200, None);

    // No token, a session token, an unknown one: 401.
    for q in [
        "".to_owned(),
        format!("?token={}", minsu.token),
        "?token=nope".to_owned(),
    ] {
        s.call(Method::GET, &format!("/v1/me/calendar.ics{q}"))
            .send()
            .await
            .expect(401, Some("invalid_calendar_token"));
    }
    let t = s
        .call(Method::POST, "/v1/me/calendar-token")
        .auth(&minsu)
        .send()
        .await;
    t.expect(201, None);
    let token: CalendarTokenResponse = t.json();
    let feed = s
        .api
        .raw(Method::GET, &token.url)
        .header("x-min-position", cancelled.position().max(token.position))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status.as_u16(), 200, "{}", feed.text());
    assert!(feed
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/calendar"));
    let events = parse(&feed.text());
    assert_eq!(events.len(), 2, "{events:?}");
    let e = &events[0];
    assert_eq!(e["uid"], format!("{}@meetups.cotalk", first.meetup_id));
    assert_eq!(e["summary"], "저녁, 모임; \"둘째 주\"");
    assert_eq!(e["location"], "강남역 2번 출구");
    assert_eq!(e["description"], description);
    assert_eq!(e["status"], "CONFIRMED");
    assert_eq!(e["sequence"], 0);
    assert_eq!(e["dtstart"], starts.to_rfc3339());
    assert_eq!(e["dtend"], (starts + Duration::hours(2)).to_rfc3339());
    let c = &events[1];
    assert_eq!(c["uid"], format!("{}@meetups.cotalk", second.meetup_id));
    assert_eq!(
        (c["summary"].as_str(), c["status"].as_str()),
        (Some("긴 산책"), Some("CANCELLED"))
    );
    assert_eq!(c["sequence"], 2, "one change and the cancellation");
    assert_eq!(c["dtend"], Value::Null);
    assert_eq!(c["location"], Value::Null);

    // Rotating revokes the old token.
    let t2: CalendarTokenResponse = s.as_user(&minsu).rotate_calendar_token().await.unwrap();
    assert_ne!(t2.token, token.token);
    s.call(Method::GET, &t2.url)
        .at(t2.position)
        .send()
        .await
        .expect(200, None);
    s.call(Method::GET, &token.url)
        .at(t2.position)
        .send()
        .await
        .expect(401, Some("invalid_calendar_token"));
}
