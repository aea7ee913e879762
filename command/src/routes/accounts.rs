//! Accounts: sign up, log in, change display name.

use crate::request::CommandBody;
use crate::runner::{self, append_error, previous_answer, Answer, Ctx};
use crate::state::CommandState;
use api::ratelimit::Limits;
use api::{ApiError, AuthUser};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use contract::commands::{
    Empty, LoginRequest, LoginResponse, PositionResponse, RegisterRequest, RegisterResponse,
    Registered, UpdateMeRequest,
};
use contract::Positioned;
use domain::event::{UserEvent, UsernameEvent};
use domain::user::{User, UserCommand};
use domain::username::{ClaimUsername, UsernameClaim};
use domain::values::{DisplayName, Password, StatusMessage, Username};
use domain::{Aggregate, DomainError, StreamId, StreamType, UserId};
use eventlog::{Commit, SideWrite, StreamAppend};

/// Sign up.
#[utoipa::path(post, path = "/v1/users", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse), (status = 409, description = "username_taken"),
        (status = 422, description = "invalid_username (not 3-32 of a-z0-9_. or a reserved name), \
            invalid_display_name (no visible character), weak_password"),
        (status = 429, description = "rate_limited: too many sign-ups and failed logins from this address")))]
pub async fn register(
    State(state): State<CommandState>,
    limits: Limits,
    req: CommandBody<RegisterRequest>,
) -> Result<Answer<RegisterResponse>, ApiError> {
    // Before any hashing: a refused attempt costs no argon2 time.
    limits.sign_up()?;
    let username = Username::parse(&req.body.username)?;
    let display_name = DisplayName::parse(&req.body.display_name)?;
    let password = Password::parse(&req.body.password)?;
    // Decided before any lookup or hashing: a refused name (reserved, say)
    // costs nothing.
    let user_id = UserId(uuid::Uuid::now_v7());
    let at = Utc::now();
    let user_events = User::default().decide(&UserCommand::Register {
        user_id,
        username: username.clone(),
        display_name,
        at,
    })?;
    let claim_events = UsernameClaim::default().decide(&ClaimUsername {
        username: username.clone(),
        user_id,
        at,
    })?;
    // Nobody is logged in yet: idempotency keys are scoped by the username.
    let scope = UserId(StreamId::for_username(username.as_str()).0);
    let ctx = Ctx::new(scope, &req);
    let _key = runner::hold_key(&state, &ctx).await;
    if let Some(previous) = previous_answer(&state, &ctx).await? {
        return Ok(previous);
    }
    let name_stream = StreamId::for_username(username.as_str());
    // Check before spending ~50 ms on argon2; the commit checks again for real.
    match state.repo.store().stream_versions(&[name_stream]).await {
        Ok(found) if found.contains_key(&name_stream) => {
            return Err(DomainError::UsernameTaken.into())
        }
        Ok(_) => {}
        Err(e) => return Err(runner::unavailable(e)),
    }
    let hash = state
        .passwords
        .hash(password.expose().to_owned())
        .await
        .map_err(|e| ApiError::internal("hash password", e))?;
    let body = Registered { user_id };
    let mut side_writes = vec![SideWrite::Credential {
        user_id,
        username: username.to_string(),
        password_hash: hash,
    }];
    side_writes.extend(ctx.answer(StatusCode::CREATED, &body));
    let commit = Commit {
        streams: vec![
            StreamAppend {
                stream_id: name_stream,
                stream_type: StreamType::Username,
                expected_version: 0,
                events: claim_events.into_iter().map(UsernameEvent::into).collect(),
                epoch: None,
            },
            StreamAppend {
                stream_id: user_id.into(),
                stream_type: StreamType::User,
                expected_version: 0,
                events: user_events.into_iter().map(UserEvent::into).collect(),
                epoch: None,
            },
        ],
        metadata: domain::EventMetadata {
            actor: Some(user_id),
            ..ctx.metadata()
        },
        side_writes,
    };
    match state.repo.store().append(commit).await {
        Ok(committed) => {
            state.known_users.insert(user_id);
            Ok(Answer::Fresh(
                StatusCode::CREATED,
                Positioned::new(body, committed.position),
            ))
        }
        Err(eventlog::AppendError::Conflict { .. }) => Err(DomainError::UsernameTaken.into()),
        Err(eventlog::AppendError::IdempotencyKeyExists) => previous_answer(&state, &ctx)
            .await?
            .ok_or_else(|| ApiError::internal("idempotency answer", "key exists but no answer")),
        Err(e) => Err(append_error(e)),
    }
}

