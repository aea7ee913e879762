//! The event contract. Every event has a stable `event_type` name and a
//! `schema_version`; the stored payload is the JSON of the variant's fields.
//! Events are a public contract: a field is never renamed or reinterpreted in
//! place. A changed shape gets a new schema version, and [`DomainEvent::decode`]
//! upcasts every older version explicitly (see `upcast`), so readers only ever
//! see the current shape.

use crate::attachment::Attachment;
use crate::ids::{EventId, InviteId, MessageId, RoomId, StreamId, UserId};
pub use crate::pii::Personal;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[path = "event_messages.rs"]
mod messages;
pub use messages::{
    AttachmentDiscarded, AttachmentUploaded, MessageHidden, NoticeCleared, NoticeSet,
    ReactionAdded, ReactionRemoved,
};

#[path = "event_people.rs"]
mod people;
pub use people::{
    FriendRequestShadowed, InviteCreated, InviteRevoked, MemberRoleChanged, NotificationsRead,
    PresenceVisibilityChanged, RoomMuted, RoomUnmuted, StatusMessageChanged, UserBlocked,
    UserUnblocked,
};

#[path = "event_accounts.rs"]
mod accounts;
pub use accounts::{AccountDeleted, PasswordChanged};

#[path = "event_meetups.rs"]
mod meetups;
pub use meetups::{
    AttendeeInvited, CalendarFeedRotated, MeetupCancelled, MeetupChanged, MeetupDetails,
    MeetupEvent, MeetupField, MeetupPlanned, MeetupReminderDue, RsvpAnswer, RsvpGiven,
};

/// The kind of aggregate a stream belongs to; stored beside each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamType {
    User,
    Username,
    Friendship,
    Room,
    Meetup,
}

impl StreamType {
    /// The stored name (also the NATS subject segment).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Username => "username",
            Self::Friendship => "friendship",
            Self::Room => "room",
            Self::Meetup => "meetup",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "username" => Self::Username,
            "friendship" => Self::Friendship,
            "room" => Self::Room,
            "meetup" => Self::Meetup,
            _ => return None,
        })
    }
}

// ---- user stream -------------------------------------------------------------

/// A user signed up. Never carries the password or its hash: credentials live
/// in a command-side table written in the same transaction. Since v2 the
/// username and display name are sealed under the user's data key
/// ([`crate::pii`]); v1 carried them in the clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRegistered {
    pub user_id: UserId,
    pub username: Personal,
    pub display_name: Personal,
    pub at: DateTime<Utc>,
}

/// A user changed their display name (sealed since v2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayNameChanged {
    pub user_id: UserId,
    pub display_name: Personal,
    pub at: DateTime<Utc>,
}

// ---- username stream ---------------------------------------------------------

/// A username was reserved for a user. Its stream id is derived from the
/// username, so the log's (stream, version) uniqueness makes usernames unique.
///
/// v1 carried the username itself (stream [`StreamId::for_username`]); v2
/// carries only `name_key`, the keyed hash of the username the command side
/// makes with a server secret (stream [`StreamId::for_name_key`]), so the log
/// never holds the name in the clear. Exactly one of the two is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsernameClaimed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_key: Option<String>,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

// ---- friendship stream -------------------------------------------------------

/// `from` asked `to` to be friends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendRequested {
    pub from: UserId,
    pub to: UserId,
    pub at: DateTime<Utc>,
}

/// `by` accepted the request `requester` had sent: they are friends now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestAccepted {
    pub by: UserId,
    pub requester: UserId,
    pub at: DateTime<Utc>,
}

/// Why a friendship or a pending request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FriendshipEndReason {
    /// The receiver declined a pending request.
    Declined,
    /// The sender withdrew a pending request.
    Cancelled,
    /// One of two friends unfriended the other.
    Removed,
    /// `by` blocked `other`: the friendship or pending request ends with it,
    /// in the same commit as `user.blocked` (issue 16).
    Blocked,
}

/// A request or a friendship between `by` and `other` ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendshipEnded {
    pub by: UserId,
    pub other: UserId,
    pub reason: FriendshipEndReason,
    pub at: DateTime<Utc>,
}

// ---- room stream -------------------------------------------------------------

