//! The room aggregate: group and direct rooms, membership, messages with a
//! gapless per-room `seq`, and read markers.
//!
//! The whole room is one consistency boundary because every rule about a
//! message depends on membership at that instant (a member who just left must
//! not post). The state keeps per message only what rules need (author, seq,
//! time, deleted), so a cached room stays small next to its history.
//!
//! The messenger features (attachments, mentions, reactions, hiding, notices,
//! the delete window) are decided and folded in `room_messages.rs`; roles and
//! invite links (issue 16) in `room_people.rs`.

use crate::aggregate::Aggregate;
use crate::attachment::Attachment;
use crate::error::DomainError;
use crate::event::{
    MemberAdded, MemberKicked, MemberLeft, MessageEdited, ReadMarkerMoved, RoomCreated, RoomEvent,
    RoomRenamed, StreamType,
};
use crate::ids::{AttachmentId, InviteId, MessageId, RoomId, UserId};
use crate::invite::{Invite, InviteCode, InviteExpiry, InviteToken, TokenHash};
use crate::reaction::ReactionEmoji;
use crate::unread::{unread_by, ReadingMember};
use crate::values::{DeleteWindow, MessageBody, RoomName, MAX_ROOM_MEMBERS};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What the room stream knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Room {
    /// False until `room.created`.
    pub exists: bool,
    pub room_id: Option<RoomId>,
    pub direct: bool,
    pub name: String,
    pub owner: Option<UserId>,
    /// Current members, with when they joined.
    pub members: BTreeMap<UserId, Membership>,
    /// The `seq` of the last message; the next one gets `last_seq + 1`.
    pub last_seq: u64,
    pub messages: HashMap<MessageId, MessageMeta>,
    pub read_markers: HashMap<UserId, u64>,
    /// Uploads to this room, by id (see [`Upload`]).
    pub uploads: HashMap<AttachmentId, Upload>,
    /// Per message, per emoji, who reacted with it.
    pub reactions: HashMap<MessageId, BTreeMap<String, BTreeSet<UserId>>>,
    /// Per user, the messages they hid from their own view. Only ever grows:
    /// hiding has no undo, and it outlives leaving and rejoining.
    pub hidden: HashMap<UserId, HashSet<MessageId>>,
    /// The room's notice: at most one, never a deleted message.
    pub notice: Option<MessageId>,
    /// Members with the `admin` role (never the owner).
    pub admins: BTreeSet<UserId>,
    /// Every invite link ever created, revoked and expired ones included.
    pub invites: HashMap<InviteId, Invite>,
    joins: u64,
}

/// One current membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    /// Order of joining (for owner succession): smaller joined earlier.
    pub order: u64,
    /// The `seq` of the first message posted during this membership
    /// (`last_seq + 1` at the join); see [`crate::unread`].
    pub joined_seq: u64,
}

/// What rules need to know of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub seq: u64,
    pub author: UserId,
    /// When it was posted (the delete window runs from here).
    pub at: DateTime<Utc>,
    pub deleted: bool,
}

/// An uploaded attachment's life in the room: uploaded (pending), then
/// either sent by one message or discarded as an orphan; never both, never
/// twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub uploaded_by: UserId,
    pub at: DateTime<Utc>,
    pub state: UploadState,
}

/// Where an upload stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadState {
    /// Uploaded; its metadata waits to go into a message.
    Pending(Attachment),
    /// A message carries it (the metadata lives in that `message_posted`).
    Sent(MessageId),
    /// The orphan sweeper discarded it; its bytes may be gone.
    Discarded,
}

/// A member's standing in the room (`owner | admin | member` in views and in
/// `room.member_role_changed`). Every rule that lets the room's staff do
/// more asks [`RoomRole::moderates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomRole {
    Owner,
    Admin,
    Member,
}

impl RoomRole {
    /// Whether this role may moderate: rename the room, kick members,
    /// manage invite links and delete anyone's message at any time.
    pub fn moderates(self) -> bool {
        match self {
            Self::Owner | Self::Admin => true,
            Self::Member => false,
        }
    }

