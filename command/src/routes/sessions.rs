//! Sessions: refresh, log out, list and end sessions, change the password
//! (the login itself is `accounts::login`, which starts a session here).
//!
//! These routes are served by the command part (role `command` or `all`):
//! sessions are a command-side table (ARCHITECTURE.md "Sessions"), so
//! `GET /v1/me/sessions` reads the table itself, always current, and takes
//! no `X-Min-Position`.

use crate::request::{CommandBody, NoBody};
use crate::runner::{self, previous_answer, Answer, Ctx};
use crate::sessions::store::{self, Rotation};
use crate::state::CommandState;
use api::ratelimit::Limits;
use api::{ApiError, ApiPath, AuthSession};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use contract::commands::{Empty, LoginResponse, PositionResponse};
use contract::sessions::{
    ChangePasswordRequest, Ended, RefreshRequest, SessionView, SessionsResponse,
};
use contract::Positioned;
use domain::user::{User, UserCommand};
use domain::values::Password;
use domain::UserId;
use eventlog::SideWrite;
use uuid::Uuid;

/// 401 `invalid_refresh_token`.
fn invalid_refresh_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "unknown, expired, already used or revoked refresh token",
    )
}

/// 401 `invalid_credentials`.
pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "unknown username or wrong password",
    )
}

/// The `User-Agent` of a request, as the session list shows it.
pub(crate) fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Start a session for `user` (registered at log position `registered_at`):
/// the login's answer.
pub(crate) async fn start(
    state: &CommandState,
    user: UserId,
    registered_at: i64,
    agent: &str,
) -> Result<LoginResponse, ApiError> {
    let now = Utc::now();
    let pool = state.repo.store().pool();
    let issued = store::create(pool, user, agent, state.sessions.refresh_ttl, now).await?;
    let (token, expires_at) =
        state
            .keys
            .issue_session(user, registered_at, issued.session_id, now)?;
    Ok(LoginResponse {
        token,
        user_id: user,
        expires_at,
        refresh_token: issued.refresh_token,
        session_id: issued.session_id,
        refresh_expires_at: issued.refresh_expires_at,
    })
}

/// Exchange a refresh token for a new pair.
#[utoipa::path(post, path = "/v1/sessions/refresh", tag = "accounts", request_body = RefreshRequest,
    responses((status = 201, body = LoginResponse, description = "a new pair; the presented refresh token stops working"),
        (status = 401, description = "invalid_refresh_token: unknown, expired, of a revoked session, or already used \
            (then the whole session is revoked: its access tokens answer 401 on every node within 1 s)"),
        (status = 429, description = "rate_limited: this address's failure budget (shared with logins and sign-ups) is spent; \
            Retry-After says when")))]
pub async fn refresh(
    State(state): State<CommandState>,
    limits: Limits,
    req: CommandBody<RefreshRequest>,
) -> Result<(StatusCode, Json<LoginResponse>), ApiError> {
    let attempt = limits.refresh()?;
    let answer = rotate(&state, &req.body.refresh_token).await;
    match &answer {
        Err(e) if e.status == StatusCode::UNAUTHORIZED => attempt.failed(),
        _ => attempt.release(),
    }
    answer
}

/// Rotate `refresh_token`: a new pair, or 401 (a reuse revokes the session).
async fn rotate(
    state: &CommandState,
    refresh_token: &str,
) -> Result<(StatusCode, Json<LoginResponse>), ApiError> {
    let now = Utc::now();
    let pool = state.repo.store().pool();
    match store::rotate(pool, refresh_token, state.sessions.refresh_ttl, now).await? {
        Rotation::Rotated { user, issued } => {
            let (_, registered_at) = store::credential_of(pool, user)
                .await?
                .ok_or_else(invalid_refresh_token)?;
            let (token, expires_at) =
                state
                    .keys
                    .issue_session(user, registered_at, issued.session_id, now)?;
            let answer = LoginResponse {
                token,
                user_id: user,
                expires_at,
                refresh_token: issued.refresh_token,
                session_id: issued.session_id,
                refresh_expires_at: issued.refresh_expires_at,
            };
            Ok((StatusCode::CREATED, Json(answer)))
        }
        Rotation::Reused { session_id } => {
            tracing::warn!(%session_id, "refresh token reused: session revoked");
            metrics::counter!("cotalk_refresh_token_reuse_total").increment(1);
            // The table already refuses the session; the deny list ends its
            // access tokens. A publishing failure is logged by the revoker
            // and the answer stays 401.
            if let Err(e) = state.sessions.revoker.revoke(&[session_id]).await {
                tracing::warn!(%session_id, code = e.code, "reused session's revocation not published");
            }
            Err(invalid_refresh_token())
        }
        Rotation::Invalid => Err(invalid_refresh_token()),
    }
}

/// Log out: end the caller's session everywhere.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = Ended, description = "the token stops working at once on every node \
        (within 1 s), its streams close with 4003, its refresh token is refused")))]