/// A room was created with its first members (the owner among them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomCreated {
    pub room_id: RoomId,
    /// Empty for direct rooms (clients show the other person's name).
    pub name: String,
    pub owner_id: UserId,
    pub direct: bool,
    /// Every initial member, the owner first.
    pub members: Vec<UserId>,
    pub at: DateTime<Utc>,
}

/// The owner renamed a group room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRenamed {
    pub room_id: RoomId,
    pub name: String,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A member added `user_id` (or `user_id` rejoined a direct room, or joined
/// through an invite link: then `by == user_id` and `via_invite` names it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberAdded {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub by: UserId,
    /// The invite link used (v2); each such join is one use of it.
    pub via_invite: Option<InviteId>,
    pub at: DateTime<Utc>,
}

/// A member left. When the owner leaves a group room, ownership passes to the
/// longest-standing remaining member (`new_owner`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberLeft {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub new_owner: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// The owner removed a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberKicked {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A message was accepted with the room's next `seq` (1, 2, 3 … no gaps).
/// Posting also moves the author's read marker to `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagePosted {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
    pub author_id: UserId,
    /// Empty only when `attachments` is not (v2).
    pub body: String,
    pub reply_to: Option<MessageId>,
    /// The uploads the message sends, in the author's order (v2; metadata only).
    pub attachments: Vec<Attachment>,
    /// Members mentioned, deduplicated, each a member when posted (v2).
    pub mentions: Vec<UserId>,
    pub at: DateTime<Utc>,
}

/// The author replaced a message's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageEdited {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
    /// The message's author, who alone edits it (v2; `None` in v1 events,
    /// which did not record it).
    pub author_id: Option<UserId>,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// The author or the owner deleted a message; it keeps its `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageDeleted {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
    pub author_id: UserId,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// A member's read marker moved forward to `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadMarkerMoved {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub seq: u64,
    pub at: DateTime<Utc>,
}

/// Events of the user stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserEvent {
    Registered(UserRegistered),
    DisplayNameChanged(DisplayNameChanged),
    // The people phase (issue 16).
    Blocked(UserBlocked),
    Unblocked(UserUnblocked),
    RoomMuted(RoomMuted),
    RoomUnmuted(RoomUnmuted),
    StatusMessageChanged(StatusMessageChanged),
    PresenceVisibilityChanged(PresenceVisibilityChanged),
    // Sessions (issue 18).
    PasswordChanged(PasswordChanged),
    // The meet-ups phase (issue 17).
    CalendarFeedRotated(CalendarFeedRotated),
    // Notifications (issue 16).
    NotificationsRead(NotificationsRead),
    // Crypto-shredding (issue 18).
    AccountDeleted(AccountDeleted),
}

impl UserEvent {
    /// The user whose stream the event belongs to.
    pub fn user_id(&self) -> UserId {
        match self {
            Self::Registered(e) => e.user_id,
            Self::DisplayNameChanged(e) => e.user_id,
            Self::Blocked(e) => e.user_id,
            Self::Unblocked(e) => e.user_id,
            Self::RoomMuted(e) => e.user_id,
            Self::RoomUnmuted(e) => e.user_id,
            Self::StatusMessageChanged(e) => e.user_id,
            Self::PresenceVisibilityChanged(e) => e.user_id,
            Self::PasswordChanged(e) => e.user_id,
            Self::CalendarFeedRotated(e) => e.user_id,
            Self::NotificationsRead(e) => e.user_id,
            Self::AccountDeleted(e) => e.user_id,
        }
    }
}

/// Events of a username reservation stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsernameEvent {
    Claimed(UsernameClaimed),
}

/// Events of a friendship stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FriendshipEvent {
    Requested(FriendRequested),
    Accepted(FriendRequestAccepted),
    Ended(FriendshipEnded),
    /// The people phase (issue 16).
    Shadowed(FriendRequestShadowed),
}