    /// The name in views and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

/// Commands on a room. `actor` is the authenticated caller; new ids and the
/// time come in with the command.
#[derive(Clone, Debug)]
pub enum RoomCommand {
    /// Create a group room; `actor` becomes owner. The handler has checked
    /// that every member exists.
    Create {
        room_id: RoomId,
        actor: UserId,
        name: RoomName,
        members: Vec<UserId>,
        at: DateTime<Utc>,
    },
    /// Open the direct room of `actor` and `other` (its id is
    /// [`RoomId::direct`]): create it, rejoin it, or nothing if already in.
    OpenDirect {
        room_id: RoomId,
        actor: UserId,
        other: UserId,
        at: DateTime<Utc>,
    },
    Rename {
        actor: UserId,
        name: RoomName,
        at: DateTime<Utc>,
    },
    /// Any member may add someone (the handler has checked they exist).
    AddMember {
        actor: UserId,
        user_id: UserId,
        at: DateTime<Utc>,
    },
    /// `user_id == actor`: leave; otherwise kick (owner only).
    RemoveMember {
        actor: UserId,
        user_id: UserId,
        at: DateTime<Utc>,
    },
    /// Post a message: text, attachments (uploads of the actor's in this
    /// room, not yet sent), or both; `mentions` of current members.
    Post {
        actor: UserId,
        message_id: MessageId,
        /// `None` only when `attachments` is not empty.
        body: Option<MessageBody>,
        reply_to: Option<MessageId>,
        attachments: Vec<AttachmentId>,
        mentions: Vec<UserId>,
        at: DateTime<Utc>,
    },
    Edit {
        actor: UserId,
        message_id: MessageId,
        body: MessageBody,
        at: DateTime<Utc>,
    },
    /// Delete for everyone: the author within `window` of posting, a
    /// moderator (owner) at any time. Clears the notice if it was this message.
    Delete {
        actor: UserId,
        message_id: MessageId,
        window: DeleteWindow,
        at: DateTime<Utc>,
    },
    /// Move the actor's read marker forward to `seq` (clamped to the last message).
    MarkRead {
        actor: UserId,
        seq: u64,
        at: DateTime<Utc>,
    },
    /// Record a file the actor uploaded (its bytes are already stored).
    Upload {
        actor: UserId,
        attachment: Attachment,
        at: DateTime<Utc>,
    },
    /// The orphan sweeper: discard an upload no message sent within
    /// `orphan_after` of its upload. Refused (`invalid_attachment`) if it was
    /// sent or is not yet that old, so the sweeper deletes bytes only after
    /// this succeeds; already discarded is no new event.
    DiscardUpload {
        attachment_id: AttachmentId,
        orphan_after: chrono::TimeDelta,
        at: DateTime<Utc>,
    },
    /// React with one emoji (again: no new event).
    React {
        actor: UserId,
        message_id: MessageId,
        emoji: ReactionEmoji,
        at: DateTime<Utc>,
    },
    /// Take back the actor's reaction.
    Unreact {
        actor: UserId,
        message_id: MessageId,
        emoji: ReactionEmoji,
        at: DateTime<Utc>,
    },
    /// Hide a message from the actor's own view (again: no new event).
    Hide {
        actor: UserId,
        message_id: MessageId,
        at: DateTime<Utc>,
    },
    /// Make a message the room's notice (any member; the newest wins).
    SetNotice {
        actor: UserId,
        message_id: MessageId,
        at: DateTime<Utc>,
    },
    /// Take the notice down.
    ClearNotice { actor: UserId, at: DateTime<Utc> },
    /// The owner gives `user_id` a role; giving `owner` transfers ownership
    /// and makes the old owner an admin.
    ChangeRole {
        actor: UserId,
        user_id: UserId,
        role: RoomRole,
        at: DateTime<Utc>,
    },
    /// An owner or admin creates an invite link. The handler made the token
    /// ([`InviteToken::from_random`]) and answers it; only its hash is here.
    CreateInvite {
        actor: UserId,
        invite_id: InviteId,
        token_hash: TokenHash,
        expires_in: InviteExpiry,
        /// `None`: unlimited; `Some(0)` is `invalid_invite`.
        max_uses: Option<u32>,
        code: Option<InviteCode>,
        at: DateTime<Utc>,
    },
    /// An owner or admin revokes a usable invite link.
    RevokeInvite {
        actor: UserId,
        invite_id: InviteId,
        at: DateTime<Utc>,
    },
    /// Join through an invite link (the handler found the room by the
    /// token's hash); `code` as the joiner typed it.
    JoinByInvite {
        actor: UserId,
        token: InviteToken,
        code: Option<String>,
        at: DateTime<Utc>,
    },
}

impl Room {
    /// Whether `user` is a member now.
    pub fn is_member(&self, user: UserId) -> bool {
        self.members.contains_key(&user)
    }

