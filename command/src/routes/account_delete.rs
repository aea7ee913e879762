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

use super::sessions::{commit_ending_sessions, verify_password};
use crate::request::CommandBody;
use crate::runner::{self, previous_answer, Answer, Ctx};
use crate::state::CommandState;
use api::ratelimit::Limits;
use api::{ApiError, AuthSession};
use axum::extract::State;
use chrono::Utc;
use contract::commands::PositionResponse;
use contract::sessions::DeleteAccountRequest;
use domain::user::UserCommand;
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
    verify_password(&state, &limits, me, &req.body.password).await?;
    let side = SideWrite::AccountDeleted { user_id: me };
    let command = UserCommand::DeleteAccount { at: Utc::now() };
    commit_ending_sessions(&state, &ctx, me, None, command, side).await
}