/// Events of a room stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEvent {
    Created(RoomCreated),
    Renamed(RoomRenamed),
    MemberAdded(MemberAdded),
    MemberLeft(MemberLeft),
    MemberKicked(MemberKicked),
    MessagePosted(MessagePosted),
    MessageEdited(MessageEdited),
    MessageDeleted(MessageDeleted),
    ReadMarkerMoved(ReadMarkerMoved),
    AttachmentUploaded(AttachmentUploaded),
    AttachmentDiscarded(AttachmentDiscarded),
    ReactionAdded(ReactionAdded),
    ReactionRemoved(ReactionRemoved),
    MessageHidden(MessageHidden),
    NoticeSet(NoticeSet),
    NoticeCleared(NoticeCleared),
    // The people phase (issue 16).
    MemberRoleChanged(MemberRoleChanged),
    InviteCreated(InviteCreated),
    InviteRevoked(InviteRevoked),
}

impl RoomEvent {
    /// The room the event belongs to.
    pub fn room_id(&self) -> RoomId {
        match self {
            Self::Created(e) => e.room_id,
            Self::Renamed(e) => e.room_id,
            Self::MemberAdded(e) => e.room_id,
            Self::MemberLeft(e) => e.room_id,
            Self::MemberKicked(e) => e.room_id,
            Self::MessagePosted(e) => e.room_id,
            Self::MessageEdited(e) => e.room_id,
            Self::MessageDeleted(e) => e.room_id,
            Self::ReadMarkerMoved(e) => e.room_id,
            Self::AttachmentUploaded(e) => e.room_id,
            Self::AttachmentDiscarded(e) => e.room_id,
            Self::ReactionAdded(e) => e.room_id,
            Self::ReactionRemoved(e) => e.room_id,
            Self::MessageHidden(e) => e.room_id,
            Self::NoticeSet(e) => e.room_id,
            Self::NoticeCleared(e) => e.room_id,
            Self::MemberRoleChanged(e) => e.room_id,
            Self::InviteCreated(e) => e.room_id,
            Self::InviteRevoked(e) => e.room_id,
        }
    }
}

/// Every event of the system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    User(UserEvent),
    Username(UsernameEvent),
    Friendship(FriendshipEvent),
    Room(RoomEvent),
    Meetup(MeetupEvent),
}

macro_rules! try_from_domain {
    ($($outer:ident => $enum:ident),*) => {$(
        impl TryFrom<DomainEvent> for $enum {
            type Error = DomainEvent;
            fn try_from(e: DomainEvent) -> Result<Self, DomainEvent> {
                match e {
                    DomainEvent::$outer(inner) => Ok(inner),
                    other => Err(other),
                }
            }
        }
    )*};
}
try_from_domain!(User => UserEvent, Username => UsernameEvent, Friendship => FriendshipEvent, Room => RoomEvent, Meetup => MeetupEvent);

impl From<UserEvent> for DomainEvent {
    fn from(e: UserEvent) -> Self {
        Self::User(e)
    }
}
impl From<UsernameEvent> for DomainEvent {
    fn from(e: UsernameEvent) -> Self {
        Self::Username(e)
    }
}
impl From<FriendshipEvent> for DomainEvent {
    fn from(e: FriendshipEvent) -> Self {
        Self::Friendship(e)
    }
}
impl From<RoomEvent> for DomainEvent {
    fn from(e: RoomEvent) -> Self {
        Self::Room(e)
    }
}
impl From<MeetupEvent> for DomainEvent {
    fn from(e: MeetupEvent) -> Self {
        Self::Meetup(e)
    }
}

