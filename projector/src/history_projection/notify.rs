//! The notification feed, written by the `history` projection in the same
//! transaction as the messages (see `readmodel::sql::notifications_table`).
//!
//! Who is notified of an event depends on the state at that event's
//! position: room members, mutes, blocks, the author of the message replied
//! or reacted to, a meet-up's attendees. The projection derives all of it
//! from the log itself (its own tables, plus the messages and meet-ups of
//! the same generation), so a rebuild gives the same feed. Per batch: load
//! the state the batch's events need ([`State`]) before anything of the
//! batch is written, walk the events in log order updating it in memory and
//! asking [`domain::notification::notifications`] at each, then write the
//! feed and the state's changes. Batch boundaries therefore change nothing:
//! the live projection and the bulk rebuild end with the same rows.

use crate::error::Result;
use chrono::{DateTime, Utc};
use domain::event::{DomainEvent, FriendshipEvent, MeetupEvent, RoomEvent, StoredEvent, UserEvent};
use domain::notification::{
    notifications, MeetupContext, NotificationContext, NotificationFrame, NotificationId,
    NotificationView,
};
use domain::{MeetupId, MessageId, RoomId, UserId};
use state::State;
use std::collections::HashSet;

#[path = "notify_state.rs"]
mod state;

pub(super) use state::NotifyTables;

/// A notification created by an applied batch, to be published once the
/// batch is committed.
#[derive(Clone, Debug)]
pub struct Created {
    pub user: UserId,
    pub frame: NotificationFrame,
}

/// Whether an event can notify anyone (the others only change state).
fn can_notify(e: &DomainEvent) -> bool {
    match e {
        DomainEvent::Room(RoomEvent::MessagePosted(p)) => {
            !p.mentions.is_empty() || p.reply_to.is_some()
        }
        DomainEvent::Room(RoomEvent::ReactionAdded(_))
        | DomainEvent::Room(RoomEvent::MemberAdded(_))
        | DomainEvent::Friendship(FriendshipEvent::Requested(_))
        | DomainEvent::Friendship(FriendshipEvent::Accepted(_)) => true,
        DomainEvent::Room(RoomEvent::Created(c)) => !c.direct,
        DomainEvent::Meetup(m) => !matches!(m, MeetupEvent::RsvpGiven(_)),
        _ => false,
    }
}

/// Whether a room event changes who is in the room.
fn changes_members(r: &RoomEvent) -> bool {
    matches!(
        r,
        RoomEvent::Created(_)
            | RoomEvent::MemberAdded(_)
            | RoomEvent::MemberLeft(_)
            | RoomEvent::MemberKicked(_)
    )
}

/// What a batch needs loaded: rooms, meet-ups, actors, messages.
#[derive(Default)]
pub(super) struct Needs {
    pub rooms: HashSet<RoomId>,
    pub meetups: HashSet<MeetupId>,
    pub actors: HashSet<UserId>,
    pub by_seq: HashSet<(RoomId, u64)>,
    pub by_id: HashSet<(RoomId, MessageId)>,
}

