//! `DELETE /v1/me`: delete the caller's account (issue 18, crypto-shredding).
//!
//! One commit: `user.account_deleted` on the user's stream, and beside it the
//! deletion of the user's data key and credentials and the revocation of
//! every session (`SideWrite::AccountDeleted`). From then on none of the
//! user's sealed personal fields opens anywhere; the projections drop what
//! they showed and mark the user's messages `deleted_user`. The sessions
//! are denied on every node before the commit, like a password change's
//! (ARCHITECTURE.md "Sessions"), and once more after it for a login that
//! slipped in between.

use crate::request::CommandBody;
use crate::runner::{self, previous_answer, Answer, Ctx};
use crate::sessions::store;
use crate::state::CommandState;
use api::ratelimit::Limits;
use api::{ApiError, AuthSession};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::{Empty, PositionResponse};
use contract::sessions::DeleteAccountRequest;
use contract::Positioned;
use domain::user::{User, UserCommand};
use eventlog::SideWrite;

/// Delete the caller's account.
#[utoipa::path(delete, path = "/v1/me", tag = "accounts", request_body = DeleteAccountRequest,
    security(("bearer" = [])),
    responses((status = 200, body = PositionResponse, description = "the account is deleted: every \
            session ends, the personal data becomes unreadable everywhere, the messages stay \
            with `deleted_user: true`"),
        (status = 401, description = "invalid_credentials: wrong password"),
        (status = 429, description = "rate_limited: too many wrong passwords")))]
pub async fn delete_me(
    State(state): State<CommandState>,
    AuthSession(session): AuthSession,
    limits: Limits,
    req: CommandBody<DeleteAccountRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let me = session.user;
    let ctx = Ctx::new(me, &req);
    let _key = runner::hold_key(&state, &ctx).await;
    if let Some(previous) = previous_answer(&state, &ctx).await? {
        return Ok(previous);
    }
    let pool = state.repo.store().pool();
    // Wrong passwords count like failed logins, against the account's id.
    let attempt = limits.login(&me.0.to_string()).await?;
    let stored = store::credential_of(pool, me).await?.map(|(hash, _)| hash);
    // argon2 runs on the hashing threads, off the runtime.
    let ok = state
        .passwords
        .verify(req.body.password.clone(), stored)
        .await;
    if !ok {
        attempt.failed();
        return Err(super::sessions::invalid_credentials());
    }
    attempt.succeeded();
    let started = Utc::now();
    let live = store::live_ids(pool, me, None, started).await?;
    state.sessions.revoker.revoke(&live).await?;
    let command = UserCommand::DeleteAccount { at: Utc::now() };
    let result = state
        .repo
        .execute_with::<User, _, _>(
            me.into(),
            ctx.metadata(),
            |user| domain::Aggregate::decide(user, &command),
            |_| {
                let mut writes = vec![SideWrite::AccountDeleted { user_id: me }];
                writes.extend(ctx.answer(StatusCode::OK, &Empty {}));
                writes
            },
        )
        .await;
    match result {
        Ok(outcome) => {
            let late = store::revoked_since(pool, me, started, &live)
                .await
                .unwrap_or_default();
            if let Err(e) = state.sessions.revoker.revoke(&late).await {
                tracing::warn!(code = e.code, "late sessions' revocation not published");
            }
            Ok(Answer::Fresh(
                StatusCode::OK,
                Positioned::new(Empty {}, outcome.committed.position),
            ))
        }
        Err(e) => runner::command_error(&state, &ctx, e).await,
    }
}
