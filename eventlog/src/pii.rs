//! Personal data under per-user keys (issue 18, crypto-shredding;
//! ARCHITECTURE.md "Personal data").
//!
//! - Every user has a 256-bit **data key**, stored in `pii_keys` wrapped
//!   (XChaCha20-Poly1305) under the **master key** from the configuration,
//!   and bound to the user id. The table is beside the log, never in it.
//! - Personal fields ([`domain::pii::Personal`]) are sealed under the data
//!   key with XChaCha20-Poly1305, the user id and field name as associated
//!   data. The nonce is synthetic (an HMAC of field and text under a key
//!   derived from the data key), so sealing is deterministic per user: equal
//!   texts seal equal, which lets the user aggregate tell "unchanged"
//!   without the text. What that reveals, to a reader of the log while the
//!   key lives, is only that a user set the same text twice.
//! - Deleting the account deletes the row ([`crate::SideWrite::AccountDeleted`]):
//!   from the commit on, nothing can open the user's fields, wherever the
//!   events were copied.
//! - Usernames are looked up and kept unique by their **name key**: an HMAC
//!   of the username under a secret derived from the master key (hex). The
//!   log and the credentials table carry only that.

use crate::StoreError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::pii::{Field, Personal};
use domain::UserId;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// XChaCha20's nonce length.
const NONCE: usize = 24;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("hmac takes any key length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// A user's data key, unwrapped.
#[derive(Clone)]
pub struct DataKey {
    user: UserId,
    /// Seals and opens.
    seal: [u8; 32],
    /// Makes the synthetic nonces.
    nonce: [u8; 32],
}

impl fmt::Debug for DataKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    fn from_raw(user: UserId, raw: &[u8; 32]) -> Self {
        Self {
            user,
            seal: hmac(raw, &[b"cotalk pii seal"]),
            nonce: hmac(raw, &[b"cotalk pii nonce"]),
        }
    }

    /// Seal `text` as `field`; the empty text stays plain (it says nothing).
    pub fn seal(&self, field: Field, text: &str) -> Personal {
        if text.is_empty() {
            return Personal::empty();
        }
        let user = self.user.0.as_bytes();
        let aad = [user.as_slice(), field.as_str().as_bytes()].concat();
        let synthetic = hmac(&self.nonce, &[&aad, text.as_bytes()]);
        let nonce = XNonce::from_slice(&synthetic[..NONCE]);
        let payload = Payload {
            msg: text.as_bytes(),
            aad: &aad,
        };
        // Encryption fails only for messages of ~256 GiB.
        let sealed = cipher(&self.seal)
            .encrypt(nonce, payload)
            .unwrap_or_default();
        let mut bytes = synthetic[..NONCE].to_vec();
        bytes.extend(sealed);
        Personal::Sealed {
            sealed: URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    /// The text of a field sealed under this key (or stored plain); `None`
    /// when it does not open (not sealed as `field` for this user).
    pub fn open(&self, field: Field, value: &Personal) -> Option<String> {
        let sealed = match value {
            Personal::Plain(text) => return Some(text.clone()),
            Personal::Sealed { sealed } => URL_SAFE_NO_PAD.decode(sealed).ok()?,
        };
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE);
        let user = self.user.0.as_bytes();
        let aad = [user.as_slice(), field.as_str().as_bytes()].concat();
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let text = cipher(&self.seal)
            .decrypt(XNonce::from_slice(nonce), payload)
            .ok()?;
        String::from_utf8(text).ok()
    }
}

/// Open `value` with `key` if there is one. Plain (legacy) values open
/// without a key; sealed ones of a deleted user (no key) do not.
pub fn open(key: Option<&DataKey>, field: Field, value: &Personal) -> Option<String> {
    match (value, key) {
        (Personal::Plain(text), _) => Some(text.clone()),
        (_, Some(key)) => key.open(field, value),
        (_, None) => None,
    }
}

/// The master key and what is derived from it. Cheap to clone.
#[derive(Clone)]
pub struct Pii {
    inner: Arc<Secrets>,
}

struct Secrets {
    /// Wraps data keys.
    wrap: [u8; 32],
    /// Makes name keys.
    names: [u8; 32],
}

impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pii").finish_non_exhaustive()
    }
}

/// A wrapped data key did not unwrap: the master key is not the one it was
/// wrapped under, or the row is damaged. Never treated as "deleted".
#[derive(Debug, thiserror::Error)]
#[error("the data key of user {0} does not unwrap under this master key")]
pub struct UnwrapError(pub UserId);

