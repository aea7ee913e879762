//! Profiles and friend lists, all from the `redis` projection.

use crate::dto::{FriendResponse, FriendsResponse, MeResponse, Problem, UserResponse};
use crate::failure::Fail;
use crate::routes::presence;
use crate::routes::{user_id, ConsistencyHeaders};
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::optional;
use api::ratelimit::Limits;
use api::{ApiError, ApiPath, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::Json;
use domain::views::{FriendEntryView, FriendState, ProfileView};
use domain::{DomainError, UserId};
use readmodel::{friends, profiles};
use serde::Deserialize;
use utoipa::IntoParams;

/// Read one profile.
pub(crate) async fn profile(
    snap: &mut Snapshot<'_>,
    user: UserId,
) -> Result<Option<ProfileView>, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| profiles::queue_get(pipe, keys, user))
        .await?;
    Ok(profiles::take(&mut values)?)
}

/// The caller's profile.
#[utoipa::path(get, path = "/v1/me", tag = "users", params(ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller", body = MeResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 404, description = "user_not_found (not projected yet)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    min: MinPosition,
) -> Result<(Position, Json<MeResponse>), Fail> {
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    match consistent!(snap, profile(&mut snap, me)) {
        Some(p) => Ok((Position(snap.position()), Json(p.into()))),
        None => Err(Fail::at(DomainError::UserNotFound, snap.position())),
    }
}

/// A user's public profile.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = uuid::Uuid, Path, description = "the user"), ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the user", body = UserResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 404, description = "user_not_found", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiPath(raw): ApiPath<String>,
    min: MinPosition,
) -> Result<(Position, Json<UserResponse>), Fail> {
    let user = user_id(&raw)?;
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    match consistent!(snap, seen_by(&mut snap, me, user)) {
        Some(answer) => Ok((Position(snap.position()), Json(answer))),
        None => Err(Fail::at(DomainError::UserNotFound, snap.position())),
    }
}

/// `user`'s profile as `me` sees it: with presence when they are friends
/// and `user` shows it (issue 16).
async fn seen_by(
    snap: &mut Snapshot<'_>,
    me: UserId,
    user: UserId,
) -> Result<Option<UserResponse>, Interrupt> {
    let ns = snap.namespace().to_owned();
    let mut values = snap
        .exec(|keys, pipe| {
            profiles::queue_get(pipe, keys, user);
            pipe.hget(keys.friends(me), user.to_string());
            presence::queue(pipe, &ns, user);
        })
        .await?;
    let Some(profile) = profiles::take(&mut values)? else {
        return Ok(None);
    };
    let entry: Option<FriendEntryView> = values.json("friend entry")?;
    let now = presence::take(&mut values)?;
    let friend = entry.is_some_and(|e| e.state == FriendState::Friend);
    let shown = friend && profile.show_presence;
    let mut answer = UserResponse::from(profile);
    (answer.presence, answer.last_seen_at) = presence::view(now, shown);
    Ok(Some(answer))
}

/// `?username=NAME`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsernameParams {
    /// The exact username (compared in lower case).
    #[serde(default, deserialize_with = "optional")]
    #[param(required = true)]
    username: Option<String>,
}

/// Read the user owning a username, then their profile, in one generation.
async fn by_username(
    snap: &mut Snapshot<'_>,
    name: &str,
) -> Result<Option<ProfileView>, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| profiles::queue_owner(pipe, keys, name))
        .await?;
    let Some(id) = profiles::take_owner(&mut values)? else {
        return Ok(None);
    };
    profile(snap, id).await
}

/// Find a user by username.
#[utoipa::path(get, path = "/v1/users", tag = "users",
    params(UsernameParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the user", body = UserResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 400, description = "invalid_request: no username", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "user_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited: too many username lookups by this user", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn find_user(
    State(state): State<QueryState>,
    AuthUser(caller): AuthUser,
    limits: Limits,
    ApiQuery(params): ApiQuery<UsernameParams>,
    min: MinPosition,
) -> Result<(Position, Json<UserResponse>), Fail> {
    // Every lookup counts, found or not: usernames cannot be enumerated at speed.
    limits.user_lookup(caller.0)?;
    let name = params
        .username
        .ok_or_else(|| ApiError::invalid_request("username is required"))?
        .to_ascii_lowercase();
    // No valid username is longer; skip the lookup rather than build huge keys.
    if name.len() > 32 {
        return Err(ApiError::from(DomainError::UserNotFound).into());
    }
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    match consistent!(snap, by_username(&mut snap, &name)) {
        Some(p) => Ok((Position(snap.position()), Json(p.into()))),
        None => Err(Fail::at(DomainError::UserNotFound, snap.position())),
    }
}

/// Read a friend list and the profiles it names: two transactions, the
/// second checking the generation again.
async fn friend_list(snap: &mut Snapshot<'_>, me: UserId) -> Result<FriendsResponse, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| friends::queue_list(pipe, keys, me))
        .await?;
    let entries = friends::take_list(&mut values)?;
    if entries.is_empty() {
        return Ok(FriendsResponse::default());
    }
    let ids: Vec<UserId> = entries.iter().map(|(id, _)| *id).collect();
    let ns = snap.namespace().to_owned();
    let mut values = snap
        .exec(|keys, pipe| {
            profiles::queue_many(pipe, keys, &ids);
            for id in &ids {
                presence::queue(pipe, &ns, *id);
            }
        })
        .await?;
    let found = profiles::take_many(&mut values)?;
    let mut out = FriendsResponse::default();
    for ((_, entry), profile) in entries.iter().zip(found) {
        let now = presence::take(&mut values)?;
        // An entry without a profile would be a projection bug; leave it out
        // rather than fail the whole list.
        let Some(profile) = profile else { continue };
        let shown = entry.state == FriendState::Friend && profile.show_presence;
        let mut friend = FriendResponse::new(entry, profile);
        (friend.presence, friend.last_seen_at) = presence::view(now, shown);
        match entry.state {
            FriendState::Friend => out.friends.push(friend),
            FriendState::Incoming => out.incoming.push(friend),
            FriendState::Outgoing => out.outgoing.push(friend),
        }
    }
    for list in [&mut out.friends, &mut out.incoming, &mut out.outgoing] {
        list.sort_by(|a, b| b.since.cmp(&a.since).then(a.user_id.cmp(&b.user_id)));
    }
    Ok(out)
}

/// The caller's friends and pending requests.
#[utoipa::path(get, path = "/v1/me/friends", tag = "friends", params(ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "friends, incoming and outgoing requests, newest first", body = FriendsResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
    ))]
pub(crate) async fn friends(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    min: MinPosition,
) -> Result<(Position, Json<FriendsResponse>), Fail> {
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    let out = consistent!(snap, friend_list(&mut snap, me));
    Ok((Position(snap.position()), Json(out)))
}
