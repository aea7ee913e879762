//! Invite links: their tokens, join codes and limits. Pure: the caller
//! brings the random bytes ([`InviteToken::from_random`], from the OS RNG),
//! so the domain stays deterministic and testable.
//!
//! Only hashes reach the log (`room.invite_created`): the token's SHA-256
//! and the code's SHA-256 salted with the invite id. A token carries 256
//! random bits, so an unsalted fast hash is enough (nothing to brute-force);
//! a code is short and chosen by people, so it is salted per invite, and its
//! guessing is bounded by the HTTP layer's rate limit, not by the hash.

use crate::error::DomainError;
use crate::ids::{InviteId, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::fmt;

/// Random bytes in a token: 256 bits (the contract asks for at least 128).
pub const TOKEN_BYTES: usize = 32;

/// Characters in a token: URL-safe base64 of [`TOKEN_BYTES`], no padding.
pub const TOKEN_CHARS: usize = 43;

/// An invite link's secret, as it appears in `/invite/{token}`.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteToken(String);

/// The SHA-256 of a token, hex: what the log stores and lookups compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl InviteToken {
    /// The token for these random bytes (from a CSPRNG).
    pub fn from_random(bytes: [u8; TOKEN_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a client sent it. Anything not shaped like a token is
    /// `invite_not_found`, the answer for every token that opens nothing.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let shaped = s.len() == TOKEN_CHARS
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD.decode(s).is_ok();
        if shaped {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::InviteNotFound)
        }
    }

    /// The token's text, for the 201 answer (never logged, never stored).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up instead of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteToken(***)")
    }
}

impl TokenHash {
    /// The hex text, as stored in `room.invite_created`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A join code an invite may require: 1–32 characters after trimming, no
/// control characters, at least one visible (like names).
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode(String);

impl InviteCode {
    /// Parse a code given when creating an invite (`invalid_invite`).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        let n = t.chars().count();
        if (1..=32).contains(&n)
            && !t.chars().any(char::is_control)
            && crate::values::has_visible(t)
        {
            Ok(Self(t.to_owned()))
        } else {
            Err(DomainError::InvalidInvite)
        }
    }

    /// The code's SHA-256 salted with the invite id, hex. A code given on
    /// join is hashed the same way, trimmed, so any text can be checked.
    pub fn hash(&self, invite_id: InviteId) -> String {
        code_hash(invite_id, &self.0)
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteCode(***)")
    }
}

fn code_hash(invite_id: InviteId, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"cotalk invite code\0");
    h.update(invite_id.0.as_bytes());
    h.update(code.trim().as_bytes());
    hex::encode(h.finalize())
}

/// Whether `code` (as a joiner typed it) is the invite's code. Comparing
/// digests leaks nothing useful through timing: learning a prefix of a
/// salted SHA-256 does not help find a preimage.
pub fn code_matches(invite_id: InviteId, code: &str, stored_hash: &str) -> bool {
    code_hash(invite_id, code) == stored_hash
}

/// How long an invite lives: 1–720 hours, 168 (a week) when not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InviteExpiry(u32);

impl InviteExpiry {
    /// API.md's default: a week.
    pub const DEFAULT_HOURS: u32 = 168;

    /// From the request's `expires_in_hours` (`invalid_invite` outside 1–720).
    pub fn from_hours(hours: Option<u32>) -> Result<Self, DomainError> {
        match hours.unwrap_or(Self::DEFAULT_HOURS) {
            h @ 1..=720 => Ok(Self(h)),
            _ => Err(DomainError::InvalidInvite),
        }
    }

    /// When an invite created `at` expires.
    pub fn expires_at(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + TimeDelta::hours(i64::from(self.0))
    }
}

/// An invite as the room knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub token_hash: String,
    pub created_by: UserId,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<u32>,
    pub code_hash: Option<String>,
    /// Joins through it so far.
    pub uses: u32,
    pub revoked: bool,
}

impl Invite {
    /// Whether it still lets someone in at `at`: not revoked, not expired,
    /// not used up. Every other case is the one answer `invite_not_found`.
    pub fn usable(&self, at: DateTime<Utc>) -> bool {
        !self.revoked && at < self.expires_at && self.max_uses.is_none_or(|m| self.uses < m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn tokens_are_256_bits_url_safe_and_parse_back() {
        let t = InviteToken::from_random([0xfb; TOKEN_BYTES]);
        assert_eq!(t.expose().len(), TOKEN_CHARS);
        assert!(!t.expose().contains(['+', '/', '=']));
        assert_eq!(InviteToken::parse(t.expose()).unwrap(), t);
        assert_eq!(t.hash().as_str().len(), 64);
        assert_ne!(
            t.hash(),
            InviteToken::from_random([0xfa; TOKEN_BYTES]).hash()
        );
        assert_eq!(format!("{t:?}"), "InviteToken(***)");
    }

    #[test]
    fn malformed_tokens_are_not_found() {
        let good = InviteToken::from_random([7; TOKEN_BYTES]);
        for bad in [
            "",
            "abc",
            &good.expose()[1..],
            &format!("{}A", good.expose()),
            &good.expose().replace(|_: char| true, "%"),
        ] {
            assert_eq!(InviteToken::parse(bad), Err(DomainError::InviteNotFound));
        }
    }

    #[test]
    fn codes_are_salted_by_invite_and_checked_trimmed() {
        let a = InviteId(Uuid::from_u128(1));
        let b = InviteId(Uuid::from_u128(2));
        let code = InviteCode::parse(" 1234 ").unwrap();
        let stored = code.hash(a);
        assert_ne!(stored, code.hash(b));
        assert!(code_matches(a, "1234", &stored));
        assert!(code_matches(a, " 1234\n", &stored));
        assert!(!code_matches(a, "1235", &stored));
        assert!(!code_matches(b, "1234", &stored));
        for bad in ["", "  ", "\u{200B}", &"x".repeat(33), "a\u{0}b"] {
            assert_eq!(InviteCode::parse(bad), Err(DomainError::InvalidInvite));
        }
    }

    #[test]
    fn expiry_is_1_to_720_hours_default_a_week() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let week = InviteExpiry::from_hours(None).unwrap();
        assert_eq!(week.expires_at(at) - at, TimeDelta::hours(168));
        assert!(InviteExpiry::from_hours(Some(1)).is_ok());
        assert!(InviteExpiry::from_hours(Some(720)).is_ok());
        for bad in [0, 721, u32::MAX] {
            assert_eq!(
                InviteExpiry::from_hours(Some(bad)),
                Err(DomainError::InvalidInvite)
            );
        }
    }
}