/// Each event type with its stored name and current schema version. The one
/// table both encoding and decoding read.
macro_rules! event_table {
    ($m:ident) => {
        $m! {
            User, UserEvent, Registered, UserRegistered, "user.registered", 2;
            User, UserEvent, DisplayNameChanged, DisplayNameChanged, "user.display_name_changed", 2;
            Username, UsernameEvent, Claimed, UsernameClaimed, "username.claimed", 2;
            Friendship, FriendshipEvent, Requested, FriendRequested, "friendship.requested", 1;
            Friendship, FriendshipEvent, Accepted, FriendRequestAccepted, "friendship.accepted", 1;
            Friendship, FriendshipEvent, Ended, FriendshipEnded, "friendship.ended", 1;
            Room, RoomEvent, Created, RoomCreated, "room.created", 1;
            Room, RoomEvent, Renamed, RoomRenamed, "room.renamed", 1;
            Room, RoomEvent, MemberAdded, MemberAdded, "room.member_added", 2;
            Room, RoomEvent, MemberLeft, MemberLeft, "room.member_left", 2;
            Room, RoomEvent, MemberKicked, MemberKicked, "room.member_kicked", 1;
            Room, RoomEvent, MessagePosted, MessagePosted, "room.message_posted", 2;
            Room, RoomEvent, MessageEdited, MessageEdited, "room.message_edited", 2;
            Room, RoomEvent, MessageDeleted, MessageDeleted, "room.message_deleted", 1;
            Room, RoomEvent, ReadMarkerMoved, ReadMarkerMoved, "room.read_marker_moved", 1;
            Room, RoomEvent, AttachmentUploaded, AttachmentUploaded, "room.attachment_uploaded", 1;
            Room, RoomEvent, AttachmentDiscarded, AttachmentDiscarded, "room.attachment_discarded", 1;
            Room, RoomEvent, ReactionAdded, ReactionAdded, "room.reaction_added", 1;
            Room, RoomEvent, ReactionRemoved, ReactionRemoved, "room.reaction_removed", 1;
            Room, RoomEvent, MessageHidden, MessageHidden, "room.message_hidden", 1;
            Room, RoomEvent, NoticeSet, NoticeSet, "room.notice_set", 1;
            Room, RoomEvent, NoticeCleared, NoticeCleared, "room.notice_cleared", 1;
            // The people phase (issue 16).
            Room, RoomEvent, MemberRoleChanged, MemberRoleChanged, "room.member_role_changed", 1;
            Room, RoomEvent, InviteCreated, InviteCreated, "room.invite_created", 1;
            Room, RoomEvent, InviteRevoked, InviteRevoked, "room.invite_revoked", 1;
            User, UserEvent, Blocked, UserBlocked, "user.blocked", 1;
            User, UserEvent, Unblocked, UserUnblocked, "user.unblocked", 1;
            User, UserEvent, RoomMuted, RoomMuted, "user.room_muted", 1;
            User, UserEvent, RoomUnmuted, RoomUnmuted, "user.room_unmuted", 1;
            User, UserEvent, StatusMessageChanged, StatusMessageChanged, "user.status_message_changed", 2;
            User, UserEvent, PresenceVisibilityChanged, PresenceVisibilityChanged, "user.presence_visibility_changed", 1;
            Friendship, FriendshipEvent, Shadowed, FriendRequestShadowed, "friendship.request_shadowed", 1;
            Meetup, MeetupEvent, Planned, MeetupPlanned, "meetup.planned", 1;
            Meetup, MeetupEvent, Changed, MeetupChanged, "meetup.changed", 1;
            Meetup, MeetupEvent, Cancelled, MeetupCancelled, "meetup.cancelled", 1;
            Meetup, MeetupEvent, AttendeeInvited, AttendeeInvited, "meetup.attendee_invited", 1;
            Meetup, MeetupEvent, RsvpGiven, RsvpGiven, "meetup.rsvp_given", 1;
            Meetup, MeetupEvent, ReminderDue, MeetupReminderDue, "meetup.reminder_due", 1;
            User, UserEvent, PasswordChanged, PasswordChanged, "user.password_changed", 1;
            User, UserEvent, CalendarFeedRotated, CalendarFeedRotated, "user.calendar_feed_rotated", 1;
            User, UserEvent, NotificationsRead, NotificationsRead, "user.notifications_read", 1;
            User, UserEvent, AccountDeleted, AccountDeleted, "user.account_deleted", 1;
        }
    };
}

/// Every stored event type name with its current schema version.
pub const EVENT_TYPES: &[(&str, u16)] = {
    macro_rules! names {
        ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
            &[$(($name, $ver)),*]
        };
    }
    event_table!(names)
};

