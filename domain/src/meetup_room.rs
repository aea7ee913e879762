//! The decisions that write both a meet-up's stream and its room's: planning
//! (the meet-up and its room are created in one commit), inviting (the
//! new attendee becomes a member of the room) and changing the title (the
//! room is renamed with it). Each returns a
//! [`MeetupCommit`] that the command layer appends in one transaction, with
//! each stream's expected version, so neither stream ever holds half of it.

use super::values::{MeetupDescription, MeetupPlace, MeetupTitle, RemindBefore, MAX_INVITEES};
use super::MeetupChanges;
use super::{check_span, Meetup};
use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{
    AttendeeInvited, MeetupDetails, MeetupEvent, MeetupPlanned, MemberAdded, RoomEvent, RoomRenamed,
};
use crate::ids::{MeetupId, RoomId, UserId};
use crate::room::{Room, RoomCommand};
use crate::values::MAX_ROOM_MEMBERS;
use chrono::{DateTime, Utc};

/// The events of one meet-up decision, for two streams appended together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeetupCommit {
    /// For the meet-up's stream.
    pub meetup: Vec<MeetupEvent>,
    /// For the meet-up's room's stream (may be empty).
    pub room: Vec<RoomEvent>,
}

/// Plan a meet-up (POST /v1/meetups). New ids and the time come in with it;
/// the handler has checked that every invitee exists (`user_not_found`).
#[derive(Clone, Debug)]
pub struct PlanMeetup {
    pub meetup_id: MeetupId,
    /// The id of the meet-up's new group room.
    pub room_id: RoomId,
    pub organizer: UserId,
    pub title: MeetupTitle,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub place: Option<MeetupPlace>,
    pub description: Option<MeetupDescription>,
    /// Duplicates and the organizer are dropped; at most [`MAX_INVITEES`]
    /// others.
    pub invitees: Vec<UserId>,
    pub remind_before: RemindBefore,
    pub at: DateTime<Utc>,
}

/// An attendee invites someone (POST /v1/meetups/{id}/attendees); the
/// handler has checked that `user_id` exists.
#[derive(Clone, Debug)]
pub struct InviteAttendee {
    pub actor: UserId,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

impl Meetup {
    /// Plan this (new) meet-up and create its room (`room`: the state of the
    /// room stream `cmd.room_id`, new as well): `meetup.planned` and
    /// `room.created` with the organizer (owner) and the invitees as members.
    pub fn plan(&self, room: &Room, cmd: &PlanMeetup) -> Result<MeetupCommit, DomainError> {
        if self.plan.is_some() {
            return Err(DomainError::MeetupAlreadyExists);
        }
        check_span(cmd.starts_at, cmd.ends_at)?;
        let mut invitees: Vec<UserId> = Vec::with_capacity(cmd.invitees.len());
        for user in &cmd.invitees {
            if *user != cmd.organizer && !invitees.contains(user) {
                invitees.push(*user);
            }
        }
        if invitees.len() > MAX_INVITEES {
            return Err(DomainError::TooManyInvitees);
        }
        // The room's own rules decide its creation, so a meet-up's room is
        // an ordinary group room in every way.
        let room_events = room.decide(&RoomCommand::Create {
            room_id: cmd.room_id,
            actor: cmd.organizer,
            name: cmd.title.room_name(),
            members: invitees.clone(),
            at: cmd.at,
        })?;
        let planned = MeetupPlanned {
            meetup_id: cmd.meetup_id,
            room_id: cmd.room_id,
            organizer: cmd.organizer,
            details: MeetupDetails {
                title: cmd.title.to_string(),
                starts_at: cmd.starts_at,
                ends_at: cmd.ends_at,
                place: cmd.place.as_ref().map(|p| p.as_str().to_owned()),
                description: cmd.description.as_ref().map(|d| d.as_str().to_owned()),
                remind_before_minutes: cmd.remind_before.minutes(),
            },
            invitees,
            at: cmd.at,
        };
        Ok(MeetupCommit {
            meetup: vec![MeetupEvent::Planned(planned)],
            room: room_events,
        })
    }

    /// Invite someone: any attendee may, until the meet-up is cancelled.
    /// `room` is the state of the meet-up's room. The new attendee joins the
    /// room (`room.member_added` by the inviter) unless already in it; the
    /// inviter need not be in the room any more, since attendance, not room
    /// membership, is what lets them invite.
    pub fn invite(&self, room: &Room, cmd: &InviteAttendee) -> Result<MeetupCommit, DomainError> {
        let plan = self.as_attendee(cmd.actor)?;
        self.not_cancelled()?;
        if self.attendees.contains_key(&cmd.user_id) {
            return Err(DomainError::AlreadyAttending);
        }
        if self.attendees.len() >= MAX_ROOM_MEMBERS {
            // Attendees who left the room still count: every attendee must
            // fit back into it.
            return Err(DomainError::TooManyMembers);
        }
        if room.room_id != Some(plan.room_id) {
            // The meet-up's room is created in its plan's commit: another
            // room's state here is a caller's mistake, refused as unknown.
            return Err(DomainError::RoomNotFound);
        }
        let mut room_events = vec![];
        if !room.is_member(cmd.user_id) {
            if room.members.len() >= MAX_ROOM_MEMBERS {
                return Err(DomainError::TooManyMembers);
            }
            room_events.push(RoomEvent::MemberAdded(MemberAdded {
                room_id: plan.room_id,
                user_id: cmd.user_id,
                by: cmd.actor,
                via_invite: None,
                at: cmd.at,
            }));
        }
        Ok(MeetupCommit {
            meetup: vec![MeetupEvent::AttendeeInvited(AttendeeInvited {
                meetup_id: plan.meetup_id,
                user_id: cmd.user_id,
                by: cmd.actor,
                at: cmd.at,
            })],
            room: room_events,
        })
    }

    /// Change the details (organizer only, see [`MeetupCommand::Change`]).
    /// `room` is the state of the meet-up's room: when the title changes and
    /// the room still carries the old one (nobody renamed it by hand), the
    /// room takes the new title in the same commit, renamed by the
    /// organizer, so the room list and the meet-up never disagree.
    ///
    /// [`MeetupCommand::Change`]: super::MeetupCommand::Change
    pub fn change(
        &self,
        room: &Room,
        actor: UserId,
        changes: &MeetupChanges,
        at: DateTime<Utc>,
    ) -> Result<MeetupCommit, DomainError> {
        let meetup = self.decide_change(actor, changes, at)?;
        let mut room_events = vec![];
        if let (Some(plan), Some(MeetupEvent::Changed(changed))) = (&self.plan, meetup.first()) {
            let follows_title = room.room_id == Some(plan.room_id)
                && !room.direct
                && room.name == plan.details.title;
            if follows_title && changed.details.title != plan.details.title {
                room_events.push(RoomEvent::Renamed(RoomRenamed {
                    room_id: plan.room_id,
                    name: changed.details.title.clone(),
                    by: actor,
                    at,
                }));
            }
        }
        Ok(MeetupCommit {
            meetup,
            room: room_events,
        })
    }
}