/// Log in. Unknown user and wrong password get the same answer and cost the
/// same (the unknown user is checked against a dummy hash).
#[utoipa::path(post, path = "/v1/sessions", tag = "accounts", request_body = LoginRequest,
    responses((status = 201, body = LoginResponse, description = "a session: an access token (15 min) \
            and its refresh token (30 days)"), (status = 401, description = "invalid_credentials"),
        (status = 429, description = "rate_limited: too many failed logins from this address, \
            or from this address against this account")))]
pub async fn login(
    State(state): State<CommandState>,
    limits: Limits,
    headers: HeaderMap,
    req: CommandBody<LoginRequest>,
) -> Result<(StatusCode, Json<LoginResponse>), ApiError> {
    // Known and unknown usernames are limited alike (no enumeration), and
    // before the store or argon2 is touched; a refusal costs nothing.
    let attempt = limits.login(&req.body.username).await?;
    let found = if Username::parse(&req.body.username).is_ok() {
        state
            .repo
            .store()
            .credential(&req.body.username)
            .await
            .map_err(runner::unavailable)?
    } else {
        None
    };
    let (found, hash) = match found {
        Some(c) => (Some((c.user_id, c.registered_at)), Some(c.password_hash)),
        None => (None, None),
    };
    let ok = state
        .passwords
        .verify(req.body.password.clone(), hash)
        .await;
    match (ok, found) {
        (true, Some((user, registered_at))) => {
            attempt.succeeded();
            // The credential was committed with the user's stream: the user
            // exists, and their first request here needs no lookup.
            state.known_users.insert(user);
            let agent = super::sessions::user_agent(&headers);
            let answer = super::sessions::start(&state, user, registered_at, agent).await?;
            Ok((StatusCode::CREATED, Json(answer)))
        }
        _ => {
            attempt.failed();
            Err(super::sessions::invalid_credentials())
        }
    }
}

/// Change the caller's display name, status message and presence
/// visibility (each optional; all in one commit).
#[utoipa::path(patch, path = "/v1/me", tag = "accounts", request_body = UpdateMeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = PositionResponse),
        (status = 422, description = "invalid_display_name, invalid_status_message")))]
pub async fn update_me(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<UpdateMeRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let at = Utc::now();
    let mut commands = Vec::new();
    if let Some(name) = &req.body.display_name {
        let display_name = DisplayName::parse(name)?;
        commands.push(UserCommand::ChangeDisplayName { display_name, at });
    }
    if let Some(text) = &req.body.status_message {
        let status_message = StatusMessage::parse(text)?;
        commands.push(UserCommand::ChangeStatusMessage { status_message, at });
    }
    if let Some(show_presence) = req.body.show_presence {
        commands.push(UserCommand::SetPresenceVisibility { show_presence, at });
    }
    let ctx = Ctx::new(me, &req);
    runner::run::<User, _, _, _>(
        &state,
        &ctx,
        me.into(),
        |user| decide_all(user, &commands),
        |_| (StatusCode::OK, Empty {}),
    )
    .await
}

/// Decide `commands` one after the other, each seeing the events of those
/// before it: one commit for the whole request.
fn decide_all(user: &User, commands: &[UserCommand]) -> Result<Vec<UserEvent>, DomainError> {
    let mut state = user.clone();
    let mut events = Vec::new();
    for c in commands {
        let decided = state.decide(c)?;
        state = state.evolve_all(&decided);
        events.extend(decided);
    }
    Ok(events)
}