pub async fn logout(
    State(state): State<CommandState>,
    AuthSession(session): AuthSession,
    _body: CommandBody<NoBody>,
) -> Result<Json<Ended>, ApiError> {
    if let Some(sid) = session.session_id {
        // Published first: a retry after a failure publishes again, even
        // though the table already says revoked.
        state.sessions.revoker.revoke(&[sid]).await?;
        store::revoke(state.repo.store().pool(), session.user, &[sid], Utc::now()).await?;
    }
    Ok(Json(Ended {}))
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = SessionsResponse)))]
pub async fn list(
    State(state): State<CommandState>,
    AuthSession(session): AuthSession,
) -> Result<Json<SessionsResponse>, ApiError> {
    let rows = store::list(state.repo.store().pool(), session.user, Utc::now()).await?;
    let sessions = rows
        .into_iter()
        .map(|r| SessionView {
            current: Some(r.session_id) == session.session_id,
            session_id: r.session_id,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            user_agent: r.user_agent,
        })
        .collect();
    Ok(Json(SessionsResponse { sessions }))
}

/// End one of the caller's sessions ("log out this device").
#[utoipa::path(delete, path = "/v1/me/sessions/{session_id}", tag = "accounts",
    params(("session_id" = Uuid, Path, description = "a session of the caller")),
    security(("bearer" = [])),
    responses((status = 200, body = Ended, description = "its tokens stop working on every node within 1 s, \
        its streams close with 4003"),
        (status = 404, description = "session_not_found: not a live session of the caller")))]
pub async fn end(
    State(state): State<CommandState>,
    AuthSession(session): AuthSession,
    ApiPath(target): ApiPath<Uuid>,
    _body: CommandBody<NoBody>,
) -> Result<Json<Ended>, ApiError> {
    let pool = state.repo.store().pool();
    if !store::is_live(pool, session.user, target, Utc::now()).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "no such session of yours",
        ));
    }
    state.sessions.revoker.revoke(&[target]).await?;
    store::revoke(pool, session.user, &[target], Utc::now()).await?;
    Ok(Json(Ended {}))
}

/// Change the caller's password; every other session is revoked.
#[utoipa::path(post, path = "/v1/me/password", tag = "accounts", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 200, body = PositionResponse, description = "the password changed \
        (`user.password_changed` at `position`); every other session is revoked"),
        (status = 401, description = "invalid_credentials: wrong current password"),
        (status = 422, description = "weak_password: the new password is not 8-256 characters"),
        (status = 429, description = "rate_limited: too many wrong current passwords")))]
pub async fn change_password(
    State(state): State<CommandState>,
    AuthSession(session): AuthSession,
    limits: Limits,
    req: CommandBody<ChangePasswordRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let me = session.user;
    let new_password = Password::parse(&req.body.new_password)?;
    let ctx = Ctx::new(me, &req);
    let _key = runner::hold_key(&state, &ctx).await;
    if let Some(previous) = previous_answer(&state, &ctx).await? {
        return Ok(previous);
    }
    verify_password(&state, &limits, me, &req.body.current_password).await?;
    let hash = state
        .passwords
        .hash(new_password.expose().to_owned())
        .await
        .map_err(|e| ApiError::internal("hash password", e))?;
    let keep = session.session_id;
    let side = SideWrite::PasswordChanged {
        user_id: me,
        password_hash: hash,
        keep_session: keep,
    };
    let command = UserCommand::ChangePassword { at: Utc::now() };
    commit_ending_sessions(&state, &ctx, me, keep, command, side).await
}

/// Check `password` against `me`'s credentials: 401 `invalid_credentials`
/// when wrong. Failed attempts count like failed logins, against the
/// account's id (never a valid username, so never shared with a login's
/// budget); argon2 runs on the hashing threads, off the runtime.
pub(super) async fn verify_password(
    state: &CommandState,
    limits: &Limits,
    me: UserId,
    password: &str,
) -> Result<(), ApiError> {
    let attempt = limits.login(&me.0.to_string()).await?;
    let stored = store::credential_of(state.repo.store().pool(), me)
        .await?
        .map(|(hash, _)| hash);
    if state.passwords.verify(password.to_owned(), stored).await {
        attempt.succeeded();
        Ok(())
    } else {
        attempt.failed();
        Err(invalid_credentials())
    }
}

/// Commit `command` on `me`'s stream with `side` beside the stored answer,
/// ending every live session of `me` but `keep`: they are denied on every
/// node before the commit revokes them in the table (a crash in between
/// leaves them denied, and the commit still happens on the client's
/// retry), and a login that slipped in between the listing and the commit,
/// revoked by the commit, is denied after it.
pub(super) async fn commit_ending_sessions(
    state: &CommandState,
    ctx: &Ctx,
    me: UserId,
    keep: Option<uuid::Uuid>,
    command: UserCommand,
    side: SideWrite,
) -> Result<Answer<PositionResponse>, ApiError> {
    let pool = state.repo.store().pool();
    let started = Utc::now();
    let ending = store::live_ids(pool, me, keep, started).await?;
    state.sessions.revoker.revoke(&ending).await?;
    let result = state
        .repo
        .execute_with::<User, _, _>(
            me.into(),
            ctx.metadata(),
            |user| domain::Aggregate::decide(user, &command),
            |_| {
                let mut writes = vec![side.clone()];
                writes.extend(ctx.answer(StatusCode::OK, &Empty {}));
                writes
            },
        )
        .await;
    match result {
        Ok(outcome) => {
            let late = store::revoked_since(pool, me, started, &ending)
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
        Err(e) => runner::command_error(state, ctx, e).await,
    }
}
