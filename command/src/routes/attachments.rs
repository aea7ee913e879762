//! `POST /v1/rooms/{room_id}/attachments`: a file streamed into the object
//! store (see the `attachments` crate), then recorded on the room's stream as
//! `AttachmentUploaded` (metadata only).
//!
//! The route has its own state and router ([`upload_router`]): its body
//! limit is the attachment limit, not the API's, so it is mounted beside the
//! other command routes with its own `BodyLimits`.
//!
//! Uploads take no `Idempotency-Key`: a retried upload stores a second copy
//! under a new id, and the copy nobody sends is swept as an orphan.

use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::authenticate::KnownUsers;
use api::revoked::RevokedSessions;
use api::{ApiError, ApiPath, AuthUser, Authenticate, Session, TokenKeys};
use attachments::{Store, UploadError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use chrono::Utc;
use contract::attachments::{AttachmentStored, AttachmentStoredResponse};
use domain::attachment::Attachment;
use domain::room::{Room, RoomCommand};
use domain::Aggregate;
use domain::{AttachmentId, DomainError, RoomId};
use percent_encoding::percent_decode_str;

/// The header naming the file (percent-encoded UTF-8).
pub const FILE_NAME: &str = "x-file-name";
/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

/// What the upload route needs beside the command state.
#[derive(Clone)]
pub struct UploadState {
    /// The command side (repository, token keys).
    pub commands: CommandState,
    /// Where the bytes go.
    pub store: Store,
    /// `COTALK_MAX_ATTACHMENT_BYTES`.
    pub max_bytes: u64,
}

impl Authenticate for UploadState {
    fn token_keys(&self) -> &TokenKeys {
        self.commands.token_keys()
    }

    fn revoked(&self) -> &RevokedSessions {
        self.commands.revoked()
    }

    fn known_users(&self) -> &KnownUsers {
        self.commands.known_users()
    }

    async fn user_exists(&self, session: &Session) -> Result<bool, ApiError> {
        self.commands.user_exists(session).await
    }
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("attachments are limited to {max} bytes"),
    )
}

/// The decoded `X-File-Name`: its last path segment, without control characters.
fn file_name(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get(FILE_NAME) else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_file_name",
            format!("X-File-Name {why}"),
        )
    };
    let raw = raw
        .to_str()
        .map_err(|_| invalid("must be percent-encoded ASCII"))?;
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid("must decode to UTF-8"))?;
    let name = decoded
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(invalid(
            "must be a non-empty name without control characters",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("must be at most 255 characters"));
    }
    Ok(Some(name.to_owned()))
}

fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::TooLarge(max) => too_large(max),
        UploadError::Empty => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_attachment",
            "the file is empty",
        ),
        UploadError::Unsupported(mime) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("files of this type are not accepted ({mime})"),
        ),
        UploadError::BadImage(why) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_image",
            format!("the image cannot be decoded: {why}"),
        ),
        UploadError::Body(why) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the request body broke off: {why}"),
        ),
        UploadError::Store(e) => {
            tracing::warn!(error = %e, "object store unavailable");
            ApiError::unavailable(
                "dependency_unavailable",
                "the object store is unavailable",
                1,
            )
        }
    }
}

/// 404 `room_not_found` unless `me` is a member of `room` now.
async fn ensure_member(
    state: &CommandState,
    room: RoomId,
    me: domain::UserId,
) -> Result<(), ApiError> {
    let (r, _) = state
        .repo
        .load::<Room>(room.into())
        .await
        .map_err(runner::repo_error)?;
    if r.exists && r.is_member(me) {
        Ok(())
    } else {
        Err(DomainError::RoomNotFound.into())
    }
}

/// Upload a file to a room; send it with a message within 24 h or it is deleted.
#[utoipa::path(post, path = "/v1/rooms/{room_id}/attachments", tag = "messages",
    security(("bearer" = [])), params(("room_id" = uuid::Uuid, Path),
        ("X-File-Name" = Option<String>, Header, description = "the file's name, percent-encoded UTF-8")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "the file's bytes; the type is sniffed from them"),
    responses((status = 201, body = AttachmentStoredResponse), (status = 404, description = "room_not_found"),
        (status = 413, description = "payload_too_large: over COTALK_MAX_ATTACHMENT_BYTES"),
        (status = 415, description = "unsupported_media_type: HTML, SVG, scripts, executables, unknown types"),
        (status = 422, description = "empty_attachment, invalid_image, invalid_file_name")))]
pub async fn upload(
    State(state): State<UploadState>,
    AuthUser(me): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Answer<AttachmentStoredResponse>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_bytes) {
        return Err(too_large(state.max_bytes));
    }
    let name = file_name(&headers)?;
    ensure_member(&state.commands, room, me).await?;
    let attachment_id = AttachmentId(uuid::Uuid::now_v7());
    let key = attachment_id.to_string();
    let received =
        attachments::receive(&state.store, &key, body.into_data_stream(), state.max_bytes)
            .await
            .map_err(upload_error)?;
    let attachment = Attachment {
        attachment_id,
        content_type: received.content_type,
        size: received.size,
        sha256: received.sha256,
        name,
        width: received.width,
        height: received.height,
    };
    let stored = AttachmentStored {
        attachment_id,
        content_type: attachment.content_type.clone(),
        size: attachment.size,
        sha256: attachment.sha256.clone(),
        name: attachment.name.clone(),
        width: attachment.width,
        height: attachment.height,
    };
    let ctx = Ctx {
        user: me,
        idempotency_key: None,
        fingerprint: Vec::new(),
        command_id: uuid::Uuid::now_v7(),
    };
    let command = RoomCommand::Upload {
        actor: me,
        attachment,
        at: Utc::now(),
    };
    let answer = runner::run::<Room, _, _, _>(
        &state.commands,
        &ctx,
        room.into(),
        |r| r.decide(&command),
        |_| (StatusCode::CREATED, stored.clone()),
    )
    .await;
    if answer.is_err() {
        // Not recorded (the member left meanwhile, the log is down): the
        // bytes would be an orphan no sweep could find.
        if let Err(e) = state.store.delete(&key).await {
            tracing::warn!(attachment_id = %attachment_id, error = %e, "delete of an unrecorded upload failed");
        }
    }
    answer
}