    /// The actor's role, if they are a member.
    pub fn role(&self, user: UserId) -> Option<RoomRole> {
        if !self.is_member(user) {
            None
        } else if self.owner == Some(user) {
            Some(RoomRole::Owner)
        } else if self.admins.contains(&user) {
            Some(RoomRole::Admin)
        } else {
            Some(RoomRole::Member)
        }
    }

    /// What [`unread_by`] needs of each current member.
    pub fn reading_members(&self) -> Vec<ReadingMember> {
        self.members
            .iter()
            .map(|(user_id, m)| ReadingMember {
                user_id: *user_id,
                joined_seq: m.joined_seq,
                read_seq: self.read_markers.get(user_id).copied().unwrap_or(0),
            })
            .collect()
    }

    /// The unread "1" of a message, from the current state.
    pub fn unread_by(&self, message_id: MessageId) -> Option<u32> {
        let m = self.messages.get(&message_id)?;
        Some(unread_by(m.seq, m.author, &self.reading_members()))
    }

    /// The room id, once created.
    pub(crate) fn id(&self) -> Result<RoomId, DomainError> {
        self.room_id.ok_or(DomainError::RoomNotFound)
    }

    /// The room as the actor may see it: it exists and they are in it.
    /// Both failures are the same answer, so nothing leaks which rooms exist.
    pub(crate) fn as_member(&self, actor: UserId) -> Result<RoomId, DomainError> {
        if self.exists && self.is_member(actor) {
            self.id()
        } else {
            Err(DomainError::RoomNotFound)
        }
    }

    /// Whether `user` is a member who may moderate (owner or admin).
    pub fn moderates(&self, user: UserId) -> bool {
        self.role(user).is_some_and(RoomRole::moderates)
    }

    /// Who owns the room after `leaving` (the owner) leaves: the admin who
    /// has been in the room longest, else the member who has.
    fn successor(&self, leaving: UserId) -> Option<UserId> {
        self.members
            .iter()
            .filter(|(u, _)| **u != leaving)
            .min_by_key(|(u, m)| (!self.admins.contains(u), m.order))
            .map(|(u, _)| *u)
    }

    pub(crate) fn message(&self, id: MessageId) -> Result<MessageMeta, DomainError> {
        self.messages
            .get(&id)
            .copied()
            .ok_or(DomainError::MessageNotFound)
    }

    fn add(&mut self, user: UserId) {
        if !self.members.contains_key(&user) {
            self.joins += 1;
            let membership = Membership {
                order: self.joins,
                joined_seq: self.last_seq + 1,
            };
            self.members.insert(user, membership);
        }
    }
}

impl Aggregate for Room {
    const STREAM_TYPE: StreamType = StreamType::Room;
    type Command = RoomCommand;
    type Event = RoomEvent;

