//! Who is notified of an event, and of what: a pure function the
//! notification projection calls for each event it reads, with what it
//! knows of the event's context. No aggregate: notifications are a
//! projection of the log, rebuildable like the others.
//!
//! Three rules hold for every kind but one: nobody is notified of their own
//! action, nobody of a room they muted, nobody of anything by a user they
//! blocked. The exception is `meetup_reminder`: nobody acts (the scheduler
//! fires it for an attendee who answered `going` or `maybe`, which is
//! asking for it), so it always reaches its one recipient.

use crate::event::{DomainEvent, FriendshipEvent, MeetupEvent, RoomEvent};
use crate::ids::{MessageId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub use id::NotificationId;
pub use view::{NotificationBatch, NotificationFrame, NotificationView, NotificationsCovered};

#[path = "notification_id.rs"]
mod id;
#[path = "notification_view.rs"]
mod view;

/// What a notification is about (`kind` in views).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Mention,
    Reply,
    Reaction,
    FriendRequest,
    FriendAccepted,
    AddedToRoom,
    MeetupInvited,
    MeetupChanged,
    MeetupCancelled,
    MeetupReminder,
}

impl NotificationKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::Mention,
        Self::Reply,
        Self::Reaction,
        Self::FriendRequest,
        Self::FriendAccepted,
        Self::AddedToRoom,
        Self::MeetupInvited,
        Self::MeetupChanged,
        Self::MeetupCancelled,
        Self::MeetupReminder,
    ];

    /// The kind's name, as stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mention => "mention",
            Self::Reply => "reply",
            Self::Reaction => "reaction",
            Self::FriendRequest => "friend_request",
            Self::FriendAccepted => "friend_accepted",
            Self::AddedToRoom => "added_to_room",
            Self::MeetupInvited => "meetup_invited",
            Self::MeetupChanged => "meetup_changed",
            Self::MeetupCancelled => "meetup_cancelled",
            Self::MeetupReminder => "meetup_reminder",
        }
    }

    /// The kind named `s` (as [`Self::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One notification to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub recipient: UserId,
    pub kind: NotificationKind,
    /// Who caused it.
    pub actor: UserId,
    pub room_id: Option<RoomId>,
    pub message_id: Option<MessageId>,
}

/// What the projection knows around one event, at its position in the log.
#[derive(Clone, Copy, Debug)]
pub struct NotificationContext<'a> {
    /// For a reply, the author of the message replied to; for a reaction,
    /// the author of the message reacted to.
    pub target_author: Option<UserId>,
    /// The room's current members (room events notify members only).
    pub room_members: &'a HashSet<UserId>,
    /// Members who have the event's room muted at the event's time.
    pub muted: &'a HashSet<UserId>,
    /// Blocks as `(blocker, blocked)` pairs (at least those involving the
    /// event's actor).
    pub blocks: &'a HashSet<(UserId, UserId)>,
    /// For a meet-up event, and for a room event in a meet-up's room: that
    /// meet-up.
    pub meetup: Option<MeetupContext<'a>>,
}

/// What the projection knows of a meet-up at the event's position.
#[derive(Clone, Copy, Debug)]
pub struct MeetupContext<'a> {
    /// The meet-up's own room.
    pub room_id: RoomId,
    pub organizer: UserId,
    /// Everyone attending (the organizer included), whatever their answer;
    /// for an invitation, the invited person is already among them.
    pub attendees: &'a [UserId],
}

/// The notifications `event` creates; at most one per recipient (a mention
/// wins over a reply).
pub fn notifications(event: &DomainEvent, ctx: &NotificationContext<'_>) -> Vec<Notification> {
    let mut out: Vec<Notification> = Vec::new();
    let mut push = |recipient, kind, actor, room_id, message_id| {
        if !out.iter().any(|n| n.recipient == recipient) {
            out.push(Notification {
                recipient,
                kind,
                actor,
                room_id,
                message_id,
            });
        }
    };
    use NotificationKind as K;
    let meetup_room = ctx.meetup.map(|m| m.room_id);
    // Joining a meet-up's room comes with the invitation to the meet-up
    // (same commit): the attendee is told once, as `meetup_invited`.
    let attends = |u: &UserId| ctx.meetup.is_some_and(|m| m.attendees.contains(u));
    match event {
        DomainEvent::Room(RoomEvent::MessagePosted(e)) => {
            let (room, msg) = (Some(e.room_id), Some(e.message_id));
            for m in &e.mentions {
                push(*m, K::Mention, e.author_id, room, msg);
            }
            if let (Some(_), Some(author)) = (e.reply_to, ctx.target_author) {
                push(author, K::Reply, e.author_id, room, msg);
            }
        }
        DomainEvent::Room(RoomEvent::ReactionAdded(e)) => {
            if let Some(author) = ctx.target_author {
                push(
                    author,
                    K::Reaction,
                    e.user_id,
                    Some(e.room_id),
                    Some(e.message_id),
                );
            }
        }
        DomainEvent::Room(RoomEvent::Created(e)) if !e.direct => {
            for m in e.members.iter().filter(|m| !attends(m)) {
                push(*m, K::AddedToRoom, e.owner_id, Some(e.room_id), None);
            }
        }
        // Joining through an invite or reopening a direct room is one's own act.
        DomainEvent::Room(RoomEvent::MemberAdded(e))
            if e.via_invite.is_none() && !attends(&e.user_id) =>
        {
            push(e.user_id, K::AddedToRoom, e.by, Some(e.room_id), None);
        }
        DomainEvent::Meetup(MeetupEvent::Planned(e)) => {
            for u in &e.invitees {
                push(*u, K::MeetupInvited, e.organizer, Some(e.room_id), None);
            }
        }
        DomainEvent::Meetup(MeetupEvent::AttendeeInvited(e)) => {
            push(e.user_id, K::MeetupInvited, e.by, meetup_room, None);
        }
        DomainEvent::Meetup(MeetupEvent::Changed(e)) => {
            for u in ctx.meetup.map_or(&[][..], |m| m.attendees) {
                push(*u, K::MeetupChanged, e.by, meetup_room, None);
            }
        }
        DomainEvent::Meetup(MeetupEvent::Cancelled(e)) => {
            for u in ctx.meetup.map_or(&[][..], |m| m.attendees) {
                push(*u, K::MeetupCancelled, e.by, meetup_room, None);
            }
        }
        DomainEvent::Meetup(MeetupEvent::ReminderDue(e)) => {
            if let Some(m) = ctx.meetup {
                push(
                    e.user_id,
                    K::MeetupReminder,
                    m.organizer,
                    Some(m.room_id),
                    None,
                );
            }
        }
        DomainEvent::Friendship(FriendshipEvent::Requested(e)) => {
            push(e.to, K::FriendRequest, e.from, None, None);
        }
        DomainEvent::Friendship(FriendshipEvent::Accepted(e)) => {
            push(e.requester, K::FriendAccepted, e.by, None, None);
        }
        // A shadowed request reaches nobody; the rest notify no one.
        _ => {}
    }
    let room_event = matches!(event, DomainEvent::Room(_));
    out.retain(|n| {
        if n.kind == K::MeetupReminder {
            return true;
        }
        // Room events reach members only; a meet-up reaches its attendees
        // even once they left its room (they still attend).
        let member = !room_event || ctx.room_members.contains(&n.recipient);
        let muted = n.room_id.is_some() && ctx.muted.contains(&n.recipient);
        n.recipient != n.actor && member && !muted && !ctx.blocks.contains(&(n.recipient, n.actor))
    });
    out
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
