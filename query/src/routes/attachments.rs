//! `GET /v1/attachments/{attachment_id}[?thumbnail=1]`: the stored bytes,
//! streamed from the object store, to current members of the attachment's
//! room only (the `redis` projection's `attachment:{id}` names the room; the
//! membership is read at the same checkpoint).
//!
//! - `ETag` is the sha256 of the stored file (`"{sha256}.thumb"` for the
//!   thumbnail), `If-None-Match` answers 304;
//! - images are served as their type; every other file with
//!   `Content-Disposition: attachment`, and everything with
//!   `X-Content-Type-Options: nosniff`, so a browser never renders an
//!   uploaded file as a page;
//! - a single `Range: bytes=` range answers 206 (416 when unsatisfiable);
//!   other forms of `Range` are ignored (200 with the whole file), as HTTP
//!   allows. Thumbnails are always whole.

use crate::failure::{unavailable, Fail};
use crate::routes::ConsistencyHeaders;
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::optional;
use api::authenticate::KnownUsers;
use api::revoked::RevokedSessions;
use api::{
    ApiError, ApiPath, ApiQuery, AuthUser, Authenticate, MinPosition, Position, Session, TokenKeys,
};
use attachments::{Store, StoreError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{AttachmentId, UserId};
use futures::TryStreamExt;
use readmodel::attachments::{self as model, AttachmentEntry};
use readmodel::rooms;
use serde::Deserialize;
use std::ops::Range;
use utoipa::IntoParams;

/// What the download route needs beside the query state.
#[derive(Clone)]
pub struct DownloadState {
    /// The projections and token keys.
    pub query: QueryState,
    /// Where the bytes are.
    pub store: Store,
}

impl Authenticate for DownloadState {
    fn token_keys(&self) -> &TokenKeys {
        Authenticate::token_keys(&self.query)
    }

    fn revoked(&self) -> &RevokedSessions {
        Authenticate::revoked(&self.query)
    }

    fn known_users(&self) -> &KnownUsers {
        Authenticate::known_users(&self.query)
    }

    async fn user_exists(&self, session: &Session) -> Result<bool, ApiError> {
        Authenticate::user_exists(&self.query, session).await
    }
}

/// `?thumbnail=1`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DownloadParams {
    /// `1` (or `true`): the image's thumbnail (longest side 320 px; JPEG for
    /// JPEG photos, PNG otherwise). 404 for files that are not images.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>)]
    thumbnail: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "attachment_not_found",
        "no such attachment, or you are not a member of its room",
    )
}

/// The attachment's entry if `me` is a member of its room now.
async fn visible(
    snap: &mut Snapshot<'_>,
    id: AttachmentId,
    me: UserId,
) -> Result<Option<AttachmentEntry>, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| model::queue_get(pipe, keys, id))
        .await?;
    let Some(entry) = model::take(&mut values)? else {
        return Ok(None);
    };
    let mut values = snap
        .exec(|keys, pipe| rooms::queue_is_member(pipe, keys, entry.room_id, me))
        .await?;
    Ok(rooms::take_is_member(&mut values)?.then_some(entry))
}

/// A single `bytes=` range of a file of `size` bytes: `None` to send it
/// whole, `Err` when it lies outside the file.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().map_err(|_| ());
    let r = match (first.is_empty(), last.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => {
            let n = parse(last)?;
            if n == 0 {
                return Err(());
            }
            size.saturating_sub(n)..size
        }
        (false, true) => parse(first)?..size,
        (false, false) => {
            let (a, b) = (parse(first)?, parse(last)?);
            if b < a {
                return Ok(None);
            }
            a..(b + 1).min(size)
        }
    };
    if r.start >= size {
        return Err(());
    }
    Ok(Some(r))
}

fn header_value(v: &str) -> HeaderValue {
    HeaderValue::from_str(v)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `attachment; filename*=UTF-8''…` (RFC 6266), the name percent-encoded.
fn disposition(name: Option<&str>) -> HeaderValue {
    let Some(name) = name else {
        return HeaderValue::from_static("attachment");
    };
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    header_value(&format!("attachment; filename*=UTF-8''{encoded}"))
}

/// Download an attachment (or its thumbnail).
#[utoipa::path(get, path = "/v1/attachments/{attachment_id}", tag = "messages",
    params(("attachment_id" = uuid::Uuid, Path), DownloadParams, ConsistencyHeaders,
        ("Range" = Option<String>, Header, description = "one `bytes=` range"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag held")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the bytes; images as their type, other files with `Content-Disposition: attachment`; always `X-Content-Type-Options: nosniff`",
         content_type = "application/octet-stream", body = Vec<u8>,
         headers(("ETag" = String, description = "\"sha256\" of the stored bytes"), ("X-Position" = i64))),
        (status = 206, description = "the requested range (`Content-Range`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "If-None-Match matched the ETag"),
        (status = 404, description = "attachment_not_found: unknown, discarded, or the caller is not a member of its room now", body = crate::dto::Problem, content_type = "application/problem+json"),
        (status = 416, description = "range_not_satisfiable (`Content-Range: bytes */size`)", body = crate::dto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn download(
    State(state): State<DownloadState>,
    AuthUser(me): AuthUser,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(params): ApiQuery<DownloadParams>,
    min: MinPosition,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let thumbnail = match params.thumbnail.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => return Err(ApiError::invalid_request("thumbnail must be 1 or 0").into()),
    };
    let id: AttachmentId = raw.parse().map_err(|_| Fail::from(not_found()))?;
    let mut snap = Snapshot::begin(&state.query, Bound::of(min));
    let entry = consistent!(snap, visible(&mut snap, id, me));
    let position = snap.position();
    let fail = |e: ApiError| Fail::at(e, position);
    let Some(entry) = entry else {
        return Err(fail(not_found()));
    };
    let a = &entry.attachment;
    if thumbnail && !a.is_image() {
        return Err(fail(not_found()));
    }
    let etag = if thumbnail {
        format!("\"{}.thumb\"", a.sha256)
    } else {
        format!("\"{}\"", a.sha256)
    };
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, header_value(&etag));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    let content_type = if thumbnail {
        attachments::thumbnail_type(&a.content_type)
    } else {
        a.content_type.as_str()
    };
    out.insert(header::CONTENT_TYPE, header_value(content_type));
    if !a.is_image() {
        out.insert(header::CONTENT_DISPOSITION, disposition(a.name.as_deref()));
    }
    if !thumbnail {
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matched {
        return Ok((StatusCode::NOT_MODIFIED, Position(position), out).into_response());
    }
    let wanted = if thumbnail {
        None
    } else {
        match range(&headers, a.size) {
            Ok(r) => r,
            Err(()) => {
                let mut res = (
                    Position(position),
                    ApiError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "range_not_satisfiable",
                        format!("the file has {} bytes", a.size),
                    ),
                )
                    .into_response();
                res.headers_mut().insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{}", a.size)),
                );
                return Ok(res);
            }
        }
    };
    let got = match state
        .store
        .get(&id.to_string(), thumbnail, wanted.clone())
        .await
    {
        Ok(got) => got,
        // Discarded (or never stored) between the read model and now.
        Err(StoreError::NotFound) => return Err(fail(not_found())),
        Err(e) => return Err(fail(unavailable("object store", e))),
    };
    let len = got.range.end - got.range.start;
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let status = if wanted.is_some() {
        let r = &got.range;
        let value = format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), got.size);
        out.insert(header::CONTENT_RANGE, header_value(&value));
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = Body::from_stream(got.body.map_err(std::io::Error::other));
    Ok((status, Position(position), out, body).into_response())
}
