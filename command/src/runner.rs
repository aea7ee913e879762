//! Runs one command end to end: answer a repeated `Idempotency-Key` from the
//! stored answer, otherwise decide against the cached aggregate, append
//! (group-committed) together with the answer to store for the key, and reply
//! with the typed answer and the `position` of the last event
//! ([`Positioned`]).

use crate::repository::CommandError;
use crate::request::CommandBody;
use crate::state::CommandState;
use api::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use contract::{Positioned, PositionedBody};
use domain::{Aggregate, DomainError, EventMetadata, StreamId, UserId};
use eventlog::{AppendError, SideWrite, StoredAnswer};
use serde::Serialize;

/// A command's answer: decided by this request, or the answer the first
/// request with the same `Idempotency-Key` got, as stored (the serialized
/// `T`, see [`contract::positioned`]).
#[derive(Debug)]
pub enum Answer<T> {
    /// Decided now.
    Fresh(StatusCode, T),
    /// Replayed from the store, byte for byte.
    Replayed(StoredAnswer),
}

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        match self {
            Self::Fresh(status, body) => (status, Json(body)).into_response(),
            Self::Replayed(stored) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                (status, Json(stored.body)).into_response()
            }
        }
    }
}

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

    /// The side write that stores this command's answer under its key: the
    /// serialized `body`, to which the store adds the commit's `position`,
    /// making it the serialization of [`Positioned`] `{ body, position }`.
    pub fn answer<T: PositionedBody + Serialize>(
        &self,
        status: StatusCode,
        body: &T,
    ) -> Vec<SideWrite> {
        let Some(key) = &self.idempotency_key else {
            return Vec::new();
        };
        let body = serde_json::to_value(body).unwrap_or_default();
        // The store can add `position` only to an object that lacks one.
        debug_assert!(
            body.as_object()
                .is_some_and(|o| !o.contains_key(contract::positioned::POSITION)),
            "a positioned answer body must be an object without a position: {body}"
        );
        vec![SideWrite::Idempotency {
            user_id: self.user,
            key: key.clone(),
            request_hash: self.fingerprint.clone(),
            status: status.as_u16(),
            body,
        }]
    }
}

/// A stored answer to replay, or a refusal of a key reused for another request.
fn replay(ctx: &Ctx, stored: StoredAnswer) -> Result<StoredAnswer, ApiError> {
    if stored.request_hash != ctx.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        ));
    }
    Ok(stored)
}

/// Exclusive use of the caller's idempotency key (if any) while the command runs.
pub async fn hold_key(state: &CommandState, ctx: &Ctx) -> Option<crate::inflight::KeyGuard> {
    match &ctx.idempotency_key {
        Some(key) => Some(state.inflight.lock(ctx.user, key).await),
        None => None,
    }
}

/// The stored answer for the caller's key, if any.
pub async fn previous_answer<T>(
    state: &CommandState,
    ctx: &Ctx,
) -> Result<Option<Answer<T>>, ApiError> {
    let Some(key) = &ctx.idempotency_key else {
        return Ok(None);
    };
    match state.repo.store().idempotent_answer(ctx.user, key).await {
        Ok(Some(stored)) => replay(ctx, stored).map(|s| Some(Answer::Replayed(s))),
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
pub async fn command_error<T>(
    state: &CommandState,
    ctx: &Ctx,
    e: CommandError,
) -> Result<Answer<T>, ApiError> {
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

/// Run `decide` on the aggregate in `stream`, answering `respond(events)`
/// with the commit's `position`. `respond` must depend only on the events (it
/// runs before the commit, to store the answer with the key).
pub async fn run<A, D, R, T>(
    state: &CommandState,
    ctx: &Ctx,
    stream: StreamId,
    decide: D,
    respond: R,
) -> Result<Answer<Positioned<T>>, ApiError>
where
    A: Aggregate,
    D: Fn(&A) -> Result<Vec<A::Event>, DomainError> + Send + Sync,
    R: Fn(&[A::Event]) -> (StatusCode, T) + Send + Sync,
    T: PositionedBody + Serialize,
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
            Ok(Answer::Fresh(
                status,
                Positioned::new(body, outcome.committed.position),
            ))
        }
        Err(e) => command_error(state, ctx, e).await,
    }
}

/// Map a failed aggregate load to its answer.
pub fn repo_error(e: CommandError) -> ApiError {
    match e {
        CommandError::Domain(d) => d.into(),
        CommandError::Unavailable(msg) => unavailable(msg),
        other => ApiError::internal("load aggregate", format!("{other:?}")),
    }
}
