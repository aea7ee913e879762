//! What every command request carries besides its body fields: the caller,
//! an optional `Idempotency-Key`, and a fingerprint of the request (method,
//! path and body bytes) so a retry with a different body under the same key
//! is recognised.

use api::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderName, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// `Idempotency-Key`.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A command's body, parsed, with the request's fingerprint and idempotency key.
#[derive(Debug)]
pub struct CommandBody<T> {
    /// The parsed body (`T` denies unknown fields).
    pub body: T,
    /// SHA-256 of method, path and body bytes.
    pub fingerprint: Vec<u8>,
    /// The validated `Idempotency-Key`, if sent.
    pub idempotency_key: Option<String>,
}

/// The body of routes that take none: empty, `{}` or absent.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let visible = key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if key.is_empty() || key.len() > 128 || !visible {
        return Err(ApiError::invalid_request(
            "Idempotency-Key must be 1-128 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

impl<S, T> FromRequest<S> for CommandBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let idempotency_key = idempotency_key(&req)?;
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str());
        hasher.update(b" ");
        hasher.update(req.uri().path());
        hasher.update(b"\n");
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.starts_with("application/json") || v.contains("+json"));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request bodies are limited to 64 KiB",
                )
            } else {
                ApiError::invalid_request(e.body_text())
            }
        })?;
        hasher.update(&bytes);
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::from_slice(b"{}").map_err(|e| ApiError::invalid_request(e.to_string()))?
        } else {
            if json == Some(false) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "expected content-type: application/json",
                ));
            }
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::invalid_request(format!("invalid JSON body: {e}")))?
        };
        Ok(Self {
            body,
            fingerprint: hasher.finalize().to_vec(),
            idempotency_key,
        })
    }
}