impl Pii {
    /// From the configured master secret (any length; its SHA-256 is the key).
    pub fn new(master_secret: &[u8]) -> Self {
        let master: [u8; 32] = Sha256::digest(master_secret).into();
        Self {
            inner: Arc::new(Secrets {
                wrap: hmac(&master, &[b"cotalk pii wrap"]),
                names: hmac(&master, &[b"cotalk username key"]),
            }),
        }
    }

    /// The keyed hash of a (parsed, lower-case) username, hex: what the log
    /// and the credentials table know of it.
    pub fn name_key(&self, username: &str) -> String {
        hex::encode(hmac(&self.inner.names, &[username.as_bytes()]))
    }

    /// A new random data key for `user`, and its wrapped form to store.
    pub fn new_key(&self, user: UserId) -> (DataKey, Vec<u8>) {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: &raw,
            aad: user.0.as_bytes(),
        };
        let wrapped = cipher(&self.inner.wrap)
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut stored = nonce.to_vec();
        stored.extend(wrapped);
        (DataKey::from_raw(user, &raw), stored)
    }

    /// Unwrap a stored data key of `user`.
    pub fn unwrap_key(&self, user: UserId, stored: &[u8]) -> Result<DataKey, UnwrapError> {
        if stored.len() < NONCE {
            return Err(UnwrapError(user));
        }
        let (nonce, wrapped) = stored.split_at(NONCE);
        let payload = Payload {
            msg: wrapped,
            aad: user.0.as_bytes(),
        };
        let raw = cipher(&self.inner.wrap)
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| UnwrapError(user))?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| UnwrapError(user))?;
        Ok(DataKey::from_raw(user, &raw))
    }

    /// The data keys of `users` that still exist (a deleted user has none),
    /// in one query on the event-log database.
    pub async fn keys(
        &self,
        pool: &PgPool,
        users: &[UserId],
    ) -> Result<HashMap<UserId, DataKey>, StoreError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
        let rows: Vec<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT user_id, wrapped FROM pii_keys WHERE user_id = ANY($1)")
                .bind(&ids)
                .fetch_all(pool)
                .await?;
        rows.into_iter()
            .map(|(id, wrapped)| {
                let user = UserId(id);
                self.unwrap_key(user, &wrapped)
                    .map(|k| (user, k))
                    .map_err(|e| StoreError::Corrupt {
                        position: 0,
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// The data key of one user, if it still exists.
    pub async fn key(&self, pool: &PgPool, user: UserId) -> Result<Option<DataKey>, StoreError> {
        Ok(self.keys(pool, &[user]).await?.remove(&user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }

    #[test]
    fn sealing_round_trips_and_is_deterministic_per_key() {
        let pii = Pii::new(b"a master secret of some length");
        let (key, stored) = pii.new_key(user(1));
        let sealed = key.seal(Field::DisplayName, "삭제될이름");
        assert_eq!(sealed, key.seal(Field::DisplayName, "삭제될이름"));
        assert_ne!(sealed, key.seal(Field::Username, "삭제될이름"));
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains("삭제될이름"), "{text}");
        assert_eq!(
            key.open(Field::DisplayName, &sealed).as_deref(),
            Some("삭제될이름")
        );
        // Bound to the field and to the user.
        assert_eq!(key.open(Field::Username, &sealed), None);
        let (other, _) = pii.new_key(user(2));
        assert_eq!(other.open(Field::DisplayName, &sealed), None);
        // The stored key unwraps to the same key, for its user only, under
        // its master key only.
        let again = pii.unwrap_key(user(1), &stored).unwrap();
        assert_eq!(
            again.open(Field::DisplayName, &sealed).as_deref(),
            Some("삭제될이름")
        );
        assert!(pii.unwrap_key(user(2), &stored).is_err());
        assert!(Pii::new(b"another master")
            .unwrap_key(user(1), &stored)
            .is_err());
        // Without the key, nothing opens but legacy plain text.
        assert_eq!(open(None, Field::DisplayName, &sealed), None);
        let legacy = Personal::Plain("minsu".into());
        assert_eq!(
            open(None, Field::Username, &legacy).as_deref(),
            Some("minsu")
        );
        assert_eq!(key.seal(Field::StatusMessage, ""), Personal::empty());
    }

    #[test]
    fn name_keys_are_keyed() {
        let a = Pii::new(b"one");
        assert_eq!(a.name_key("zq9shredme"), a.name_key("zq9shredme"));
        assert_ne!(
            a.name_key("zq9shredme"),
            Pii::new(b"two").name_key("zq9shredme")
        );
        assert_eq!(a.name_key("x").len(), 64);
    }
}
