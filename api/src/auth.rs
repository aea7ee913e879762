//! Bearer tokens: HS256 JWTs with `sub` (user id), `iat`, `exp`, `iss` and
//! `aud`, and `reg`, the log position of the user's registration. The
//! algorithm is pinned (a token claiming `none` or any other algorithm is
//! refused), the signature, expiry, issuer and audience are all checked.
//!
//! Whether the token's user exists is checked beside the token, by
//! [`crate::authenticate`].
//!
//! The signing secret comes from configuration; when none is configured it is
//! generated once into the data directory (`token_secret`, mode 0600), so a
//! restart keeps sessions valid.

use crate::authenticate::Authenticate;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

/// The issuer and audience every token carries.
pub const ISSUER: &str = "cotalk";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "cotalk-api";

/// Claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: uuid::Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
}

/// Keys and rules for issuing and checking tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    verified: VerifiedTokens,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a secret; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            verified: VerifiedTokens::new(VERIFIED_TOKENS),
        }
    }

    /// Issue a token for `user` at `now`; returns it with its expiry.
    pub fn issue(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let exp = now + self.ttl;
        let claims = Claims {
            sub: user.0,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal("sign token", e))?;
        Ok((token, exp))
    }

    /// Check a token; the user it names, or `unauthenticated`.
    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        self.claims(token).map(|claims| UserId(claims.sub))
    }

    /// Check a token like [`TokenKeys::verify`]; all its claims, for callers
    /// that need more than the user (a stream ends at the token's `exp`).
    pub fn claims(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::unauthenticated())
    }
}

/// A verified token: the user, where the log registered them, when the
/// token expires, and the session it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The user (`sub`).
    pub user: UserId,
    /// The session (`sid`): what a logout, a password change or a reused
    /// refresh token revokes. `None` for tokens issued before sessions
    /// existed (they live out their lifetime and cannot be revoked).
    pub session_id: Option<uuid::Uuid>,
    /// Log position of the user's registration (`reg`; 0 when the token
    /// predates the claim).
    pub registered_at: i64,
    /// Expiry (`exp`, seconds since the epoch).
    pub expires_at: i64,
}

/// The claims [`TokenKeys::session`] reads; the issuer and audience are
/// checked by the validation itself.
#[derive(Deserialize)]
struct SessionClaims {
    sub: uuid::Uuid,
    exp: i64,
    #[serde(default)]
    reg: i64,
    #[serde(default)]
    sid: Option<uuid::Uuid>,
}

/// [`Claims`] plus the registration position and the session, as issued.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    #[serde(flatten)]
    claims: &'a Claims,
    reg: i64,
    sid: uuid::Uuid,
}

impl TokenKeys {
    /// How long an access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issue a token of session `session_id` for `user`, registered at log
    /// position `registered_at`, at `now`; returns it with its expiry.
    pub fn issue_session(
        &self,
        user: UserId,
        registered_at: i64,
        session_id: uuid::Uuid,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let exp = now + self.ttl;
        let claims = Claims {
            sub: user.0,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let issued = IssuedClaims {
            claims: &claims,
            reg: registered_at,
            sid: session_id,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &issued, &self.encoding)
            .map_err(|e| ApiError::internal("sign token", e))?;
        Ok((token, exp))
    }

    /// Check a token's signature and claims; the session it names, or
    /// `unauthenticated`. Whether the user exists is [`Authenticate`]'s part.
    pub fn session(&self, token: &str) -> Result<Session, ApiError> {
        if let Some(session) = self.verified.get(token) {
            // The validation's own rule (no leeway): expired once `exp` is
            // before now.
            let now = jsonwebtoken::get_current_timestamp();
            return match u64::try_from(session.expires_at) {
                Ok(exp) if exp >= now => Ok(session),
                _ => Err(ApiError::unauthenticated()),
            };
        }
        let session =
            jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &self.validation)
                .map(|data| Session {
                    user: UserId(data.claims.sub),
                    registered_at: data.claims.reg.max(0),
                    expires_at: data.claims.exp,
                    session_id: data.claims.sid,
                })
                .map_err(|_| ApiError::unauthenticated())?;
        self.verified.insert(token, session);
        Ok(session)
    }
}