/// A stored payload could not be turned into an event.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("event type {event_type} has no schema version {version}")]
    UnknownVersion { event_type: String, version: u16 },
    #[error("bad payload for {event_type}: {source}")]
    Payload {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

impl DomainEvent {
    /// The stable stored name, such as `room.message_posted`.
    pub fn event_type(&self) -> &'static str {
        macro_rules! name_of {
            ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
                match self { $(Self::$outer($enum::$variant(_)) => $name,)* }
            };
        }
        event_table!(name_of)
    }

    /// The schema version this build writes for the event's type.
    pub fn schema_version(&self) -> u16 {
        macro_rules! version_of {
            ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
                match self { $(Self::$outer($enum::$variant(_)) => $ver,)* }
            };
        }
        event_table!(version_of)
    }

    /// The stream type the event belongs to.
    pub fn stream_type(&self) -> StreamType {
        match self {
            Self::User(_) => StreamType::User,
            Self::Username(_) => StreamType::Username,
            Self::Friendship(_) => StreamType::Friendship,
            Self::Room(_) => StreamType::Room,
            Self::Meetup(_) => StreamType::Meetup,
        }
    }

    /// The stream the event is appended to: the user, the username claim,
    /// the pair's friendship, the room or the meet-up.
    pub fn stream_id(&self) -> StreamId {
        match self {
            Self::User(e) => e.user_id().into(),
            Self::Username(UsernameEvent::Claimed(e)) => match (&e.name_key, &e.username) {
                (Some(key), _) => StreamId::for_name_key(key),
                (None, Some(name)) => StreamId::for_username(name),
                (None, None) => StreamId::for_name_key(""),
            },
            Self::Friendship(FriendshipEvent::Requested(e)) => {
                StreamId::for_friendship(e.from, e.to)
            }
            Self::Friendship(FriendshipEvent::Accepted(e)) => {
                StreamId::for_friendship(e.by, e.requester)
            }
            Self::Friendship(FriendshipEvent::Ended(e)) => StreamId::for_friendship(e.by, e.other),
            Self::Friendship(FriendshipEvent::Shadowed(e)) => {
                StreamId::for_friendship(e.from, e.to)
            }
            Self::Room(e) => e.room_id().into(),
            Self::Meetup(e) => e.meetup_id().into(),
        }
    }

    /// The JSON payload stored for the event (its fields, current version).
    pub fn payload(&self) -> serde_json::Value {
        macro_rules! payload_of {
            ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
                match self { $(Self::$outer($enum::$variant(e)) => serde_json::to_value(e),)* }
            };
        }
        event_table!(payload_of).expect("event payloads are plain data and always serialise")
    }

    /// The same payload as [`DomainEvent::payload`], serialised in place
    /// (no `serde_json::Value` built first). Field order may differ from
    /// `payload()`'s text (a `Value` sorts its keys); the JSON means the same.
    pub fn payload_ref(&self) -> PayloadRef<'_> {
        PayloadRef(self)
    }

    /// Decode a stored event, upcasting an older schema version first.
    pub fn decode(
        event_type: &str,
        schema_version: u16,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let payload = upcast(event_type, schema_version, payload)?;
        macro_rules! decode_of {
            ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
                match event_type {
                    $($name => serde_json::from_value::<$ty>(payload)
                        .map(|e| Self::$outer($enum::$variant(e))),)*
                    other => return Err(DecodeError::UnknownType(other.to_owned())),
                }
            };
        }
        event_table!(decode_of).map_err(|source| DecodeError::Payload {
            event_type: event_type.to_owned(),
            source,
        })
    }
}

/// An event's payload as it is serialised: see [`DomainEvent::payload_ref`].
pub struct PayloadRef<'a>(&'a DomainEvent);

impl Serialize for PayloadRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        macro_rules! serialize_of {
            ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
                match self.0 { $(DomainEvent::$outer($enum::$variant(e)) => e.serialize(serializer),)* }
            };
        }
        event_table!(serialize_of)
    }
}

impl DomainEvent {
    /// Decode a stored event from its payload's JSON text. The same result as
    /// [`DomainEvent::decode`], but a payload of the current schema version is
    /// parsed straight into its event type, without building a
    /// `serde_json::Value` first (about twice as fast, which is what bulk
    /// replays of the whole log need); older versions go through the
    /// upcasters.
    pub fn decode_json(
        event_type: &str,
        schema_version: u16,
        json: &str,
    ) -> Result<Self, DecodeError> {
        let current = EVENT_TYPES
            .iter()
            .find(|(name, _)| *name == event_type)
            .map(|(_, v)| *v)
            .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
        let payload_error = |source| DecodeError::Payload {
            event_type: event_type.to_owned(),
            source,
        };
        if schema_version != current {
            let value = serde_json::from_str(json).map_err(payload_error)?;
            return Self::decode(event_type, schema_version, value);
        }
        macro_rules! decode_json_of {
            ($($outer:ident, $enum:ident, $variant:ident, $ty:ident, $name:literal, $ver:literal;)*) => {
                match event_type {
                    $($name => serde_json::from_str::<$ty>(json)
                        .map(|e| Self::$outer($enum::$variant(e))),)*
                    other => return Err(DecodeError::UnknownType(other.to_owned())),
                }
            };
        }
        event_table!(decode_json_of).map_err(payload_error)
    }
}

