//! Who is notified of an event, and of what: a pure function the
//! notification projection calls for each event it reads, with what it
//! knows of the event's context. No aggregate: notifications are a
//! projection of the log, rebuildable like the others.
//!
//! Three rules hold for every kind: nobody is notified of their own action,
//! nobody of a room they muted, nobody of anything by a user they blocked.

use crate::event::{DomainEvent, FriendshipEvent, RoomEvent};
use crate::ids::{MessageId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What a notification is about (`kind` in views). The meet-up kinds are
/// the meet-up aggregate's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Mention,
    Reply,
    Reaction,
    FriendRequest,
    FriendAccepted,
    AddedToRoom,
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
            for m in &e.members {
                push(*m, K::AddedToRoom, e.owner_id, Some(e.room_id), None);
            }
        }
        // Joining through an invite or reopening a direct room is one's own act.
        DomainEvent::Room(RoomEvent::MemberAdded(e)) if e.via_invite.is_none() => {
            push(e.user_id, K::AddedToRoom, e.by, Some(e.room_id), None);
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
    out.retain(|n| {
        let in_room = n.room_id.is_none()
            || (ctx.room_members.contains(&n.recipient) && !ctx.muted.contains(&n.recipient));
        n.recipient != n.actor && in_room && !ctx.blocks.contains(&(n.recipient, n.actor))
    });
    out
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
