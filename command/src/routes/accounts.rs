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
use domain::pii::Field;
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
    // costs nothing. The personal fields are sealed under the new user's
    // data key, stored in the same commit (crypto-shredding, issue 18).
    let user_id = UserId(uuid::Uuid::now_v7());
    let at = Utc::now();
    let (key, wrapped_key) = state.pii.new_key(user_id);
    let user_events = User::default().decide(&UserCommand::Register {
        user_id,
        username: username.clone(),
        sealed_username: key.seal(Field::Username, username.as_str()),
        display_name: key.seal(Field::DisplayName, display_name.as_str()),
        at,
    })?;
    // The log and the credentials know the name only by its keyed hash.
    let name_key = state.pii.name_key(username.as_str());
    let name_stream = StreamId::for_name_key(&name_key);
    // Nobody is logged in yet: idempotency keys are scoped by the name.
    let scope = UserId(name_stream.0);
    let ctx = Ctx::new(scope, &req);
    let _key = runner::hold_key(&state, &ctx).await;
    if let Some(previous) = previous_answer(&state, &ctx).await? {
        return Ok(previous);
    }
    // Check before spending ~50 ms on argon2; the commit checks again for
    // real (the name stream's version, and the stream of names claimed
    // before issue 18, which nothing appends to any more).
    let legacy_stream = StreamId::for_username(username.as_str());
    let (claim, claim_version) = match claim_state(&state, name_stream, legacy_stream).await? {
        Some(found) => found,
        None => return Err(DomainError::UsernameTaken.into()),
    };
    let free_from = match claim.owner {
        Some(owner) => state
            .repo
            .load::<User>(owner.into())
            .await
            .map_err(|e| ApiError::internal("load the name's owner", e))?
            .0
            .deleted_at
            .map(|deleted| deleted + state.quarantine),
        None => None,
    };
    let claim_events = claim.decide(&ClaimUsername {
        name_key: name_key.clone(),
        user_id,
        at,
        free_from,
    })?;
    let hash = state
        .passwords
        .hash(password.expose().to_owned())
        .await
        .map_err(|e| ApiError::internal("hash password", e))?;
    let body = Registered { user_id };
    let mut side_writes = vec![
        SideWrite::Credential {
            user_id,
            username: name_key,
            password_hash: hash,
        },
        SideWrite::DataKey {
            user_id,
            wrapped: wrapped_key,
        },
    ];
    side_writes.extend(ctx.answer(StatusCode::CREATED, &body));
    let commit = Commit {
        streams: vec![
            StreamAppend {
                stream_id: name_stream,
                stream_type: StreamType::Username,
                expected_version: claim_version,
                events: claim_events.into_iter().map(UsernameEvent::into).collect(),
                epoch: None,
            },
            StreamAppend {
                stream_id: legacy_stream,
                stream_type: StreamType::Username,
                expected_version: 0,
                events: Vec::new(),
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
    match state.repo.append(commit).await {
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
    let found = if let Ok(username) = Username::parse(&req.body.username) {
        let name_key = state.pii.name_key(username.as_str());
        state
            .repo
            .store()
            .credential(&name_key, username.as_str())
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
    let display_name = req
        .body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()?;
    let status_message = req
        .body
        .status_message
        .as_deref()
        .map(StatusMessage::parse)
        .transpose()?;
    let mut commands = Vec::new();
    if display_name.is_some() || status_message.is_some() {
        // Sealed under the user's data key; none: the account is deleted.
        let key = state
            .pii
            .key(state.repo.store().pool(), me)
            .await
            .map_err(runner::unavailable)?
            .ok_or(DomainError::UserNotFound)?;
        if let Some(name) = &display_name {
            let display_name = key.seal(Field::DisplayName, name.as_str());
            commands.push(UserCommand::ChangeDisplayName { display_name, at });
        }
        if let Some(text) = &status_message {
            let status_message = key.seal(Field::StatusMessage, text.as_str());
            commands.push(UserCommand::ChangeStatusMessage { status_message, at });
        }
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

/// The claim on a username and its stream's version, or `None` when the
/// name was claimed before issue 18 (its stream is named after the name
/// itself, and such names are never released; see `cotalk pii
/// encrypt-legacy`).
async fn claim_state(
    state: &CommandState,
    name_stream: StreamId,
    legacy_stream: StreamId,
) -> Result<Option<(UsernameClaim, i64)>, ApiError> {
    let found = state
        .repo
        .store()
        .stream_versions(&[legacy_stream])
        .await
        .map_err(runner::unavailable)?;
    if found.contains_key(&legacy_stream) {
        return Ok(None);
    }
    state
        .repo
        .load::<UsernameClaim>(name_stream)
        .await
        .map(Some)
        .map_err(|e| ApiError::internal("load the name's claim", e))
}