/// Bring a payload of an older schema version up to the current one, one step
/// at a time. Each step is written out; nothing is guessed.
///
/// History:
/// - `room.member_left` v1 had no `new_owner` (ownership did not pass on when
///   the owner left); v2 adds it, and a v1 event is read as `new_owner: null`.
/// - `room.message_posted` v1 had neither attachments nor mentions; v2 adds
///   both, and a v1 event is read with empty lists of each.
/// - `room.message_edited` v1 did not name the message's author; v2 does
///   (so that an edit's frame can be withheld from whoever blocked them,
///   issue 16), and a v1 event is read as `author_id: null`.
/// - `room.member_added` v1 had no `via_invite` (there were no invite
///   links); v2 adds it, and a v1 event is read as `via_invite: null`.
/// - `user.registered`, `user.display_name_changed` and
///   `user.status_message_changed` v1 carried personal fields as plain
///   strings; v2 seals them ([`crate::pii`]). [`Personal`] reads both, so
///   the step changes nothing: a v1 field is [`Personal::Plain`].
/// - `username.claimed` v1 carried `username`; v2 carries `name_key`
///   instead. The v1 shape is read as is (`username` set, no `name_key`).
fn upcast(
    event_type: &str,
    version: u16,
    mut payload: serde_json::Value,
) -> Result<serde_json::Value, DecodeError> {
    let current = EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, v)| *v)
        .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
    if version == 0 || version > current {
        return Err(DecodeError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
        });
    }
    let mut v = version;
    while v < current {
        match (event_type, v) {
            ("room.member_left", 1) => {
                if let Some(obj) = payload.as_object_mut() {
                    obj.entry("new_owner").or_insert(serde_json::Value::Null);
                }
            }
            ("room.message_edited", 1) => {
                if let Some(obj) = payload.as_object_mut() {
                    obj.entry("author_id").or_insert(serde_json::Value::Null);
                }
            }
            ("room.member_added", 1) => {
                if let Some(obj) = payload.as_object_mut() {
                    obj.entry("via_invite").or_insert(serde_json::Value::Null);
                }
            }
            (
                "user.registered"
                | "user.display_name_changed"
                | "user.status_message_changed"
                | "username.claimed",
                1,
            ) => {}
            ("room.message_posted", 1) => {
                if let Some(obj) = payload.as_object_mut() {
                    obj.entry("attachments").or_insert(serde_json::json!([]));
                    obj.entry("mentions").or_insert(serde_json::json!([]));
                }
            }
            _ => {
                return Err(DecodeError::UnknownVersion {
                    event_type: event_type.to_owned(),
                    version: v,
                })
            }
        }
        v += 1;
    }
    Ok(payload)
}

/// Who and what caused an event; stored beside it, never inside the payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The authenticated user whose command produced the event.
    pub actor: Option<UserId>,
    /// The command that produced it (one per HTTP request).
    pub command_id: Option<uuid::Uuid>,
    /// The client's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
    /// Correlates the events of one user action across services.
    pub correlation_id: Option<uuid::Uuid>,
}

