//! Parsed values. Each constructor is the one place its rule lives; a value
//! that exists is valid, so nothing downstream re-checks it.
//!
//! Text other people see (display names, room names, message bodies) must
//! hold at least one *visible* character: one that is not Unicode
//! White_Space, not a control character, not Default_Ignorable_Code_Point
//! (zero-width spaces and joiners, U+2060, U+FEFF, Hangul fillers, variation
//! selectors …) and not U+2800 BRAILLE PATTERN BLANK. A name made only of
//! those renders as nothing and impersonates "nobody".
//!
//! Stored events are decoded from their strings, never through these
//! constructors, so a rule added here never makes the log unreadable.

use crate::error::DomainError;
use icu_properties::props::DefaultIgnorableCodePoint;
use icu_properties::CodePointSetData;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Take the validated text.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_value!(
    /// 3–32 characters of `a-z0-9_.`. Lowercase only, so two users can never
    /// differ by case alone.
    Username
);
string_value!(
    /// 1–64 characters (Unicode scalar values) after trimming.
    DisplayName
);
string_value!(
    /// 1–100 characters after trimming.
    RoomName
);
string_value!(
    /// 1–4000 characters after trimming; stored trimmed.
    MessageBody
);
string_value!(
    /// 0–60 characters after trimming (empty: no status message); visible
    /// when not empty, like names.
    StatusMessage
);

pub(crate) fn char_len_between(s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    (min..=max).contains(&n)
}

/// A character that renders as nothing (see the module documentation).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || c == '\u{2800}'
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// At least one character of `s` is visible.
pub(crate) fn has_visible(s: &str) -> bool {
    s.chars().any(|c| !is_invisible(c))
}

/// Names no new account may take (compared without `.` and `_`): they
/// would pass for the service, its staff, or a placeholder. Names starting
/// with one of [`RESERVED_PREFIXES`] are reserved too.
pub const RESERVED_USERNAMES: &[&str] = &[
    "abuse",
    "admin",
    "administrator",
    "anonymous",
    "api",
    "cotalk",
    "everyone",
    "help",
    "helpdesk",
    "here",
    "hostmaster",
    "mod",
    "moderator",
    "nan",
    "nil",
    "noreply",
    "none",
    "null",
    "official",
    "postmaster",
    "root",
    "security",
    "server",
    "staff",
    "superuser",
    "support",
    "sysadmin",
    "system",
    "undefined",
    "webmaster",
    "www",
];

/// Prefixes no new username may start with (compared without `.` and `_`).
pub const RESERVED_PREFIXES: &[&str] = &["admin", "cotalk"];

/// Control characters (other than newline and tab in bodies) never belong in
/// names shown to other people.
pub(crate) fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r')))
}

impl Username {
    /// Whether a new account may not take this name ([`RESERVED_USERNAMES`],
    /// [`RESERVED_PREFIXES`]). Accounts that hold one already keep it: this
    /// is checked when registering, not when parsing.
    pub fn is_reserved(&self) -> bool {
        let bare: String = self.0.chars().filter(|c| *c != '.' && *c != '_').collect();
        RESERVED_USERNAMES.contains(&bare.as_str())
            || RESERVED_PREFIXES.iter().any(|p| bare.starts_with(p))
    }

    /// Parse a username: 3–32 of `a-z0-9_.`. The shape only: logins and
    /// lookups of existing accounts use it, so reserved names parse (a new
    /// registration is refused them by [`crate::user::User`]).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = (3..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::InvalidUsername)
        }
    }
}

impl DisplayName {
    /// Parse a display name: 1–64 characters after trimming, no control
    /// characters, at least one visible.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if char_len_between(t, 1, 64) && !has_control(t, false) && has_visible(t) {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidDisplayName)
        }
    }
}

impl RoomName {
    /// Parse a room name: 1–100 characters after trimming, no control
    /// characters, at least one visible.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if char_len_between(t, 1, 100) && !has_control(t, false) && has_visible(t) {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidRoomName)
        }
    }
}

impl MessageBody {
    /// Parse a message body: 1–4000 characters after trimming, at least one
    /// visible.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if char_len_between(t, 1, 4000) && !has_control(t, true) && has_visible(t) {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidMessageBody)
        }
    }
}

impl MessageBody {
    /// Parse a body that may be empty (a message of attachments only): empty
    /// or blank text is `None`, anything else must be a valid body. Whether
    /// `None` is allowed is the room's rule, which knows the attachments.
    pub fn parse_optional(s: &str) -> Result<Option<Self>, DomainError> {
        if s.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(s).map(Some)
        }
    }
}

impl StatusMessage {
    /// Parse a status message: empty after trimming clears it; otherwise
    /// 1–60 characters, no control characters, at least one visible.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if t.is_empty() || (char_len_between(t, 1, 60) && !has_control(t, false) && has_visible(t))
        {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidStatusMessage)
        }
    }
}

/// How long after posting the author may still delete a message for
/// everyone (`COTALK_DELETE_WINDOW_SECS`). The owner's right is not bounded
/// by it. It travels with the delete command, so the rule reads no
/// configuration and no clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteWindow(chrono::TimeDelta);

impl DeleteWindow {
    /// API.md's default: 24 hours.
    pub const DEFAULT_SECS: u32 = 86_400;

    /// A window of `secs` seconds.
    pub fn from_secs(secs: u32) -> Self {
        Self(chrono::TimeDelta::seconds(i64::from(secs)))
    }

    /// The window's length.
    pub fn duration(&self) -> chrono::TimeDelta {
        self.0
    }
}