/// About how many verified tokens [`TokenKeys`] remembers.
const VERIFIED_TOKENS: usize = 16_384;

/// Shards of [`VerifiedTokens`].
const VERIFIED_TOKEN_SHARDS: usize = 64;

/// Tokens whose signature and claims were checked, with the session each
/// names: a client sends the same token with every request for its whole
/// life, and checking it (two base64 decodes, two JSON parses, an HMAC)
/// gives the same answer every time but for the expiry, which
/// [`TokenKeys::session`] checks on every hit as the validation does.
/// Only tokens that passed are kept, by their full text, so a token that
/// differs in any byte is checked afresh. Bounded like
/// [`crate::KnownUsers`]: sharded read-write locks, a full shard cleared,
/// which only costs its tokens one check each again. Revocation is not
/// this cache's business: [`crate::Authenticate`] asks the deny list after
/// it, on every request.
struct VerifiedTokens {
    shards: Box<[RwLock<TokenShard>]>,
    per_shard: usize,
}

/// One shard of [`VerifiedTokens`]: token text to its session.
type TokenShard = HashMap<Box<str>, Session>;

impl VerifiedTokens {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..VERIFIED_TOKEN_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            per_shard: capacity.div_ceil(VERIFIED_TOKEN_SHARDS).max(1),
        }
    }

    fn shard(&self, token: &str) -> &RwLock<TokenShard> {
        // A token ends with its signature, which no two tokens share.
        let tail = token.as_bytes().iter().rev().take(8);
        let n = tail.fold(0usize, |n, b| n.wrapping_mul(31).wrapping_add(*b as usize));
        &self.shards[n % VERIFIED_TOKEN_SHARDS]
    }

    fn get(&self, token: &str) -> Option<Session> {
        self.shard(token)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .copied()
    }

    fn insert(&self, token: &str, session: Session) {
        let mut shard = self.shard(token).write().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard {
            shard.clear();
        }
        shard.insert(token.into(), session);
    }
}

/// Read the signing secret from `configured`, else from `{data_dir}/token_secret`,
/// creating that file with a fresh random secret if missing.
pub fn load_or_create_secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> std::io::Result<Vec<u8>> {
    load_or_create_named_secret(configured, data_dir, "token_secret")
}

/// [`load_or_create_secret`] kept in the data directory's file `name`
/// (the master key of personal data is `master_key`).
pub fn load_or_create_named_secret(
    configured: Option<&str>,
    data_dir: &Path,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    if let Some(s) = configured.filter(|s| !s.is_empty()) {
        return Ok(s.as_bytes().to_vec());
    }
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) | Err(_) => {}
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let tmp = data_dir.join(format!("{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    // Two processes starting at once: the first rename wins, both read it back.
    if std::fs::hard_link(&tmp, &path).is_err() && !path.exists() {
        std::fs::rename(&tmp, &path)?;
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(std::fs::read_to_string(&path)?.trim().as_bytes().to_vec())
}

/// The authenticated caller of a route.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

/// Bearer token from an `Authorization` header value.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The authenticated caller of a route with their session (routes that act
/// on "this session": logout, the session list's `current`).
#[derive(Debug, Clone, Copy)]
pub struct AuthSession(pub Session);

impl<S: Authenticate> FromRequestParts<S> for AuthSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        state.authenticate(token).await.map(AuthSession)
    }
}

