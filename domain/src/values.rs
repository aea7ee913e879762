//! Parsed values. Each constructor is the one place its rule lives; a value
//! that exists is valid, so nothing downstream re-checks it.

use crate::error::DomainError;
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

fn char_len_between(s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    (min..=max).contains(&n)
}

/// Control characters (other than newline and tab in bodies) never belong in
/// names shown to other people.
fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r')))
}

impl Username {
    /// Parse a username: 3–32 of `a-z0-9_.`.
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
    /// Parse a display name: 1–64 characters after trimming, no control characters.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if char_len_between(t, 1, 64) && !has_control(t, false) {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidDisplayName)
        }
    }
}

impl RoomName {
    /// Parse a room name: 1–100 characters after trimming, no control characters.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if char_len_between(t, 1, 100) && !has_control(t, false) {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidRoomName)
        }
    }
}

impl MessageBody {
    /// Parse a message body: 1–4000 characters after trimming.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        if char_len_between(t, 1, 4000) && !has_control(t, true) {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidMessageBody)
        }
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
    fn names() {
        assert!(DisplayName::parse("김민수").is_ok());
        assert!(DisplayName::parse(" ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(RoomName::parse(&"방".repeat(100)).is_ok());
        assert!(RoomName::parse(&"방".repeat(101)).is_err());
        assert!(RoomName::parse("a\u{0}b").is_err());
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
