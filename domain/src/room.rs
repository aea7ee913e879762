//! The room aggregate: group and direct rooms, membership, messages with a
//! gapless per-room `seq`, and read markers.
//!
//! The whole room is one consistency boundary because every rule about a
//! message depends on membership at that instant (a member who just left must
//! not post). The state keeps per message only what rules need (author, seq,
//! deleted), so a cached room stays small next to its history.

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{
    MemberAdded, MemberKicked, MemberLeft, MessageDeleted, MessageEdited, MessagePosted,
    ReadMarkerMoved, RoomCreated, RoomEvent, RoomRenamed, StreamType,
};
use crate::ids::{MessageId, RoomId, UserId};
use crate::values::{MessageBody, RoomName, MAX_ROOM_MEMBERS};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// What the room stream knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Room {
    /// False until `room.created`.
    pub exists: bool,
    pub room_id: Option<RoomId>,
    pub direct: bool,
    pub name: String,
    pub owner: Option<UserId>,
    /// Current members with the order they joined in (for owner succession).
    pub members: BTreeMap<UserId, u64>,
    /// The `seq` of the last message; the next one gets `last_seq + 1`.
    pub last_seq: u64,
    pub messages: HashMap<MessageId, MessageMeta>,
    pub read_markers: HashMap<UserId, u64>,
    joins: u64,
}

/// What rules need to know of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub seq: u64,
    pub author: UserId,
    pub deleted: bool,
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
    Post {
        actor: UserId,
        message_id: MessageId,
        body: MessageBody,
        reply_to: Option<MessageId>,
        at: DateTime<Utc>,
    },
    Edit {
        actor: UserId,
        message_id: MessageId,
        body: MessageBody,
        at: DateTime<Utc>,
    },
    Delete {
        actor: UserId,
        message_id: MessageId,
        at: DateTime<Utc>,
    },
    /// Move the actor's read marker forward to `seq` (clamped to the last message).
    MarkRead {
        actor: UserId,
        seq: u64,
        at: DateTime<Utc>,
    },
}

impl Room {
    /// Whether `user` is a member now.
    pub fn is_member(&self, user: UserId) -> bool {
        self.members.contains_key(&user)
    }

    /// The room id, once created.
    fn id(&self) -> Result<RoomId, DomainError> {
        self.room_id.ok_or(DomainError::RoomNotFound)
    }

    /// The room as the actor may see it: it exists and they are in it.
    /// Both failures are the same answer, so nothing leaks which rooms exist.
    fn as_member(&self, actor: UserId) -> Result<RoomId, DomainError> {
        if self.exists && self.is_member(actor) {
            self.id()
        } else {
            Err(DomainError::RoomNotFound)
        }
    }

    /// The member who has been in the room longest, other than `leaving`.
    fn successor(&self, leaving: UserId) -> Option<UserId> {
        self.members
            .iter()
            .filter(|(u, _)| **u != leaving)
            .min_by_key(|(_, order)| **order)
            .map(|(u, _)| *u)
    }

    fn message(&self, id: MessageId) -> Result<MessageMeta, DomainError> {
        self.messages
            .get(&id)
            .copied()
            .ok_or(DomainError::MessageNotFound)
    }

    fn add(&mut self, user: UserId) {
        if !self.members.contains_key(&user) {
            self.joins += 1;
            self.members.insert(user, self.joins);
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
                        at: *at,
                    })
                }
            }
            C::Rename { actor, name, at } => {
                let room_id = self.as_member(*actor)?;
                if self.direct {
                    return Err(DomainError::DirectRoomFixed);
                }
                if self.owner != Some(*actor) {
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
                    if self.direct || self.owner != Some(*actor) {
                        return Err(DomainError::NotRoomOwner);
                    }
                    if !self.is_member(*user_id) {
                        return Err(DomainError::MemberNotFound);
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
                at,
            } => {
                let room_id = self.as_member(*actor)?;
                if let Some(parent) = reply_to {
                    self.message(*parent)?;
                }
                if self.messages.contains_key(message_id) {
                    // A message id is made fresh for each command; a repeat is a bug upstream.
                    return Err(DomainError::MessageNotFound);
                }
                RoomEvent::MessagePosted(MessagePosted {
                    room_id,
                    message_id: *message_id,
                    seq: self.last_seq + 1,
                    author_id: *actor,
                    body: body.to_string(),
                    reply_to: *reply_to,
                    at: *at,
                })
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
                    body: body.to_string(),
                    at: *at,
                })
            }
            C::Delete {
                actor,
                message_id,
                at,
            } => {
                let room_id = self.as_member(*actor)?;
                let m = self.message(*message_id)?;
                if m.author != *actor && self.owner != Some(*actor) {
                    return Err(DomainError::NotMessageAuthor);
                }
                if m.deleted {
                    return Ok(vec![]);
                }
                RoomEvent::MessageDeleted(MessageDeleted {
                    room_id,
                    message_id: *message_id,
                    seq: m.seq,
                    author_id: m.author,
                    by: *actor,
                    at: *at,
                })
            }
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
            RoomEvent::MemberAdded(e) => self.add(e.user_id),
            RoomEvent::MemberLeft(e) => {
                self.members.remove(&e.user_id);
                if self.owner == Some(e.user_id) {
                    self.owner = e.new_owner;
                }
            }
            RoomEvent::MemberKicked(e) => {
                self.members.remove(&e.user_id);
            }
            RoomEvent::MessagePosted(e) => {
                self.last_seq = e.seq;
                self.messages.insert(
                    e.message_id,
                    MessageMeta {
                        seq: e.seq,
                        author: e.author_id,
                        deleted: false,
                    },
                );
                self.read_markers.insert(e.author_id, e.seq);
            }
            RoomEvent::MessageEdited(_) => {}
            RoomEvent::MessageDeleted(e) => {
                if let Some(m) = self.messages.get_mut(&e.message_id) {
                    m.deleted = true;
                }
            }
            RoomEvent::ReadMarkerMoved(e) => {
                let marker = self.read_markers.entry(e.user_id).or_insert(0);
                *marker = (*marker).max(e.seq);
            }
        }
        self
    }
}

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;
