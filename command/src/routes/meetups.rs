//! Meet-ups: plan, change, cancel, invite, answer.
//!
//! Planning, inviting and changing write two streams (the meet-up's and
//! its room's, which a new title renames): the domain decides both
//! ([`Meetup::plan`], [`Meetup::invite`], [`Meetup::change`]) and
//! [`commit_pair`] appends them in one commit with each stream's expected
//! version, so neither stream ever holds half a decision. The other
//! commands touch the meet-up's stream alone and go through
//! [`runner::run`].

use super::ensure_users_exist;
use crate::repository::CommandError;
use crate::request::{CommandBody, NoBody};
use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, ApiPath, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::{Empty, PositionResponse};
use contract::meetups::{
    AddAttendeeRequest, ChangeMeetupRequest, CreateMeetupRequest, MeetupCreated,
    MeetupCreatedResponse, RsvpRequest,
};
use contract::{Positioned, PositionedBody};
use domain::event::{MeetupEvent, RoomEvent, RsvpAnswer};
use domain::meetup::values::{
    MeetupDescription, MeetupPlace, MeetupTitle, RemindBefore, MAX_INVITEES,
};
use domain::meetup::{InviteAttendee, Meetup, MeetupChanges, MeetupCommand, PlanMeetup};
use domain::room::Room;
use domain::{Aggregate, DomainError, MeetupId, RoomId, StreamType, UserId};
use eventlog::{AppendError, Commit, StreamAppend};
use serde::Serialize;

/// Retries of a two-stream commit whose streams moved under it.
const MAX_RETRIES: usize = 5;

/// A decided two-stream commit with the versions it was decided on.
struct Decided {
    meetup: (MeetupId, i64, Vec<MeetupEvent>),
    room: (RoomId, i64, Vec<RoomEvent>),
}

/// Append `decided` (both streams, one commit) with the command's stored
/// answer, under the caller's key. `Err(None)` means a stream moved: decide
/// again.
async fn commit_pair<T: PositionedBody + Serialize>(
    state: &CommandState,
    ctx: &Ctx,
    decided: Decided,
    status: StatusCode,
    body: &T,
) -> Result<i64, Option<CommandError>> {
    let (meetup_id, meetup_version, meetup_events) = decided.meetup;
    let (room_id, room_version, room_events) = decided.room;
    let commit = Commit {
        streams: vec![
            StreamAppend {
                stream_id: meetup_id.into(),
                stream_type: StreamType::Meetup,
                expected_version: meetup_version,
                events: meetup_events.into_iter().map(Into::into).collect(),
                epoch: None,
            },
            StreamAppend {
                stream_id: room_id.into(),
                stream_type: StreamType::Room,
                expected_version: room_version,
                events: room_events.into_iter().map(Into::into).collect(),
                epoch: None,
            },
        ],
        metadata: ctx.metadata(),
        side_writes: ctx.answer(status, body),
    };
    match state.repo.append(commit).await {
        Ok(committed) => Ok(committed.position),
        Err(AppendError::Conflict { .. }) => Err(None),
        Err(e) => Err(Some(e.into())),
    }
}

/// The commands that write a meet-up's stream and its room's.
enum PairCommand {
    Plan(PlanMeetup),
    Invite {
        meetup: MeetupId,
        cmd: InviteAttendee,
    },
    Change {
        meetup: MeetupId,
        actor: UserId,
        changes: MeetupChanges,
        at: chrono::DateTime<Utc>,
    },
}

/// Decide `command` on the current state of both streams.
async fn decide_pair(state: &CommandState, command: &PairCommand) -> Result<Decided, CommandError> {
    match command {
        PairCommand::Plan(plan) => {
            // New ids: both streams are new, so there is nothing to load.
            let commit = Meetup::default().plan(&Room::default(), plan)?;
            Ok(Decided {
                meetup: (plan.meetup_id, 0, commit.meetup),
                room: (plan.room_id, 0, commit.room),
            })
        }
        PairCommand::Invite { meetup, cmd } => {
            let (m, m_version) = state.repo.load::<Meetup>((*meetup).into()).await?;
            let room_id = m.as_attendee(cmd.actor)?.room_id;
            let (room, room_version) = state.repo.load::<Room>(room_id.into()).await?;
            let commit = m.invite(&room, cmd)?;
            Ok(Decided {
                meetup: (*meetup, m_version, commit.meetup),
                room: (room_id, room_version, commit.room),
            })
        }
        PairCommand::Change {
            meetup,
            actor,
            changes,
            at,
        } => {
            let (m, m_version) = state.repo.load::<Meetup>((*meetup).into()).await?;
            let room_id = m.as_attendee(*actor)?.room_id;
            let (room, room_version) = state.repo.load::<Room>(room_id.into()).await?;
            let commit = m.change(&room, *actor, changes, *at)?;
            Ok(Decided {
                meetup: (*meetup, m_version, commit.meetup),
                room: (room_id, room_version, commit.room),
            })
        }
    }
}

