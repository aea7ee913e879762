//! The admin token's check, shared by the operator routes that take it
//! (`GET /ops/status`, `GET /metrics`): `Authorization: Bearer <admin token>`.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The admin token, kept as its SHA-256 digest: a request's token is hashed
/// and compared digest to digest, so the comparison's time says nothing
/// about how much of the token was right.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    /// The check of `token`.
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `headers` carry the admin token as a bearer token.
    pub fn permits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, token)) = value.split_once(' ') else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        scheme.eq_ignore_ascii_case("bearer") && digest == self.digest
    }
}

/// 401 `unauthenticated` with the challenge of the operator routes.
pub fn refusal() -> Response {
    let mut res = api::ApiError::unauthenticated().into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"cotalk ops\""),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_admin_token_is_permitted() {
        let admin = AdminToken::new("s3cret");
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(admin.permits(&with("Bearer s3cret")));
        assert!(admin.permits(&with("bearer s3cret")));
        assert!(!admin.permits(&with("Bearer s3cre")));
        assert!(!admin.permits(&with("Basic s3cret")));
        assert!(!admin.permits(&HeaderMap::new()));
    }
}
