//! Live frames: what `GET /v1/stream` pushes to room members, one per room
//! event, shared by the `redis` projection (which stores a bounded window of
//! them per room and publishes them once applied) and the query side (which
//! replays and fans them out).
//!
//! A frame is the event as a client sees it: the room, the global `position`,
//! a `type` and the fields the client needs. Frames are a public contract like
//! events: a field is never renamed or reinterpreted in place.
//!
//! Transport: after each applied batch the projection publishes, per affected
//! room, one NATS core message on the room's subject (`readmodel::subjects`)
//! holding a [`FrameBatch`].
//! Every message of one publisher carries the next `seq`, so a subscriber that
//! sees a hole knows it lost frames (NATS core delivers at most once).

use crate::event::{DomainEvent, MeetupEvent, MeetupField, RoomEvent, StoredEvent};
use crate::ids::{MeetupId, MessageId, RoomId, UserId};
use crate::views::{AttachmentView, NoticeView, ReactionSet, ReactionView};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One room event as pushed to members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Global position of the event; a read with `X-Min-Position` equal to
    /// it sees the change.
    pub position: i64,
    /// The room the event belongs to.
    pub room_id: RoomId,
    /// The `type` and its fields.
    #[serde(flatten)]
    pub body: FrameBody,
}

/// What happened, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FrameBody {
    /// The room was created with these members (the owner first).
    RoomCreated {
        name: String,
        owner_id: UserId,
        direct: bool,
        members: Vec<UserId>,
        at: DateTime<Utc>,
    },
    /// The owner renamed the room.
    RoomRenamed {
        name: String,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// `user_id` was added by `by`.
    MemberJoined {
        user_id: UserId,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// `user_id` left; `new_owner` when ownership passed on.
    MemberLeft {
        user_id: UserId,
        new_owner: Option<UserId>,
        at: DateTime<Utc>,
    },
    /// The owner removed `user_id`.
    MemberKicked {
        user_id: UserId,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// A new message with the room's next `seq`.
    MessagePosted {
        message_id: MessageId,
        seq: u64,
        author_id: UserId,
        body: String,
        reply_to: Option<MessageId>,
        at: DateTime<Utc>,
        /// The files it carries (issue 15).
        #[serde(default)]
        attachments: Vec<AttachmentView>,
        /// The members it mentions (issue 15).
        #[serde(default)]
        mentions: Vec<UserId>,
        /// Always empty: nobody has reacted to a new message yet.
        #[serde(default)]
        reactions: Vec<ReactionView>,
        /// The members it waits for when posted (filled by the projection,
        /// which knows the members; see [`crate::unread`]).
        #[serde(default)]
        unread_by: u32,
    },
    /// A message's new text.
    MessageEdited {
        message_id: MessageId,
        seq: u64,
        /// Its author, who alone edits a message (issue 16: not sent to
        /// someone who blocked them). Absent for edits logged before
        /// `room.message_edited` v2 named it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author_id: Option<UserId>,
        body: String,
        at: DateTime<Utc>,
    },
    /// A message was deleted (it keeps its `seq`).
    MessageDeleted {
        message_id: MessageId,
        seq: u64,
        author_id: UserId,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// `user_id` has read up to `seq`.
    ReadMarker {
        user_id: UserId,
        seq: u64,
        at: DateTime<Utc>,
    },
    /// A message's reactions changed. `reactions` is per viewer: the stored
    /// frame keeps who reacted in `by`, and each connection is sent
    /// [`Frame::for_viewer`], with `me` set and `by` left out.
    ReactionsChanged {
        message_id: MessageId,
        seq: u64,
        reactions: Vec<ReactionView>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        by: Vec<ReactionSet>,
        /// Who reacted or took a reaction back (issue 16: not sent to
        /// someone who blocked them); left out like `by`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<UserId>,
    },
    /// The room's notice changed (`null`: taken down).
    NoticeChanged { notice: Option<NoticeView> },
    /// `user_id` hid a message for themselves: sent to them only (see
    /// [`Frame::only_for`]).
    MessageHidden {
        message_id: MessageId,
        seq: u64,
        user_id: UserId,
    },
    /// The meet-up whose room this is changed (issue 17): its details now,
    /// which fields changed, and its iCalendar `sequence`. Every attendee is
    /// a member of the room, so every attendee gets it.
    MeetupChanged {
        meetup_id: MeetupId,
        title: String,
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
        place: Option<String>,
        remind_before_minutes: u32,
        changed: Vec<MeetupField>,
        sequence: u32,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// The meet-up whose room this is was cancelled by its organizer.
    MeetupCancelled {
        meetup_id: MeetupId,
        sequence: u32,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// The reminder of `user_id` (only they show it; the frame goes to the
    /// meet-up's room like the others) for the start `starts_at` fired at
    /// `at`, `late_by_ms` after it was due.
    MeetupReminder {
        meetup_id: MeetupId,
        user_id: UserId,
        starts_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        late_by_ms: u64,
        at: DateTime<Utc>,
    },
}

impl Frame {
    /// The frame of a room event; `None` for events of other streams.
    pub fn from_event(e: &StoredEvent) -> Option<Self> {
        let DomainEvent::Room(r) = &e.event else {
            return None;
        };
        let (room_id, body) = match r.clone() {
            RoomEvent::Created(c) => (
                c.room_id,
                FrameBody::RoomCreated {
                    name: c.name,
                    owner_id: c.owner_id,
                    direct: c.direct,
                    members: c.members,
                    at: c.at,
                },
            ),
            RoomEvent::Renamed(c) => (
                c.room_id,
                FrameBody::RoomRenamed {
                    name: c.name,
                    by: c.by,
                    at: c.at,
                },
            ),
            RoomEvent::MemberAdded(c) => (
                c.room_id,
                FrameBody::MemberJoined {
                    user_id: c.user_id,
                    by: c.by,
                    at: c.at,
                },
            ),
            RoomEvent::MemberLeft(c) => (
                c.room_id,
                FrameBody::MemberLeft {
                    user_id: c.user_id,
                    new_owner: c.new_owner,
                    at: c.at,
                },
            ),
            RoomEvent::MemberKicked(c) => (
                c.room_id,
                FrameBody::MemberKicked {
                    user_id: c.user_id,
                    by: c.by,
                    at: c.at,
                },
            ),
            RoomEvent::MessagePosted(c) => (
                c.room_id,
                FrameBody::MessagePosted {
                    message_id: c.message_id,
                    seq: c.seq,
                    author_id: c.author_id,
                    body: c.body,
                    reply_to: c.reply_to,
                    at: c.at,
                    attachments: c.attachments.iter().map(AttachmentView::of).collect(),
                    mentions: c.mentions,
                    reactions: Vec::new(),
                    unread_by: 0,
                },
            ),
            RoomEvent::MessageEdited(c) => (
                c.room_id,
                FrameBody::MessageEdited {
                    message_id: c.message_id,
                    seq: c.seq,
                    author_id: c.author_id,
                    body: c.body,
                    at: c.at,
                },
            ),
            RoomEvent::MessageDeleted(c) => (
                c.room_id,
                FrameBody::MessageDeleted {
                    message_id: c.message_id,
                    seq: c.seq,
                    author_id: c.author_id,
                    by: c.by,
                    at: c.at,
                },
            ),
            RoomEvent::ReadMarkerMoved(c) => (
                c.room_id,
                FrameBody::ReadMarker {
                    user_id: c.user_id,
                    seq: c.seq,
                    at: c.at,
                },
            ),
            // The projection fills reactions and the notice's text from its state.
            RoomEvent::ReactionAdded(c) => {
                (c.room_id, reactions_frame(c.message_id, c.seq, c.user_id))
            }
            RoomEvent::ReactionRemoved(c) => {
                (c.room_id, reactions_frame(c.message_id, c.seq, c.user_id))
            }
            RoomEvent::NoticeSet(c) => (
                c.room_id,
                FrameBody::NoticeChanged {
                    notice: Some(NoticeView {
                        message_id: c.message_id,
                        seq: c.seq,
                        body_preview: String::new(),
                        set_by: c.set_by,
                        set_at: c.at,
                    }),
                },
            ),
            RoomEvent::NoticeCleared(c) => (c.room_id, FrameBody::NoticeChanged { notice: None }),
            RoomEvent::MessageHidden(c) => (
                c.room_id,
                FrameBody::MessageHidden {
                    message_id: c.message_id,
                    seq: c.seq,
                    user_id: c.user_id,
                },
            ),
            // Uploads are not shown until a message carries them.
            RoomEvent::AttachmentUploaded(_) | RoomEvent::AttachmentDiscarded(_) => return None,
            // projected in the people phase (issue 16)
            RoomEvent::MemberRoleChanged(_)
            | RoomEvent::InviteCreated(_)
            | RoomEvent::InviteRevoked(_) => return None,
        };
        Some(Self {
            position: e.position,
            room_id,
            body,
        })
    }

    /// The only user this frame is for (a hide is nobody else's business).
    pub fn only_for(&self) -> Option<UserId> {
        match &self.body {
            FrameBody::MessageHidden { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }

    /// Whether the frame reads differently for each viewer ([`Self::for_viewer`]).
    pub fn is_personal(&self) -> bool {
        matches!(self.body, FrameBody::ReactionsChanged { .. })
    }

    /// The frame as `viewer` sees it: reactions with `me`, without who reacted.
    pub fn for_viewer(&self, viewer: UserId) -> Self {
        let mut f = self.clone();
        if let FrameBody::ReactionsChanged {
            reactions,
            by,
            actor,
            ..
        } = &mut f.body
        {
            *reactions = ReactionView::for_viewer(by, viewer);
            by.clear();
            *actor = None;
        }
        f
    }

    /// The user whose doing or content this frame shows, when a viewer who
    /// blocked them must not get it (issue 16): a message's author (posted,
    /// edited, deleted), who reacted, whose read marker moved. Membership
    /// frames name nobody: a room's members are everyone's to know.
    pub fn actor(&self) -> Option<UserId> {
        match &self.body {
            FrameBody::MessagePosted { author_id, .. }
            | FrameBody::MessageDeleted { author_id, .. } => Some(*author_id),
            FrameBody::MessageEdited { author_id, .. } => *author_id,
            FrameBody::ReactionsChanged { actor, .. } => *actor,
            FrameBody::ReadMarker { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }

    /// The message this frame is about, if any.
    pub fn message_id(&self) -> Option<MessageId> {
        match &self.body {
            FrameBody::MessagePosted { message_id, .. }
            | FrameBody::MessageEdited { message_id, .. }
            | FrameBody::MessageDeleted { message_id, .. }
            | FrameBody::ReactionsChanged { message_id, .. }
            | FrameBody::MessageHidden { message_id, .. } => Some(*message_id),
            _ => None,
        }
    }

    /// The frame of a meet-up event, given the meet-up's room; `None` for
    /// events of other streams and meet-up events without a frame (the
    /// plan's frame is its room's creation, invitations and answers show as
    /// the room's joins and in `GET /v1/meetups/{id}`).
    pub fn of_meetup(e: &StoredEvent, room_id: RoomId) -> Option<Self> {
        let DomainEvent::Meetup(m) = &e.event else {
            return None;
        };
        let body = match m {
            MeetupEvent::Changed(c) => FrameBody::MeetupChanged {
                meetup_id: c.meetup_id,
                title: c.details.title.clone(),
                starts_at: c.details.starts_at,
                ends_at: c.details.ends_at,
                place: c.details.place.clone(),
                remind_before_minutes: c.details.remind_before_minutes,
                changed: c.changed.clone(),
                sequence: c.sequence,
                by: c.by,
                at: c.at,
            },
            MeetupEvent::Cancelled(c) => FrameBody::MeetupCancelled {
                meetup_id: c.meetup_id,
                sequence: c.sequence,
                by: c.by,
                at: c.at,
            },
            MeetupEvent::ReminderDue(r) => FrameBody::MeetupReminder {
                meetup_id: r.meetup_id,
                user_id: r.user_id,
                starts_at: r.starts_at,
                due_at: r.due_at,
                late_by_ms: r.late_by_ms,
                at: r.fired_at,
            },
            MeetupEvent::Planned(_)
            | MeetupEvent::AttendeeInvited(_)
            | MeetupEvent::RsvpGiven(_) => return None,
        };
        Some(Self {
            position: e.position,
            room_id,
            body,
        })
    }

    /// Users this frame makes members of the room (creation, a join).
    pub fn joined(&self) -> &[UserId] {
        match &self.body {
            FrameBody::RoomCreated { members, .. } => members,
            FrameBody::MemberJoined { user_id, .. } => std::slice::from_ref(user_id),
            _ => &[],
        }
    }

    /// The user this frame removes from the room (leaving, a kick).
    pub fn left(&self) -> Option<UserId> {
        match &self.body {
            FrameBody::MemberLeft { user_id, .. } | FrameBody::MemberKicked { user_id, .. } => {
                Some(*user_id)
            }
            _ => None,
        }
    }
}

/// A reactions frame before the projection fills in who reacted.
fn reactions_frame(message_id: MessageId, seq: u64, actor: UserId) -> FrameBody {
    FrameBody::ReactionsChanged {
        message_id,
        seq,
        reactions: Vec::new(),
        by: Vec::new(),
        actor: Some(actor),
    }
}

/// One NATS message of frames: the frames of every room from one applied
/// batch, in position order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameBatch {
    /// Tells publishers apart (new on every projector start).
    pub publisher: uuid::Uuid,
    /// 1, 2, 3 … per publisher, over all its messages: a hole means lost frames.
    pub seq: u64,
    /// The log positions this message covers, `after` (exclusive) to `upto`
    /// (inclusive): the projection's checkpoint before and after the batch.
    /// Every applied batch is published, with or without frames, so the
    /// messages chain across publishers: one whose `after` is past the
    /// highest `upto` received means frames were lost, such as a batch a
    /// projector applied but died before publishing, which no `seq` shows
    /// since its successor counts from 1. Both 0: not known (no check).
    #[serde(default)]
    pub after: i64,
    #[serde(default)]
    pub upto: i64,
    /// In position order.
    pub frames: Vec<Frame>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventMetadata, MemberKicked, MessagePosted};
    use crate::ids::{EventId, StreamId};
    use crate::StreamType;
    use uuid::Uuid;

    fn stored(position: i64, event: RoomEvent) -> StoredEvent {
        StoredEvent {
            position,
            event_id: EventId(Uuid::from_u128(9)),
            stream_id: StreamId(Uuid::from_u128(8)),
            stream_type: StreamType::Room,
            version: 1,
            metadata: EventMetadata::default(),
            recorded_at: Utc::now(),
            event: DomainEvent::Room(event),
        }
    }

    #[test]
    fn posted_frame_has_type_position_and_fields() {
        let room = RoomId(Uuid::from_u128(1));
        let e = stored(
            42,
            RoomEvent::MessagePosted(MessagePosted {
                room_id: room,
                message_id: MessageId(Uuid::from_u128(2)),
                seq: 7,
                author_id: UserId(Uuid::from_u128(3)),
                body: "안녕".into(),
                reply_to: None,
                attachments: vec![],
                mentions: vec![],
                at: Utc::now(),
            }),
        );
        let f = Frame::from_event(&e).unwrap();
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["type"], "message_posted");
        assert_eq!(json["position"], 42);
        assert_eq!(json["seq"], 7);
        assert_eq!(json["room_id"], room.to_string());
        let back: Frame = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
        assert!(f.joined().is_empty() && f.left().is_none());
    }

    #[test]
    fn membership_frames_name_the_user() {
        let user = UserId(Uuid::from_u128(5));
        let e = stored(
            3,
            RoomEvent::MemberKicked(MemberKicked {
                room_id: RoomId(Uuid::from_u128(1)),
                user_id: user,
                by: UserId(Uuid::from_u128(6)),
                at: Utc::now(),
            }),
        );
        let f = Frame::from_event(&e).unwrap();
        assert_eq!(f.left(), Some(user));
        assert_eq!(serde_json::to_value(&f).unwrap()["type"], "member_kicked");
    }
}