/// Run a two-stream decision: answer a repeated key, else decide (again
/// after a conflict, up to [`MAX_RETRIES`] times) and commit.
async fn run_pair<T: PositionedBody + Serialize>(
    state: &CommandState,
    ctx: &Ctx,
    status: StatusCode,
    body: T,
    command: &PairCommand,
) -> Result<Answer<Positioned<T>>, ApiError> {
    let _key = runner::hold_key(state, ctx).await;
    if let Some(previous) = runner::previous_answer(state, ctx).await? {
        return Ok(previous);
    }
    for _ in 0..=MAX_RETRIES {
        let decided = match decide_pair(state, command).await {
            Ok(d) => d,
            Err(e) => return runner::command_error(state, ctx, e).await,
        };
        match commit_pair(state, ctx, decided, status, &body).await {
            Ok(position) => return Ok(Answer::Fresh(status, Positioned::new(body, position))),
            Err(None) => continue,
            Err(Some(e)) => return runner::command_error(state, ctx, e).await,
        }
    }
    runner::command_error(state, ctx, CommandError::Conflict).await
}

/// Plan a meet-up with its own group room (the organizer and the invitees
/// are its members).
#[utoipa::path(post, path = "/v1/meetups", tag = "meetups", request_body = CreateMeetupRequest,
    security(("bearer" = [])),
    responses((status = 201, body = MeetupCreatedResponse), (status = 404, description = "user_not_found"),
        (status = 422, description = "invalid_meetup: a bad title, place, description or \
            remind_before_minutes, an end before the start, more than 100 invitees")))]
pub async fn create(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<CreateMeetupRequest>,
) -> Result<Answer<MeetupCreatedResponse>, ApiError> {
    let b = &req.body;
    let title = MeetupTitle::parse(&b.title)?;
    let place = b
        .place
        .as_deref()
        .map(MeetupPlace::parse_optional)
        .transpose()?
        .flatten();
    let description = b
        .description
        .as_deref()
        .map(MeetupDescription::parse_optional)
        .transpose()?
        .flatten();
    let remind_before = b
        .remind_before_minutes
        .map(RemindBefore::from_minutes)
        .transpose()?
        .unwrap_or_default();
    let mut invitees: Vec<UserId> = Vec::new();
    for user in &b.invitees {
        if *user != me && !invitees.contains(user) {
            invitees.push(*user);
        }
    }
    if invitees.len() > MAX_INVITEES {
        return Err(DomainError::TooManyInvitees.into());
    }
    ensure_users_exist(&state, &invitees).await?;
    let ctx = Ctx::new(me, &req);
    let plan = PlanMeetup {
        meetup_id: MeetupId(uuid::Uuid::now_v7()),
        room_id: RoomId(uuid::Uuid::now_v7()),
        organizer: me,
        title,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        place,
        description,
        invitees,
        remind_before,
        at: Utc::now(),
    };
    let body = MeetupCreated {
        meetup_id: plan.meetup_id,
        room_id: plan.room_id,
    };
    run_pair(
        &state,
        &ctx,
        StatusCode::CREATED,
        body,
        &PairCommand::Plan(plan),
    )
    .await
}

/// Run a command on the meet-up's stream alone.
async fn on_meetup(
    state: &CommandState,
    ctx: &Ctx,
    meetup: MeetupId,
    command: MeetupCommand,
) -> Result<Answer<PositionResponse>, ApiError> {
    runner::run::<Meetup, _, _, _>(
        state,
        ctx,
        meetup.into(),
        |m| m.decide(&command),
        |_| (StatusCode::OK, Empty {}),
    )
    .await
}

