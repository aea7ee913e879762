//! Personal fields as events carry them (issue 18, crypto-shredding).
//!
//! A username, display name or status message is personal data: events store
//! it sealed under the owner's data key (`eventlog::pii` seals and opens;
//! this crate does no cryptography). Deleting the key makes every copy of
//! the field unreadable at once: in the log, on the bus, in backups.
//!
//! Events written before sealing (schema version 1 of `user.registered`,
//! `user.display_name_changed`, `user.status_message_changed`) carry the
//! plain string; they decode to [`Personal::Plain`], so one in-memory shape
//! serves both versions and the upcaster has nothing to rewrite.
//! `cotalk pii encrypt-legacy` seals them in place.

use serde::{Deserialize, Serialize};

/// One personal field of an event or of aggregate state.
///
/// Sealing is deterministic per key, field and text (see `eventlog::pii`),
/// so two sealed values are equal exactly when their texts are: the user
/// aggregate can still tell "unchanged" without reading the text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Personal {
    /// Not sealed: written before sealing, or empty (an empty status message
    /// says nothing about anybody and is never sealed).
    Plain(String),
    /// Sealed under the owner's data key: URL-safe base64 of nonce and
    /// ciphertext.
    Sealed {
        /// The sealed bytes, base64.
        sealed: String,
    },
}

impl Personal {
    /// The empty field (no status message).
    pub fn empty() -> Self {
        Self::Plain(String::new())
    }

    /// Whether the field is the plain empty string.
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Plain(s) if s.is_empty())
    }

    /// Whether the field is still in the clear and not empty: what
    /// `cotalk pii encrypt-legacy` looks for.
    pub fn is_legacy_plain(&self) -> bool {
        matches!(self, Self::Plain(s) if !s.is_empty())
    }
}

impl From<String> for Personal {
    /// A plain (unsealed) field: tests and synthetic logs.
    fn from(text: String) -> Self {
        Self::Plain(text)
    }
}

impl From<&str> for Personal {
    /// A plain (unsealed) field: tests and synthetic logs.
    fn from(text: &str) -> Self {
        Self::Plain(text.to_owned())
    }
}

impl Default for Personal {
    fn default() -> Self {
        Self::empty()
    }
}

/// Which field a sealed value is, bound into the seal so that a sealed
/// display name cannot be passed off as a username.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Username,
    DisplayName,
    StatusMessage,
}

impl Field {
    /// The field's name as bound into the seal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::DisplayName => "display_name",
            Self::StatusMessage => "status_message",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_and_sealed_objects_both_decode() {
        let plain: Personal = serde_json::from_str("\"김민수\"").unwrap();
        assert_eq!(plain, Personal::Plain("김민수".into()));
        let sealed: Personal = serde_json::from_str("{\"sealed\":\"AAAA\"}").unwrap();
        assert_eq!(
            sealed,
            Personal::Sealed {
                sealed: "AAAA".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&sealed).unwrap(),
            "{\"sealed\":\"AAAA\"}"
        );
        assert!(serde_json::from_str::<Personal>("{\"other\":1}").is_err());
        assert!(plain.is_legacy_plain() && !Personal::empty().is_legacy_plain());
    }
}