impl Needs {
    fn of(events: &[&StoredEvent]) -> Self {
        let mut n = Self::default();
        for e in events {
            let notifies = can_notify(&e.event);
            match &e.event {
                DomainEvent::Room(r) => {
                    if notifies || changes_members(r) {
                        n.rooms.insert(r.room_id());
                    }
                    match r {
                        RoomEvent::MessagePosted(p) if notifies => {
                            n.actors.insert(p.author_id);
                            if let Some(to) = p.reply_to {
                                n.by_id.insert((p.room_id, to));
                            }
                        }
                        RoomEvent::ReactionAdded(x) => {
                            n.actors.insert(x.user_id);
                            n.by_seq.insert((x.room_id, x.seq));
                        }
                        RoomEvent::Created(c) => {
                            n.actors.insert(c.owner_id);
                        }
                        RoomEvent::MemberAdded(a) => {
                            n.actors.insert(a.by);
                        }
                        _ => {}
                    }
                }
                DomainEvent::Friendship(FriendshipEvent::Requested(f)) => {
                    n.actors.insert(f.from);
                }
                DomainEvent::Friendship(FriendshipEvent::Accepted(f)) => {
                    n.actors.insert(f.by);
                }
                DomainEvent::Meetup(m) if notifies => {
                    n.meetups.insert(m.meetup_id());
                    match m {
                        MeetupEvent::Planned(p) => {
                            n.actors.insert(p.organizer);
                            n.rooms.insert(p.room_id);
                        }
                        MeetupEvent::Changed(c) => {
                            n.actors.insert(c.by);
                        }
                        MeetupEvent::Cancelled(c) => {
                            n.actors.insert(c.by);
                        }
                        MeetupEvent::AttendeeInvited(a) => {
                            n.actors.insert(a.by);
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        n
    }
}

impl NotifyTables {
    /// Apply `events` (above the checkpoint, in log order) to the feed and
    /// the projection's own state; call before the batch's messages and
    /// meet-ups are written (the state is read as of the batch's start).
    pub(super) async fn apply(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        events: &[&StoredEvent],
    ) -> Result<Vec<Created>> {
        let needs = Needs::of(events);
        let mut state = self.load(tx, &needs).await?;
        let mut created = Vec::new();
        for e in events {
            state.before(&e.event);
            if can_notify(&e.event) {
                created.extend(notify(&state, e));
            }
            state.after(e);
        }
        self.write(tx, &state, &created).await?;
        Ok(created)
    }
}

/// The notifications of one event, given the state at its position.
fn notify(state: &State, e: &StoredEvent) -> Vec<Created> {
    let empty = HashSet::new();
    let (room, target_author, meetup) = match &e.event {
        DomainEvent::Room(r) => {
            let target = match r {
                RoomEvent::MessagePosted(p) => {
                    p.reply_to.and_then(|to| state.author_by_id(p.room_id, to))
                }
                RoomEvent::ReactionAdded(x) => state.author_by_seq(x.room_id, x.seq),
                _ => None,
            };
            let room = r.room_id();
            (Some(room), target, state.meetup_of_room(room))
        }
        DomainEvent::Meetup(MeetupEvent::Planned(p)) => (Some(p.room_id), None, None),
        DomainEvent::Meetup(m) => {
            let meetup = state.meetup(m.meetup_id());
            (meetup.map(|x| x.room_id), None, meetup)
        }
        _ => (None, None, None),
    };
    let muted = room.map_or_else(HashSet::new, |r| state.muted(r, e.recorded_at));
    let ctx = NotificationContext {
        target_author,
        room_members: room.and_then(|r| state.members(r)).unwrap_or(&empty),
        muted: &muted,
        blocks: state.blocks(),
        meetup: meetup.map(|m| MeetupContext {
            room_id: m.room_id,
            organizer: m.organizer,
            attendees: &m.attendees,
        }),
    };
    notifications(&e.event, &ctx)
        .into_iter()
        .map(|n| Created {
            user: n.recipient,
            frame: NotificationFrame {
                position: e.position,
                notification: NotificationView {
                    notification_id: NotificationId::of(e.position, n.recipient),
                    kind: n.kind,
                    room_id: n.room_id,
                    message_id: n.message_id,
                    actor_id: n.actor,
                    at: e.recorded_at,
                    read: false,
                },
            },
        })
        .collect()
}

/// A read position recorded by a user-stream event, if any.
fn read_position(e: &DomainEvent) -> Option<(UserId, i64)> {
    match e {
        DomainEvent::User(UserEvent::NotificationsRead(r)) => Some((r.user_id, r.position)),
        _ => None,
    }
}

/// Whether a mute holding until `until` (`None`: for ever) holds at `at`.
fn holds(until: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    until.is_none_or(|u| at < u)
}