/// One event as stored in the log, with its place in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global position: strictly increasing in commit order.
    pub position: i64,
    pub event_id: EventId,
    pub stream_id: StreamId,
    pub stream_type: StreamType,
    /// 1, 2, 3 … within the stream.
    pub version: i64,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
    pub event: DomainEvent,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .into()
    }

    #[test]
    fn round_trips_through_type_version_and_payload() {
        let e = DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
            room_id: RoomId(Uuid::from_u128(1)),
            message_id: MessageId(Uuid::from_u128(2)),
            seq: 7,
            author_id: UserId(Uuid::from_u128(3)),
            body: "회의는 3시에".into(),
            reply_to: None,
            attachments: vec![Attachment {
                attachment_id: crate::AttachmentId(Uuid::from_u128(5)),
                content_type: "image/png".into(),
                size: 2048,
                sha256: "ab".repeat(32),
                name: Some("회의실.png".into()),
                width: Some(640),
                height: Some(480),
            }],
            mentions: vec![UserId(Uuid::from_u128(6))],
            at: at(),
        }));
        assert_eq!(e.event_type(), "room.message_posted");
        let back = DomainEvent::decode(e.event_type(), e.schema_version(), e.payload()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn message_edited_v1_is_upcast_to_no_author() {
        let v1 = serde_json::json!({
            "room_id": Uuid::from_u128(1), "message_id": Uuid::from_u128(2), "seq": 3,
            "body": "고침", "at": at(),
        });
        for e in [
            DomainEvent::decode("room.message_edited", 1, v1.clone()).unwrap(),
            DomainEvent::decode_json("room.message_edited", 1, &v1.to_string()).unwrap(),
        ] {
            match e {
                DomainEvent::Room(RoomEvent::MessageEdited(m)) => assert_eq!(m.author_id, None),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn member_left_v1_is_upcast() {
        let v1 = serde_json::json!({
            "room_id": Uuid::from_u128(1), "user_id": Uuid::from_u128(2), "at": at(),
        });
        let e = DomainEvent::decode("room.member_left", 1, v1).unwrap();
        match e {
            DomainEvent::Room(RoomEvent::MemberLeft(m)) => assert_eq!(m.new_owner, None),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn message_posted_v1_is_upcast_to_no_attachments_and_no_mentions() {
        let v1 = serde_json::json!({
            "room_id": Uuid::from_u128(1), "message_id": Uuid::from_u128(2), "seq": 3,
            "author_id": Uuid::from_u128(4), "body": "안녕", "reply_to": null, "at": at(),
        });
        for e in [
            DomainEvent::decode("room.message_posted", 1, v1.clone()).unwrap(),
            DomainEvent::decode_json("room.message_posted", 1, &v1.to_string()).unwrap(),
        ] {
            match e {
                DomainEvent::Room(RoomEvent::MessagePosted(m)) => {
                    assert!(m.attachments.is_empty() && m.mentions.is_empty());
                    assert_eq!(m.body, "안녕");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // A v2 payload must name both lists: only v1 is upcast.
        assert!(DomainEvent::decode("room.message_posted", 2, v1).is_err());
    }

    #[test]
    fn unknown_types_versions_and_fields_are_refused() {
        assert!(matches!(
            DomainEvent::decode("room.exploded", 1, serde_json::json!({})),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            DomainEvent::decode("room.renamed", 9, serde_json::json!({})),
            Err(DecodeError::UnknownVersion { .. })
        ));
        let extra = serde_json::json!({
            "user_id": Uuid::from_u128(2), "display_name": "x", "at": at(), "password_hash": "h",
        });
        assert!(DomainEvent::decode("user.display_name_changed", 1, extra).is_err());
    }

    #[test]
    fn decode_json_agrees_with_decode() {
        let e = DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
            room_id: RoomId(Uuid::from_u128(1)),
            message_id: MessageId(Uuid::from_u128(2)),
            seq: 7,
            author_id: UserId(Uuid::from_u128(3)),
            body: "회의는 \"3시\"에\n".into(),
            reply_to: Some(MessageId(Uuid::from_u128(4))),
            attachments: vec![],
            mentions: vec![],
            at: at(),
        }));
        let text = e.payload().to_string();
        assert_eq!(
            DomainEvent::decode_json(e.event_type(), e.schema_version(), &text).unwrap(),
            e
        );
        // An old version still goes through the upcaster.
        let v1 = serde_json::json!({
            "room_id": Uuid::from_u128(1), "user_id": Uuid::from_u128(2), "at": at(),
        });
        let old = DomainEvent::decode_json("room.member_left", 1, &v1.to_string()).unwrap();
        assert_eq!(old, DomainEvent::decode("room.member_left", 1, v1).unwrap());
        assert!(DomainEvent::decode_json("room.exploded", 1, "{}").is_err());
        assert!(DomainEvent::decode_json("room.renamed", 9, "{}").is_err());
        assert!(DomainEvent::decode_json("room.renamed", 1, "{\"x\": 1}").is_err());
    }
}
