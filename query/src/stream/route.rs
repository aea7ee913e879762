//! `GET /v1/stream`: check the origin and the token, read the initial
//! state, upgrade.
//!
//! Everything that can fail before the upgrade answers as any other route
//! does (problem+json): 403 for a page of a foreign origin, 401 without a
//! valid token, 400 for a bad `after`, 426 `upgrade_required` for a plain
//! HTTP request, 503 while the node's fan-out is not connected or the
//! projection lags behind `after`. A connection over the user's cap is
//! upgraded and closed at once with 4029 (a browser never sees the status
//! of a refused handshake, but it sees a close code).

use super::conn;
use super::hub::StreamHub;
use super::load::load;
use super::origin;
use super::upgrade::Handshake;
use crate::dto::Problem;
use crate::failure::{unavailable, Fail};
use api::{ApiError, ApiQuery, Authenticate};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use utoipa::IntoParams;

/// Largest message a client may send (they have nothing to send but pongs
/// and close frames).
const MAX_CLIENT_MESSAGE: usize = 4096;
/// Bytes read from a client socket at a time, and the read buffer every
/// connection holds for its whole life. Clients send only pongs and closes
/// (at most 131 bytes each): one read takes any of them whole. A bigger
/// message grows the buffer as it arrives (up to [`MAX_CLIENT_MESSAGE`]).
/// tungstenite's 128 KiB default made its zero-filling of the buffer before
/// every read 11% of the server's CPU with 1 000 clients (perf, `cotalk
/// bench e2e`), and 8 KiB was still most of an idle connection's memory
/// (issue 20, `cotalk bench connections`).
const READ_BUFFER: usize = 256;
/// Bytes of frames gathered before they are written to the socket. The
/// buffer keeps the capacity its largest batch needed for the
/// connection's life, so it is kept small: a burst of frames (a resume, a
/// busy room) is written in a few syscalls rather than leaving each
/// connection tungstenite's 128 KiB default.
const WRITE_BUFFER: usize = 8 * 1024;

/// Query parameters of `GET /v1/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamParams {
    /// The session token, for clients that cannot set `Authorization`
    /// (browsers).
    token: Option<String>,
    /// Replay the frames after this position (the last one received) before
    /// the live ones.
    #[param(minimum = 0)]
    after: Option<i64>,
}

pub(super) fn header_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Live frames of the caller's rooms over a WebSocket.
#[utoipa::path(get, path = "/v1/stream", tag = "stream",
    params(StreamParams),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "WebSocket: one JSON frame per text message, \
            `{type, room_id, position, …}` with `type` one of room_created, room_renamed, \
            member_joined, member_left, member_kicked, message_posted, message_edited, \
            message_deleted, read_marker, resync_required; and, without position and never \
            replayed, typing `{type, room_id, user_id}` and presence `{type, user_id, online}` \
            (issue 16). With `after`, the missed frames \
            come first, as a view of the caller's rooms now: rooms they are a member of now, \
            whole; of rooms they left or were kicked from only that departure; each message as \
            it reads now (deleted: empty body; edited: current text). Closes with 1001 at \
            shutdown; 1002, 1007 or 1009 (message too big: over 4 KiB) when the client breaks \
            the protocol; 1008 when the client is too slow or silent; 1012 when frames may \
            have been lost (reconnect with `after` = last position); 1013 to retry later; \
            4001 when the token expires (reconnect with a fresh token and `after`); 4003 when the \
            session is revoked (logout, password change, reused refresh token: log in again); 4029 when \
            the user already holds the most streams allowed on the node \
            (`--max-streams-per-user`, default 20)."),
        (status = 400, description = "invalid_request: bad `after`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "origin_not_allowed: the `Origin` header names neither the \
            server's own origin (the request's `Host`) nor one of `--stream-allowed-origins`; \
            requests without `Origin` are not refused", body = Problem, content_type = "application/problem+json"),
        (status = 426, description = "upgrade_required: not a WebSocket request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "dependency_unavailable or projection_lagging", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn stream(
    State(hub): State<StreamHub>,
    uri: Uri,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
    handshake: Handshake,
) -> Result<Response, Fail> {
    if !origin::allowed(
        &headers,
        uri.authority().map(|a| a.as_str()),
        &hub.opts().allowed_origins,
    ) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not open the stream",
        )
        .into());
    }
    let token = header_token(&headers)
        .or(params.token.as_deref())
        .ok_or_else(ApiError::unauthenticated)?;
    let session = hub.state().authenticate(token).await?;
    let me = session.user;
    if params.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid_request("after must be a position (≥ 0)").into());
    }
    let upgrade = handshake.valid().ok_or_else(|| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "GET /v1/stream is a WebSocket",
        )
    })?;
    if !hub.ready() {
        return Err(unavailable("stream", "frame fan-out not connected").into());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER);
    // Over the cap already: no need to read anything (the hub checks again
    // when the connection joins, under its lock).
    if hub.connections_of(me) >= hub.opts().max_per_user {
        return Ok(upgrade.accept(config, |socket| conn::refuse(socket, conn::TOO_MANY)));
    }
    let expires = expiry(session.expires_at);
    let loaded = load(hub.state(), me, params.after).await?;
    let after = params.after;
    let sid = session.session_id;
    Ok(upgrade.accept(config, move |socket| {
        conn::run(socket, hub, me, after, loaded, expires, sid)
    }))
}

/// The instant a token whose `exp` is `exp` (seconds since the epoch) expires.
fn expiry(exp: i64) -> Instant {
    let left_ms = exp
        .saturating_mul(1000)
        .saturating_sub(chrono::Utc::now().timestamp_millis());
    Instant::now() + Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))
}
