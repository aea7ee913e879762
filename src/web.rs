//! The web client and the operator page, embedded in the binary: `/` (the
//! chat client), `/ops` (projection positions, lag and generations, append
//! rate and batch sizes, live) and their scripts and style sheet; invite
//! links (`/invite/{token}`) open the chat client.
//!
//! Plain HTML, CSS and ES modules from `web/`, with no build step: nothing is
//! fetched at run time and the files served are the files in the repository.
//! Every asset answers with a strong `ETag` (a hash of its bytes) and
//! `Cache-Control: no-cache`, so browsers revalidate with a cheap 304 and a
//! new binary is picked up at once (the names carry no hash to bust caches).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    /// The route it is served at.
    path: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes.
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/app.js"),
    },
    Asset {
        path: "/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/api.js"),
    },
    Asset {
        path: "/dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/dom.js"),
    },
    Asset {
        path: "/session.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/session.js"),
    },
    Asset {
        path: "/meetups.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/meetups.js"),
    },
    Asset {
        path: "/meetups_calendar.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/meetups_calendar.js"),
    },
    Asset {
        path: "/notifications.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/notifications.js"),
    },
    Asset {
        path: "/members.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/members.js"),
    },
    Asset {
        path: "/people.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/people.js"),
    },
    Asset {
        path: "/presence.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/presence.js"),
    },
    Asset {
        path: "/messenger.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/messenger.js"),
    },
    Asset {
        path: "/attachments.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/attachments.js"),
    },
    Asset {
        path: "/search.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/search.js"),
    },
    Asset {
        path: "/settings.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/settings.js"),
    },
    Asset {
        path: "/timeline.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/timeline.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/style.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../web/favicon.svg"),
    },
    Asset {
        path: "/ops",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/ops.html"),
    },
    Asset {
        path: "/ops.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/ops.js"),
    },
    // An invite link (`/invite/{token}`) opens the client, which shows the
    // join page for the token in its address (`web/people.js`).
    Asset {
        path: "/invite/{token}",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/index.html"),
    },
    // Third-party modules, copied from their packages (`web/vendor/README.md`).
    Asset {
        path: "/vendor/qrcode.mjs",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/vendor/qrcode.mjs"),
    },
];

/// The `ETag` of each asset, computed once: a quoted prefix of its SHA-256.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..20]))
        .collect()
});

/// The routes of the embedded files.
pub fn router() -> Router {
    let mut router = Router::new();
    for (i, asset) in ASSETS.iter().enumerate() {
        router = router.route(asset.path, get(move |headers: HeaderMap| serve(i, headers)));
    }
    router
}

async fn serve(index: usize, headers: HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Everything the pages load comes from this origin; no inline script.
    // `blob:` images are attachments the page fetched itself with the
    // session token (an <img> cannot send it).
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; \
             style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_path_and_a_body() {
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
        assert!(ETAGS.iter().all(|e| e.len() == 22));
    }
}