    fn decide(&self, command: &RoomCommand) -> Result<Vec<RoomEvent>, DomainError> {
        use RoomCommand as C;
        let event = match command {
            C::Create {
                room_id,
                actor,
                name,
                members,
                at,
            } => {
                if self.exists {
                    return Err(DomainError::RoomAlreadyExists);
                }
                let mut all = vec![*actor];
                for m in members {
                    if !all.contains(m) {
                        all.push(*m);
                    }
                }
                if all.len() > MAX_ROOM_MEMBERS {
                    return Err(DomainError::TooManyMembers);
                }
                RoomEvent::Created(RoomCreated {
                    room_id: *room_id,
                    name: name.to_string(),
                    owner_id: *actor,
                    direct: false,
                    members: all,
                    at: *at,
                })
            }
            C::OpenDirect {
                room_id,
                actor,
                other,
                at,
            } => {
                if *room_id != RoomId::direct(*actor, *other) || actor == other {
                    return Err(DomainError::RoomNotFound);
                }
                if !self.exists {
                    RoomEvent::Created(RoomCreated {
                        room_id: *room_id,
                        name: String::new(),
                        owner_id: *actor,
                        direct: true,
                        members: vec![*actor, *other],
                        at: *at,
                    })
                } else if self.is_member(*actor) {
                    return Ok(vec![]);
                } else {
                    RoomEvent::MemberAdded(MemberAdded {
                        room_id: *room_id,
                        user_id: *actor,
                        by: *actor,
                        via_invite: None,
                        at: *at,
                    })
                }
            }
            C::Rename { actor, name, at } => {
                let room_id = self.as_member(*actor)?;
                if self.direct {
                    return Err(DomainError::DirectRoomFixed);
                }
                // Admins rename too; the refusal keeps its v1 code.
                if !self.moderates(*actor) {
                    return Err(DomainError::NotRoomOwner);
                }
                if self.name == name.as_str() {
                    return Ok(vec![]);
                }
                RoomEvent::Renamed(RoomRenamed {
                    room_id,
                    name: name.to_string(),
                    by: *actor,
                    at: *at,
                })
            }
            C::AddMember { actor, user_id, at } => {
                let room_id = self.as_member(*actor)?;
                if self.direct {
                    return Err(DomainError::DirectRoomFixed);
                }
                if self.is_member(*user_id) {
                    return Err(DomainError::AlreadyMember);
                }
                if self.members.len() >= MAX_ROOM_MEMBERS {
                    return Err(DomainError::TooManyMembers);
                }
                RoomEvent::MemberAdded(MemberAdded {
                    room_id,
                    user_id: *user_id,
                    by: *actor,
                    via_invite: None,
                    at: *at,
                })
            }
            C::RemoveMember { actor, user_id, at } => {
                let room_id = self.as_member(*actor)?;
                if actor == user_id {
                    let new_owner = if self.owner == Some(*actor) && !self.direct {
                        self.successor(*actor)
                    } else {
                        None
                    };
                    RoomEvent::MemberLeft(MemberLeft {
                        room_id,
                        user_id: *user_id,
                        new_owner,
                        at: *at,
                    })
                } else {
                    // The owner kicks anyone, an admin only members; every
                    // refusal keeps the v1 code `not_room_owner`.
                    if self.direct || !self.moderates(*actor) {
                        return Err(DomainError::NotRoomOwner);
                    }
                    let target = self.role(*user_id).ok_or(DomainError::MemberNotFound)?;
                    if self.owner != Some(*actor) && target != RoomRole::Member {
                        return Err(DomainError::NotRoomOwner);
                    }
                    RoomEvent::MemberKicked(MemberKicked {
                        room_id,
                        user_id: *user_id,
                        by: *actor,
                        at: *at,
                    })
                }
            }
            C::Post {
                actor,
                message_id,
                body,
                reply_to,
                attachments,
                mentions,
                at,
            } => {
                let post = messages::Post {
                    message_id: *message_id,
                    body: body.as_ref(),
                    reply_to: *reply_to,
                    attachments,
                    mentions,
                };
                return self.decide_post(*actor, post, *at);
            }
            C::Edit {
                actor,
                message_id,
                body,
                at,
            } => {
                let room_id = self.as_member(*actor)?;
                let m = self.message(*message_id)?;
                if m.author != *actor {
                    return Err(DomainError::NotMessageAuthor);
                }
                if m.deleted {
                    return Err(DomainError::MessageDeleted);
                }
                RoomEvent::MessageEdited(MessageEdited {
                    room_id,
                    message_id: *message_id,
                    seq: m.seq,
                    author_id: Some(m.author),
                    body: body.to_string(),
                    at: *at,
                })
            }
            C::Delete {
                actor,
                message_id,
                window,
                at,
            } => return self.decide_delete(*actor, *message_id, *window, *at),
            C::MarkRead { actor, seq, at } => {
                let room_id = self.as_member(*actor)?;
                let seq = (*seq).min(self.last_seq);
                if seq <= self.read_markers.get(actor).copied().unwrap_or(0) {
                    return Ok(vec![]);
                }
                RoomEvent::ReadMarkerMoved(ReadMarkerMoved {
                    room_id,
                    user_id: *actor,
                    seq,
                    at: *at,
                })
            }
            C::Upload {
                actor,
                attachment,
                at,
            } => return self.decide_upload(*actor, attachment, *at),
            C::DiscardUpload {
                attachment_id,
                orphan_after,
                at,
            } => return self.decide_discard(*attachment_id, *orphan_after, *at),
            C::React {
                actor,
                message_id,
                emoji,
                at,
            } => return self.decide_react(*actor, *message_id, emoji, *at),
            C::Unreact {
                actor,
                message_id,
                emoji,
                at,
            } => return self.decide_unreact(*actor, *message_id, emoji, *at),
            C::Hide {
                actor,
                message_id,
                at,
            } => return self.decide_hide(*actor, *message_id, *at),
            C::SetNotice {
                actor,
                message_id,
                at,
            } => return self.decide_set_notice(*actor, *message_id, *at),
            C::ClearNotice { actor, at } => return self.decide_clear_notice(*actor, *at),
            C::ChangeRole {
                actor,
                user_id,
                role,
                at,
            } => return self.decide_change_role(*actor, *user_id, *role, *at),
            C::CreateInvite {
                actor,
                invite_id,
                token_hash,
                expires_in,
                max_uses,
                code,
                at,
            } => {
                let invite = people::NewInvite {
                    invite_id: *invite_id,
                    token_hash,
                    expires_in: *expires_in,
                    max_uses: *max_uses,
                    code: code.as_ref(),
                };
                return self.decide_create_invite(*actor, invite, *at);
            }
            C::RevokeInvite {
                actor,
                invite_id,
                at,
            } => return self.decide_revoke_invite(*actor, *invite_id, *at),
            C::JoinByInvite {
                actor,
                token,
                code,
                at,
            } => return self.decide_join_by_invite(*actor, token, code.as_deref(), *at),
        };
        Ok(vec![event])
    }