impl<S: Authenticate> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        state
            .authenticate(token)
            .await
            .map(|session| AuthUser(session.user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", Duration::hours(1))
    }

    #[test]
    fn issued_tokens_verify() {
        let user = UserId(uuid::Uuid::from_u128(7));
        let (token, _) = keys().issue(user, Utc::now()).unwrap();
        assert_eq!(keys().verify(&token).unwrap(), user);
    }

    #[test]
    fn claims_carry_the_user_and_the_expiry_issued() {
        let user = UserId(uuid::Uuid::from_u128(7));
        let (token, expires) = keys().issue(user, Utc::now()).unwrap();
        let claims = keys().claims(&token).unwrap();
        assert_eq!((claims.sub, claims.exp), (user.0, expires.timestamp()));
        let (old, _) = keys().issue(user, Utc::now() - Duration::hours(2)).unwrap();
        assert!(keys().claims(&old).is_err());
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let user = UserId(uuid::Uuid::from_u128(7));
        let (old, _) = keys().issue(user, Utc::now() - Duration::hours(2)).unwrap();
        assert!(keys().verify(&old).is_err());
        let (token, _) = keys().issue(user, Utc::now()).unwrap();
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys().verify(&tampered).is_err());
        let other = TokenKeys::new(b"another-secret-another-secret-xx", Duration::hours(1));
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn sessions_carry_the_registration_position() {
        let user = UserId(uuid::Uuid::from_u128(7));
        let now = Utc::now();
        let sid = uuid::Uuid::from_u128(9);
        let (token, exp) = keys().issue_session(user, 42, sid, now).unwrap();
        let session = keys().session(&token).unwrap();
        assert_eq!(session.user, user);
        assert_eq!(session.session_id, Some(sid));
        assert_eq!(session.registered_at, 42);
        assert_eq!(session.expires_at, exp.timestamp());
        // Both readers accept both kinds of token.
        assert_eq!(keys().verify(&token).unwrap(), user);
        let (old, _) = keys().issue(user, now).unwrap();
        assert_eq!(keys().session(&old).unwrap().registered_at, 0);
        assert_eq!(keys().session(&old).unwrap().session_id, None);
        let (expired, _) = keys()
            .issue_session(user, 42, sid, now - Duration::hours(2))
            .unwrap();
        assert!(keys().session(&expired).is_err());
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_expiry_and_byte_for_byte() {
        let keys = keys();
        let user = UserId(uuid::Uuid::from_u128(7));
        let sid = uuid::Uuid::from_u128(9);
        let (token, _) = keys.issue_session(user, 42, sid, Utc::now()).unwrap();
        let first = keys.session(&token).unwrap();
        assert_eq!(keys.verified.get(&token), Some(first), "remembered");
        assert_eq!(keys.session(&token).unwrap(), first);
        // Any other byte is another token, checked afresh (and refused).
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.session(&tampered).is_err());
        assert_eq!(keys.verified.get(&tampered), None, "failures are not kept");
        // Time passes: the remembered session expires like the token.
        let past = jsonwebtoken::get_current_timestamp() as i64 - 1;
        keys.verified.insert(
            &token,
            Session {
                expires_at: past,
                ..first
            },
        );
        assert!(keys.session(&token).is_err());
        assert!(
            keys.verify(&token).is_ok(),
            "the claims reader does not use it"
        );
    }

    #[test]
    fn verified_tokens_stay_bounded() {
        let cache = VerifiedTokens::new(VERIFIED_TOKEN_SHARDS * 2);
        let session = Session {
            user: UserId(uuid::Uuid::from_u128(7)),
            session_id: None,
            registered_at: 0,
            expires_at: i64::MAX,
        };
        for i in 0..10_000 {
            cache.insert(&format!("token-{i}"), session);
        }
        for shard in cache.shards.iter() {
            assert!(shard.read().unwrap().len() <= 2);
        }
        assert_eq!(cache.get("token-9999"), Some(session), "the newest stays");
    }

    #[test]
    fn alg_none_is_refused() {
        let claims = Claims {
            sub: uuid::Uuid::from_u128(7),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 3600,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.",
            enc(br#"{"alg":"none","typ":"JWT"}"#),
            enc(&serde_json::to_vec(&claims).unwrap())
        );
        assert!(keys().verify(&token).is_err());
    }
}
