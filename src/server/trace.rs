//! The span every request is logged in (`tower_http`'s trace layer), with the
//! URI's credentials replaced by `REDACTED`: browsers pass the session token
//! of `/v1/stream` as `?token=`, and a log is read by more people than a
//! token should be. The span holds the method, the redacted URI and the
//! version, never a header (`Authorization` stays out of every log).

use axum::http::{Request, Uri};
use std::borrow::Cow;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};

/// Query parameters whose value is a credential, compared without case
/// after percent-decoding (the way the extractors decode them).
const CREDENTIAL_PARAMETERS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "password",
    "secret",
    "key",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "signature",
    "sig",
];

/// Paths whose next segment is a credential (invite links: the API's and
/// the page's).
const CREDENTIAL_PATH_PREFIXES: &[&str] = &["/v1/invites/", "/invite/"];

const REDACTED: &str = "REDACTED";

/// The trace layer of `cotalk serve`.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RedactedSpan> {
    TraceLayer::new_for_http().make_span_with(RedactedSpan)
}

/// Makes the `request` span with a redacted URI.
#[derive(Debug, Clone, Copy)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, req: &Request<B>) -> tracing::Span {
        tracing::debug_span!(
            "request",
            method = %req.method(),
            uri = %redact_uri(req.uri()),
            version = ?req.version(),
        )
    }
}

/// `uri` with the values of credential parameters and credential path
/// segments replaced; everything else as it was sent.
pub fn redact_uri(uri: &Uri) -> Cow<'_, str> {
    let path = redact_path(uri.path());
    let query = uri.query().map(redact_query);
    let unchanged =
        matches!(path, Cow::Borrowed(_)) && matches!(query, None | Some(Cow::Borrowed(_)));
    if unchanged {
        return match uri.path_and_query() {
            Some(pq) => Cow::Borrowed(pq.as_str()),
            None => Cow::Borrowed(uri.path()),
        };
    }
    match query {
        Some(q) => Cow::Owned(format!("{path}?{q}")),
        None => Cow::Owned(path.into_owned()),
    }
}

fn redact_path(path: &str) -> Cow<'_, str> {
    for prefix in CREDENTIAL_PATH_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            if rest.is_empty() {
                continue;
            }
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            return Cow::Owned(format!("{prefix}{REDACTED}{tail}"));
        }
    }
    Cow::Borrowed(path)
}

fn redact_query(query: &str) -> Cow<'_, str> {
    let secret = |pair: &str| {
        let name = pair.split('=').next().unwrap_or("");
        form_urlencoded::parse(name.as_bytes())
            .next()
            .is_some_and(|(name, _)| {
                CREDENTIAL_PARAMETERS
                    .iter()
                    .any(|c| name.trim().eq_ignore_ascii_case(c))
            })
    };
    if !query.split('&').any(secret) {
        return Cow::Borrowed(query);
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            if secret(pair) {
                let name = pair.split('=').next().unwrap_or("");
                format!("{name}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    Cow::Owned(pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(uri: &str) -> String {
        redact_uri(&uri.parse().unwrap()).into_owned()
    }

    #[test]
    fn credentials_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redacted("/v1/stream?after=0&token=eyJhbGciOi.x.y"),
            "/v1/stream?after=0&token=REDACTED"
        );
        assert_eq!(
            redacted("/v1/stream?TOKEN=a&to%6Ben=b&access_token=c&after=3"),
            "/v1/stream?TOKEN=REDACTED&to%6Ben=REDACTED&access_token=REDACTED&after=3"
        );
        assert_eq!(redacted("/x?token"), "/x?token=REDACTED");
        assert_eq!(
            redacted("/v1/invites/abc123/join?x=1"),
            "/v1/invites/REDACTED/join?x=1"
        );
        assert_eq!(redacted("/invite/abc123"), "/invite/REDACTED");
        assert_eq!(
            redacted("/v1/rooms/r/messages?limit=5"),
            "/v1/rooms/r/messages?limit=5"
        );
        assert_eq!(redacted("/healthz"), "/healthz");
        assert!(matches!(
            redact_uri(&"/v1/me?after=1".parse().unwrap()),
            Cow::Borrowed(_)
        ));
    }
}