    fn evolve(mut self, event: &RoomEvent) -> Self {
        match event {
            RoomEvent::Created(e) => {
                self.exists = true;
                self.room_id = Some(e.room_id);
                self.direct = e.direct;
                self.name = e.name.clone();
                self.owner = Some(e.owner_id);
                for m in &e.members {
                    self.add(*m);
                }
            }
            RoomEvent::Renamed(e) => self.name = e.name.clone(),
            RoomEvent::MemberAdded(e) => {
                self.add(e.user_id);
                self.count_invite_use(e);
            }
            RoomEvent::MemberLeft(e) => {
                self.members.remove(&e.user_id);
                self.admins.remove(&e.user_id);
                if self.owner == Some(e.user_id) {
                    self.owner = e.new_owner;
                    if let Some(new_owner) = e.new_owner {
                        self.admins.remove(&new_owner);
                    }
                }
            }
            RoomEvent::MemberKicked(e) => {
                self.members.remove(&e.user_id);
                self.admins.remove(&e.user_id);
            }
            RoomEvent::MemberRoleChanged(_)
            | RoomEvent::InviteCreated(_)
            | RoomEvent::InviteRevoked(_) => self.evolve_people(event),
            RoomEvent::MessageEdited(_) => {}
            RoomEvent::ReadMarkerMoved(e) => {
                let marker = self.read_markers.entry(e.user_id).or_insert(0);
                *marker = (*marker).max(e.seq);
            }
            RoomEvent::MessagePosted(_)
            | RoomEvent::MessageDeleted(_)
            | RoomEvent::AttachmentUploaded(_)
            | RoomEvent::AttachmentDiscarded(_)
            | RoomEvent::ReactionAdded(_)
            | RoomEvent::ReactionRemoved(_)
            | RoomEvent::MessageHidden(_)
            | RoomEvent::NoticeSet(_)
            | RoomEvent::NoticeCleared(_) => self.evolve_message(event),
        }
        self
    }
}

#[path = "room_messages.rs"]
mod messages;

#[path = "room_people.rs"]
mod people;

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "room_messages_tests.rs"]
mod messages_tests;

#[cfg(test)]
#[path = "room_people_tests.rs"]
mod people_tests;
