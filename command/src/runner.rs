//! Runs one command end to end: answer a repeated `Idempotency-Key` from the
//! stored answer, otherwise decide against the cached aggregate, append
//! (group-committed) together with the answer to store for the key, and reply
//! with the `position` of the last event.

use crate::repository::CommandError;
use crate::request::CommandBody;
use crate::state::CommandState;
use crate::store::{AppendError, SideWrite, StoredAnswer};
use api::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::{Aggregate, DomainError, EventMetadata, StreamId, UserId};
use serde_json::Value;

/// Who is asking, under which idempotency key, with which request fingerprint.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The caller (for registration, a scope derived from the username).
    pub user: UserId,
    pub idempotency_key: Option<String>,
    pub fingerprint: Vec<u8>,
    pub command_id: uuid::Uuid,
}

impl Ctx {
    /// The context of an authenticated request.
    pub fn new<T>(user: UserId, req: &CommandBody<T>) -> Self {
        Self {
            user,
            idempotency_key: req.idempotency_key.clone(),
            fingerprint: req.fingerprint.clone(),
            command_id: uuid::Uuid::now_v7(),
        }
    }

    /// Metadata stored with the command's events.
    pub fn metadata(&self) -> EventMetadata {
        EventMetadata {
            actor: Some(self.user),
            command_id: Some(self.command_id),
            idempotency_key: self.idempotency_key.clone(),
            correlation_id: Some(self.command_id),
        }
    }

    /// The side write that stores this command's answer under its key.
    pub fn answer(&self, status: StatusCode, body: &Value) -> Vec<SideWrite> {
        self.idempotency_key
            .iter()
            .map(|key| SideWrite::Idempotency {
                user_id: self.user,
                key: key.clone(),
                request_hash: self.fingerprint.clone(),
                status: status.as_u16(),
                body: body.clone(),
            })
            .collect()
    }
}

/// Reply with a stored answer, or refuse a key reused for another request.
fn replay(ctx: &Ctx, stored: StoredAnswer) -> Result<Response, ApiError> {
    if stored.request_hash != ctx.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        ));
    }
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    Ok((status, Json(stored.body)).into_response())
}

/// Exclusive use of the caller's idempotency key (if any) while the command runs.
pub async fn hold_key(state: &CommandState, ctx: &Ctx) -> Option<crate::inflight::KeyGuard> {
    match &ctx.idempotency_key {
        Some(key) => Some(state.inflight.lock(ctx.user, key).await),
        None => None,
    }
}

/// The stored answer for the caller's key, if any.
pub async fn previous_answer(
    state: &CommandState,
    ctx: &Ctx,
) -> Result<Option<Response>, ApiError> {
    let Some(key) = &ctx.idempotency_key else {
        return Ok(None);
    };
    match state.repo.store().idempotent_answer(ctx.user, key).await {
        Ok(Some(stored)) => replay(ctx, stored).map(Some),
        Ok(None) => Ok(None),
        Err(e) if e.is_unavailable() => Err(unavailable(e)),
        Err(e) => Err(ApiError::internal("read idempotency key", e)),
    }
}

/// 503 for a dependency that is down.
pub fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "event store unavailable");
    ApiError::unavailable(
        "dependency_unavailable",
        "the event store is unavailable",
        1,
    )
}

/// Map a failed command to its answer.
pub async fn command_error(
    state: &CommandState,
    ctx: &Ctx,
    e: CommandError,
) -> Result<Response, ApiError> {
    match e {
        CommandError::Domain(d) => Err(d.into()),
        CommandError::Conflict => Err(ApiError::new(
            StatusCode::CONFLICT,
            "concurrency_conflict",
            "the resource changed concurrently too many times; retry",
        )),
        // Another request with the same key won the race: answer as it did.
        CommandError::IdempotencyKeyExists => previous_answer(state, ctx)
            .await?
            .ok_or_else(|| ApiError::internal("idempotency answer", "key exists but no answer")),
        CommandError::Unavailable(msg) => Err(unavailable(msg)),
        CommandError::Internal(msg) => Err(ApiError::internal("command", msg)),
    }
}

/// Map a failed raw append (multi-stream commits) to its answer.
pub fn append_error(e: AppendError) -> ApiError {
    match e {
        AppendError::Unavailable(msg) => unavailable(msg),
        other => ApiError::internal("append", other),
    }
}

/// Run `decide` on the aggregate in `stream`, answering `respond(events)` with
/// `position` added. `respond` must depend only on the events (it runs before
/// the commit, to store the answer with the key).
pub async fn run<A, D, R>(
    state: &CommandState,
    ctx: &Ctx,
    stream: StreamId,
    decide: D,
    respond: R,
) -> Result<Response, ApiError>
where
    A: Aggregate,
    D: Fn(&A) -> Result<Vec<A::Event>, DomainError> + Send + Sync,
    R: Fn(&[A::Event]) -> (StatusCode, Value) + Send + Sync,
{
    let _key = hold_key(state, ctx).await;
    if let Some(previous) = previous_answer(state, ctx).await? {
        return Ok(previous);
    }
    let result = state
        .repo
        .execute_with::<A, _, _>(stream, ctx.metadata(), decide, |events: &[A::Event]| {
            let (status, body) = respond(events);
            ctx.answer(status, &body)
        })
        .await;
    match result {
        Ok(outcome) => {
            let (status, body) = respond(&outcome.events);
            Ok((
                status,
                Json(with_position(body, outcome.committed.position)),
            )
                .into_response())
        }
        Err(e) => command_error(state, ctx, e).await,
    }
}

/// `body` with `"position": position` added.
pub fn with_position(mut body: Value, position: i64) -> Value {
    if let Value::Object(map) = &mut body {
        map.insert("position".into(), Value::from(position));
    }
    body
}

/// Map a failed aggregate load to its answer.
pub fn repo_error(e: CommandError) -> ApiError {
    match e {
        CommandError::Domain(d) => d.into(),
        CommandError::Unavailable(msg) => unavailable(msg),
        other => ApiError::internal("load aggregate", format!("{other:?}")),
    }
}
