//! Meet-ups (API.md "Meet-ups"): the command bodies and answers, and the
//! query answers. A file of its own so the meet-up routes' types sit
//! together.

use crate::positioned::{Positioned, PositionedBody};
use chrono::{DateTime, Utc};
use domain::{MeetupId, RoomId, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// `POST /v1/meetups` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMeetupRequest {
    /// 1–100 characters (also the name of the meet-up's room).
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// RFC 3339.
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Up to 200 characters on one line; blank is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Up to 4000 characters; blank is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who is invited (at most 100; the organizer and duplicates are dropped).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub invitees: Vec<UserId>,
    /// 0–10080, default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 10080)]
    pub remind_before_minutes: Option<i64>,
}

/// `POST /v1/meetups` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeetupCreated {
    /// The meet-up.
    pub meetup_id: MeetupId,
    /// Its own group room.
    pub room_id: RoomId,
}

/// `POST /v1/meetups` answer, with its position.
pub type MeetupCreatedResponse = Positioned<MeetupCreated>;

impl PositionedBody for MeetupCreated {
    const NAME: &'static str = "MeetupCreatedResponse";
}

/// A field that may be absent (unchanged), `null` (cleared) or a value.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/meetups/{meetup_id}` body: absent fields stay as they are;
/// `null` clears `ends_at`, `place` or `description`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeMeetupRequest {
    /// 1–100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 100)]
    pub title: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    /// `null` clears it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// `null` or blank clears it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub place: Option<Option<String>>,
    /// `null` or blank clears it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// 0–10080.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 10080)]
    pub remind_before_minutes: Option<i64>,
}

/// `POST /v1/meetups/{meetup_id}/attendees` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAttendeeRequest {
    /// Whom to invite.
    pub user_id: UserId,
}

/// `POST /v1/meetups/{meetup_id}/rsvp` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RsvpRequest {
    /// `going`, `maybe` or `declined` (anything else: 422 `invalid_rsvp`).
    pub answer: String,
}

/// One attendee of a meet-up and their answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttendeeResponse {
    pub user_id: UserId,
    /// `going`, `maybe`, `declined` or `pending` (no answer yet).
    pub rsvp: String,
}

/// `GET /v1/meetups/{meetup_id}`, and each entry of `GET /v1/me/meetups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeetupResponse {
    pub meetup_id: MeetupId,
    /// The meet-up's own group room.
    pub room_id: RoomId,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub place: Option<String>,
    pub description: Option<String>,
    pub organizer_id: UserId,
    /// Cancelled meet-ups are kept.
    pub cancelled: bool,
    pub remind_before_minutes: u32,
    /// The organizer first, then by user id.
    pub attendees: Vec<AttendeeResponse>,
}

/// `GET /v1/me/meetups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MyMeetupsResponse {
    /// Ordered by `starts_at` (then `meetup_id`).
    pub meetups: Vec<MeetupResponse>,
}

/// `POST /v1/me/calendar-token` answer: the calendar feed's read-only token
/// (creating one revokes the previous one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CalendarToken {
    /// Goes in the feed URL's `token` query parameter; reads only the feed.
    pub token: String,
    /// The feed's path with the token, to give to a calendar app.
    pub url: String,
}

/// `POST /v1/me/calendar-token` answer, with its position.
pub type CalendarTokenResponse = Positioned<CalendarToken>;

impl PositionedBody for CalendarToken {
    const NAME: &'static str = "CalendarTokenResponse";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_absent_from_null() {
        let r: ChangeMeetupRequest =
            serde_json::from_str(r#"{"place": null, "description": "x"}"#).unwrap();
        assert_eq!(r.place, Some(None));
        assert_eq!(r.description, Some(Some("x".into())));
        assert_eq!(r.ends_at, None);
        assert_eq!(r.title, None);
    }
}
