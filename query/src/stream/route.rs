//! `GET /v1/stream`: authenticate, read the initial state, upgrade.
//!
//! Everything that can fail before the upgrade answers as any other route
//! does (problem+json): 401 without a valid token, 400 for a bad `after`,
//! 426 `upgrade_required` for a plain HTTP request, 503 while the node's
//! fan-out is not connected or the projection lags behind `after`.

use super::conn;
use super::hub::StreamHub;
use super::load::load;
use crate::dto::Problem;
use crate::failure::{unavailable, Fail};
use api::{ApiError, ApiQuery, Authenticate};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

/// Largest message a client may send (they have nothing to send but pongs
/// and close frames).
const MAX_CLIENT_MESSAGE: usize = 4096;
/// Bytes read from a client socket at a time. Clients send only pongs and
/// closes; tungstenite zero-fills this much of its buffer before every read,
/// and its 128 KiB default made that memset 11% of the server's CPU with
/// 1 000 connected clients (perf, `cotalk bench e2e`).
const READ_BUFFER: usize = 2 * MAX_CLIENT_MESSAGE;

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

fn header_token(headers: &HeaderMap) -> Option<&str> {
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
            message_deleted, read_marker, resync_required. Closes with 1001 at shutdown, \
            1008 when the client is too slow or silent, 1012 when frames may have been \
            lost (reconnect with `after` = last position), 1013 to retry later."),
        (status = 400, description = "invalid_request: bad `after`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 426, description = "upgrade_required: not a WebSocket request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "dependency_unavailable or projection_lagging", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn stream(
    State(hub): State<StreamHub>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Fail> {
    let token = header_token(&headers)
        .or(params.token.as_deref())
        .ok_or_else(ApiError::unauthenticated)?;
    let me = hub.state().authenticate(token).await?.user;
    if params.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid_request("after must be a position (≥ 0)").into());
    }
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "GET /v1/stream is a WebSocket",
        )
    })?;
    if !hub.ready() {
        return Err(unavailable("stream", "frame fan-out not connected").into());
    }
    let loaded = load(hub.state(), me, params.after).await?;
    let after = params.after;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| conn::run(socket, hub, me, after, loaded)))
}
