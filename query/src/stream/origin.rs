//! Which web pages may open a stream: the `Origin` allow-list.
//!
//! A browser sends `Origin` with every WebSocket handshake, and a page on any
//! site may open a WebSocket to any server; only the server can refuse. The
//! stream carries everything a user can read, so it answers only pages of
//! its own origin (the web client it serves: the `Origin` names the same
//! host and port as the request's `Host`) and of the origins configured
//! (`--stream-allowed-origins`). A request without `Origin` does not come
//! from a browser page (tools, native clients, the tests) and is let in:
//! its token alone vouches for it.

use axum::http::{header, HeaderMap, Uri};
use std::str::FromStr;
use thiserror::Error;

/// An origin (`scheme://host[:port]`, http or https) allowed to open
/// `GET /v1/stream` besides the server's own; compared case-insensitively,
/// without a default port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedOrigin(String);

/// A configured origin that is not one.
#[derive(Debug, Error)]
#[error("not an origin (scheme://host[:port] with scheme http or https, nothing after): {0:?}")]
pub struct InvalidOrigin(String);

impl FromStr for AllowedOrigin {
    type Err = InvalidOrigin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidOrigin(s.to_owned());
        let uri: Uri = s.trim().parse().map_err(|_| invalid())?;
        let scheme = uri.scheme_str().ok_or_else(invalid)?;
        let authority = uri.authority().ok_or_else(invalid)?.as_str();
        let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
        if !matches!(scheme, "http" | "https") || authority.contains('@') || !bare {
            return Err(invalid());
        }
        Ok(Self(normalise(scheme, authority)))
    }
}

/// The configured origins: a comma-separated list of [`AllowedOrigin`]s
/// (empty entries ignored, so an empty list is an empty string).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<AllowedOrigin>);

impl FromStr for AllowedOrigins {
    type Err = InvalidOrigin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|o| !o.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// `scheme://authority`, lowercase, without the scheme's default port (as
/// browsers send it).
fn normalise(scheme: &str, authority: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default).unwrap_or(&authority);
    format!("{scheme}://{authority}")
}

/// Whether a handshake with `headers` may open a stream: no `Origin`, the
/// request's own origin (its `Host`, or `authority` for a request that
/// carries it in its URI), or one of `allowed`.
pub(crate) fn allowed(
    headers: &HeaderMap,
    authority: Option<&str>,
    allowed: &AllowedOrigins,
) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    // `null` (sandboxed pages, files) and anything unparsable are refused.
    let Some((scheme, rest)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return false;
    };
    let origin = normalise(scheme, rest);
    if allowed.0.iter().any(|a| a.0 == origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority);
    host.is_some_and(|host| normalise(scheme, host) == origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn configured_origins_are_parsed_and_normalised() {
        let ok = |s: &str| s.parse::<AllowedOrigin>().unwrap().0;
        assert_eq!(ok("https://App.Example.com"), "https://app.example.com");
        assert_eq!(
            ok("https://app.example.com:443/"),
            "https://app.example.com"
        );
        assert_eq!(ok("http://localhost:3000"), "http://localhost:3000");
        for bad in [
            "",
            "app.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com?x=1",
            "*",
        ] {
            assert!(bad.parse::<AllowedOrigin>().is_err(), "{bad}");
        }
        assert_eq!(
            "".parse::<AllowedOrigins>().unwrap(),
            AllowedOrigins::default()
        );
        assert!("https://a.example,nope".parse::<AllowedOrigins>().is_err());
    }

    #[test]
    fn no_origin_the_servers_own_and_configured_ones_are_allowed() {
        let list: AllowedOrigins = " https://app.example.com,,http://b.example "
            .parse()
            .unwrap();
        let none = AllowedOrigins::default();
        let host = "chat.example.com";
        assert!(allowed(&headers(None, host), None, &none));
        assert!(allowed(
            &headers(Some("https://chat.example.com"), host),
            None,
            &none
        ));
        assert!(allowed(
            &headers(Some("http://CHAT.example.com:80"), host),
            None,
            &none
        ));
        assert!(allowed(
            &headers(Some("https://app.example.com"), host),
            None,
            &list
        ));
        for refused in [
            "https://app.example.com",
            "https://evil.example",
            "https://chat.example.com:8443",
            "null",
            "chat.example.com",
        ] {
            assert!(
                !allowed(&headers(Some(refused), host), None, &none),
                "{refused}"
            );
        }
        // Without a Host header, the URI's authority is the request's own.
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("http://a.example"));
        assert!(allowed(&h, Some("a.example"), &none));
        assert!(!allowed(&h, None, &none));
    }
}