impl Default for DeleteWindow {
    fn default() -> Self {
        Self::from_secs(Self::DEFAULT_SECS)
    }
}

/// A password as typed: 8–256 characters. Never serialised, never logged;
/// it exists only long enough to be hashed or verified.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Parse a new password: 8–256 characters.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if char_len_between(s, 8, 256) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::WeakPassword)
        }
    }

    /// The secret, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The most members a room may be created with, or grow to.
pub const MAX_ROOM_MEMBERS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("kim.min_su9").is_ok());
        for bad in ["ab", "Kim", "kim-su", "김민수", &"a".repeat(33), ""] {
            assert_eq!(
                Username::parse(bad),
                Err(DomainError::InvalidUsername),
                "{bad}"
            );
        }
    }

    #[test]
    fn bodies_are_trimmed_and_counted_in_characters() {
        assert_eq!(
            MessageBody::parse("  회의는 3시  ").unwrap().as_str(),
            "회의는 3시"
        );
        assert!(MessageBody::parse(&"가".repeat(4000)).is_ok());
        assert!(MessageBody::parse(&"가".repeat(4001)).is_err());
        assert!(MessageBody::parse("   \n ").is_err());
        assert!(MessageBody::parse("line\nbreak").is_ok());
    }

    #[test]
    fn a_body_may_be_absent_but_never_invisible() {
        assert_eq!(MessageBody::parse_optional(""), Ok(None));
        assert_eq!(MessageBody::parse_optional(" \n "), Ok(None));
        assert_eq!(
            MessageBody::parse_optional(" 사진 ")
                .unwrap()
                .unwrap()
                .as_str(),
            "사진"
        );
        assert!(MessageBody::parse_optional("\u{200B}").is_err());
        assert!(MessageBody::parse_optional(&"가".repeat(4001)).is_err());
    }

    #[test]
    fn names() {
        assert!(DisplayName::parse("김민수").is_ok());
        assert!(DisplayName::parse(" ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(RoomName::parse(&"방".repeat(100)).is_ok());
        assert!(RoomName::parse(&"방".repeat(101)).is_err());
        assert!(RoomName::parse("a\u{0}b").is_err());
    }

    /// Text that renders as nothing: zero-width and other default-ignorable
    /// code points, alone, repeated, and mixed with whitespace.
    const INVISIBLE: &[&str] = &[
        "\u{200B}",
        "\u{200C}",
        "\u{200D}",
        "\u{2060}",
        "\u{FEFF}",
        "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
        " \u{200B} \u{3000}\u{FEFF}\t",
        "\u{00AD}\u{034F}\u{115F}\u{1160}\u{3164}\u{FFA0}",
        "\u{180E}\u{200E}\u{200F}\u{202A}\u{2066}\u{FE0F}\u{E0001}",
        "\u{2800}\u{2800}",
    ];

    #[test]
    fn invisible_text_is_refused_everywhere_it_is_shown() {
        for s in INVISIBLE {
            assert_eq!(
                DisplayName::parse(s),
                Err(DomainError::InvalidDisplayName),
                "{s:?}"
            );
            assert_eq!(
                RoomName::parse(s),
                Err(DomainError::InvalidRoomName),
                "{s:?}"
            );
            assert_eq!(
                MessageBody::parse(s),
                Err(DomainError::InvalidMessageBody),
                "{s:?}"
            );
            let line = format!("{s}\n{s}");
            assert!(MessageBody::parse(&line).is_err(), "{line:?}");
        }
        // One visible character is enough, and invisible ones beside it stay.
        assert_eq!(
            DisplayName::parse("\u{200B}민\u{200D}").unwrap().as_str(),
            "\u{200B}민\u{200D}"
        );
        assert!(MessageBody::parse("👍🏽").is_ok());
        assert!(MessageBody::parse("❤\u{FE0F}").is_ok());
        assert!(RoomName::parse("👨\u{200D}👩\u{200D}👧").is_ok());
    }

    #[test]
    fn status_messages_are_empty_or_visible_and_short() {
        assert_eq!(StatusMessage::parse("  ").unwrap().as_str(), "");
        assert_eq!(
            StatusMessage::parse(" 출근 중 ").unwrap().as_str(),
            "출근 중"
        );
        assert!(StatusMessage::parse(&"가".repeat(60)).is_ok());
        assert_eq!(
            StatusMessage::parse(&"가".repeat(61)),
            Err(DomainError::InvalidStatusMessage)
        );
        for s in INVISIBLE.iter().filter(|s| !s.trim().is_empty()) {
            assert_eq!(
                StatusMessage::parse(s),
                Err(DomainError::InvalidStatusMessage),
                "{s:?}"
            );
        }
        assert!(StatusMessage::parse("a\u{7}b").is_err());
    }

    #[test]
    fn reserved_usernames_parse_but_are_reserved() {
        for name in [
            "admin",
            "root",
            "system",
            "cotalk",
            "support",
            "administrator",
            "moderator",
            "null",
            "undefined",
            "ad.min",
            "s_y_s_t_e_m",
            "cotalk_team",
            "admin.kim",
            "admin2",
        ] {
            let u = Username::parse(name).unwrap();
            assert!(u.is_reserved(), "{name}");
        }
        for name in [
            "minsu",
            "alice",
            "sam",
            "jihoon",
            "seoyeon",
            "minji",
            "owner",
            "demo_0001",
            "badmin",
            "rooted",
            "nullable",
        ] {
            assert!(!Username::parse(name).unwrap().is_reserved(), "{name}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(257)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret123").unwrap()),
            "Password(***)"
        );
    }
}
