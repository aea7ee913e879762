//! Password hashing: argon2id with the OWASP-recommended parameters
//! (19 MiB memory, 2 iterations, 1 lane), run on the blocking pool because one
//! hash takes tens of milliseconds. Unknown usernames are verified against a
//! fixed dummy hash so "no such user" and "wrong password" take the same time
//! and get the same answer.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;

/// argon2id, OWASP parameters.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct Passwords {
    dummy: Arc<String>,
}

/// Hashing failed (never a client's fault).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Passwords {
    /// Prepare the hasher (computes the dummy hash once).
    pub fn new() -> Self {
        let salt = SaltString::encode_b64(b"cotalk-dummy-salt").expect("constant salt is valid");
        let dummy = argon2()
            .hash_password(b"not-a-real-password", &salt)
            .expect("hashing a constant succeeds")
            .to_string();
        Self {
            dummy: Arc::new(dummy),
        }
    }

    /// Hash a new password (PHC string with a random salt).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        tokio::task::spawn_blocking(move || {
            let mut bytes = [0u8; 16];
            rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
            let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError(e.to_string()))?;
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(|e| HashError(e.to_string()))?
    }

    /// Check `password` against `stored` (or against the dummy hash when there
    /// is no such user, so both cases cost the same).
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let p = Passwords::new();
        let h = p.hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse".into(), Some(h.clone())).await);
        assert!(!p.verify("wrong horse".into(), Some(h)).await);
        assert!(!p.verify("not-a-real-password".into(), None).await);
    }
}
