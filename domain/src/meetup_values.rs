//! Parsed values of a meet-up. As in [`crate::values`], each constructor is
//! the one place its rule lives; every refusal is answered `invalid_meetup`
//! (with its own detail).

use crate::error::DomainError;
use crate::values::{char_len_between, has_control, has_visible, RoomName};
use std::fmt;

/// The most invitees one plan may name (the organizer not counted). Later
/// invitations are bounded by the room's member limit instead.
pub const MAX_INVITEES: usize = 100;

/// A meet-up's title: the rule of a room name (1–100 characters after
/// trimming, no control characters, one visible), because it also names the
/// meet-up's room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeetupTitle(RoomName);

impl MeetupTitle {
    /// Parse a title.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        RoomName::parse(s)
            .map(Self)
            .map_err(|_| DomainError::InvalidMeetupTitle)
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name the meet-up's room is created with.
    pub fn room_name(&self) -> RoomName {
        self.0.clone()
    }
}

impl fmt::Display for MeetupTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a meet-up happens: up to 200 characters on one line, after
/// trimming. Blank text is no place ([`MeetupPlace::parse_optional`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeetupPlace(String);

impl MeetupPlace {
    /// Parse a place; empty or blank is `None`.
    pub fn parse_optional(s: &str) -> Result<Option<Self>, DomainError> {
        optional_text(s, 200, false)
            .map(|t| t.map(Self))
            .ok_or(DomainError::InvalidMeetupPlace)
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a meet-up is about: up to 4000 characters after trimming, newlines
/// allowed. Blank text is no description.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeetupDescription(String);

impl MeetupDescription {
    /// Parse a description; empty or blank is `None`.
    pub fn parse_optional(s: &str) -> Result<Option<Self>, DomainError> {
        optional_text(s, 4000, true)
            .map(|t| t.map(Self))
            .ok_or(DomainError::InvalidMeetupDescription)
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trimmed text of at most `max` characters, `Some(None)` when blank, `None`
/// when invalid.
fn optional_text(s: &str, max: usize, allow_newlines: bool) -> Option<Option<String>> {
    let t = s.trim();
    if has_control(t, allow_newlines) || !char_len_between(t, 0, max) {
        return None;
    }
    // Text with nothing visible (blank, zero-width spaces …) would show as
    // nothing: it is no text at all rather than an error.
    Some(has_visible(t).then(|| t.to_owned()))
}

/// How long before the start attendees are reminded: 0–10080 minutes (one
/// week), 30 by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemindBefore(u32);

impl RemindBefore {
    /// API.md's default.
    pub const DEFAULT_MINUTES: u32 = 30;
    /// One week.
    pub const MAX_MINUTES: u32 = 10_080;

    /// Parse a number of minutes as a client sends it.
    pub fn from_minutes(minutes: i64) -> Result<Self, DomainError> {
        u32::try_from(minutes)
            .ok()
            .filter(|m| *m <= Self::MAX_MINUTES)
            .map(Self)
            .ok_or(DomainError::InvalidRemindBefore)
    }

    /// The minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }
}

impl Default for RemindBefore {
    fn default() -> Self {
        Self(Self::DEFAULT_MINUTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_the_room_name_rule() {
        assert_eq!(
            MeetupTitle::parse("  저녁 모임 ").unwrap().as_str(),
            "저녁 모임"
        );
        assert_eq!(
            MeetupTitle::parse(&"가".repeat(100))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            100
        );
        for bad in ["", "   ", "\u{200B}", "a\nb"] {
            assert_eq!(
                MeetupTitle::parse(bad),
                Err(DomainError::InvalidMeetupTitle)
            );
        }
        assert_eq!(
            MeetupTitle::parse(&"가".repeat(101)),
            Err(DomainError::InvalidMeetupTitle)
        );
    }

    #[test]
    fn places_and_descriptions_are_optional_and_bounded() {
        assert_eq!(MeetupPlace::parse_optional("  "), Ok(None));
        assert_eq!(MeetupPlace::parse_optional("\u{200B}"), Ok(None));
        assert_eq!(
            MeetupPlace::parse_optional(" 강남역 2번 출구 ")
                .unwrap()
                .unwrap()
                .as_str(),
            "강남역 2번 출구"
        );
        assert!(MeetupPlace::parse_optional(&"x".repeat(200))
            .unwrap()
            .is_some());
        assert_eq!(
            MeetupPlace::parse_optional(&"x".repeat(201)),
            Err(DomainError::InvalidMeetupPlace)
        );
        assert_eq!(
            MeetupPlace::parse_optional("1층\n2층"),
            Err(DomainError::InvalidMeetupPlace)
        );
        assert!(MeetupDescription::parse_optional("준비물:\n- 우산")
            .unwrap()
            .is_some());
        assert_eq!(
            MeetupDescription::parse_optional(&"x".repeat(4001)),
            Err(DomainError::InvalidMeetupDescription)
        );
        assert_eq!(
            MeetupDescription::parse_optional("a\u{0007}b"),
            Err(DomainError::InvalidMeetupDescription)
        );
    }

    #[test]
    fn remind_before_is_zero_to_one_week_and_thirty_by_default() {
        assert_eq!(RemindBefore::default().minutes(), 30);
        assert_eq!(RemindBefore::from_minutes(0).unwrap().minutes(), 0);
        assert_eq!(
            RemindBefore::from_minutes(10_080).unwrap().minutes(),
            10_080
        );
        for bad in [-1, 10_081, i64::MAX] {
            assert_eq!(
                RemindBefore::from_minutes(bad),
                Err(DomainError::InvalidRemindBefore)
            );
        }
    }
}