/// The changes a PATCH body asks for, parsed.
fn changes(b: &ChangeMeetupRequest) -> Result<MeetupChanges, DomainError> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_owned();
    Ok(MeetupChanges {
        title: b.title.as_deref().map(MeetupTitle::parse).transpose()?,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        place: b
            .place
            .as_ref()
            .map(|p| MeetupPlace::parse_optional(&text(p)))
            .transpose()?,
        description: b
            .description
            .as_ref()
            .map(|d| MeetupDescription::parse_optional(&text(d)))
            .transpose()?,
        remind_before: b
            .remind_before_minutes
            .map(RemindBefore::from_minutes)
            .transpose()?,
    })
}

/// Change a meet-up's details (organizer only; everyone attending is told).
/// A new title renames the meet-up's room too, unless it was renamed by hand.
#[utoipa::path(patch, path = "/v1/meetups/{meetup_id}", tag = "meetups", request_body = ChangeMeetupRequest,
    security(("bearer" = [])), params(("meetup_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_meetup_organizer"),
        (status = 404, description = "meetup_not_found (also for non-attendees)"),
        (status = 409, description = "meetup_cancelled"), (status = 422, description = "invalid_meetup")))]
pub async fn change(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(meetup): ApiPath<MeetupId>,
    req: CommandBody<ChangeMeetupRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let changes = changes(&req.body)?;
    let ctx = Ctx::new(me, &req);
    let command = PairCommand::Change {
        meetup,
        actor: me,
        changes,
        at: Utc::now(),
    };
    run_pair(&state, &ctx, StatusCode::OK, Empty {}, &command).await
}

/// Cancel a meet-up (organizer only): it is kept, `cancelled: true`.
#[utoipa::path(delete, path = "/v1/meetups/{meetup_id}", tag = "meetups",
    security(("bearer" = [])), params(("meetup_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 403, description = "not_meetup_organizer"),
        (status = 404, description = "meetup_not_found")))]
pub async fn cancel(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(meetup): ApiPath<MeetupId>,
    req: CommandBody<NoBody>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let ctx = Ctx::new(me, &req);
    let command = MeetupCommand::Cancel {
        actor: me,
        at: Utc::now(),
    };
    on_meetup(&state, &ctx, meetup, command).await
}

/// Answer a meet-up (any attendee).
#[utoipa::path(post, path = "/v1/meetups/{meetup_id}/rsvp", tag = "meetups", request_body = RsvpRequest,
    security(("bearer" = [])), params(("meetup_id" = uuid::Uuid, Path)),
    responses((status = 200, body = PositionResponse), (status = 404, description = "meetup_not_found"),
        (status = 409, description = "meetup_cancelled"),
        (status = 422, description = "invalid_rsvp: not going, maybe or declined")))]
pub async fn rsvp(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(meetup): ApiPath<MeetupId>,
    req: CommandBody<RsvpRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let answer = RsvpAnswer::parse(&req.body.answer)?;
    let ctx = Ctx::new(me, &req);
    let command = MeetupCommand::Rsvp {
        actor: me,
        answer,
        at: Utc::now(),
    };
    on_meetup(&state, &ctx, meetup, command).await
}

/// Invite someone (any attendee); they join the meet-up's room too.
#[utoipa::path(post, path = "/v1/meetups/{meetup_id}/attendees", tag = "meetups",
    request_body = AddAttendeeRequest, security(("bearer" = [])), params(("meetup_id" = uuid::Uuid, Path)),
    responses((status = 201, body = PositionResponse),
        (status = 404, description = "meetup_not_found, user_not_found"),
        (status = 409, description = "already_attending, meetup_cancelled"),
        (status = 422, description = "too_many_members")))]
pub async fn invite(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    ApiPath(meetup): ApiPath<MeetupId>,
    req: CommandBody<AddAttendeeRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let user_id = req.body.user_id;
    // Attendance first: a stranger learns nothing about users or meet-ups.
    let (current, _) = state
        .repo
        .load::<Meetup>(meetup.into())
        .await
        .map_err(runner::repo_error)?;
    current.as_attendee(me)?;
    ensure_users_exist(&state, &[user_id]).await?;
    let ctx = Ctx::new(me, &req);
    let command = PairCommand::Invite {
        meetup,
        cmd: InviteAttendee {
            actor: me,
            user_id,
            at: Utc::now(),
        },
    };
    run_pair(&state, &ctx, StatusCode::CREATED, Empty {}, &command).await
}
