//! The room's people rules (issue 16): roles and ownership transfer, invite
//! links and joining through them. Part of the room aggregate
//! ([`super::Room`]); each `decide_*` answers one [`super::RoomCommand`].

use super::{Room, RoomRole};
use crate::error::DomainError;
use crate::event::{InviteCreated, InviteRevoked, MemberAdded, MemberRoleChanged, RoomEvent};
use crate::ids::{InviteId, UserId};
use crate::invite::{code_matches, Invite, InviteCode, InviteExpiry, InviteToken, TokenHash};
use crate::values::MAX_ROOM_MEMBERS;
use chrono::{DateTime, Utc};

/// What a new invite asks for, borrowed from [`super::RoomCommand::CreateInvite`].
pub(super) struct NewInvite<'a> {
    pub invite_id: InviteId,
    pub token_hash: &'a TokenHash,
    pub expires_in: InviteExpiry,
    pub max_uses: Option<u32>,
    pub code: Option<&'a InviteCode>,
}

type Decision = Result<Vec<RoomEvent>, DomainError>;

impl Room {
    pub(super) fn decide_change_role(
        &self,
        actor: UserId,
        user_id: UserId,
        role: RoomRole,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        if self.direct {
            return Err(DomainError::DirectRoomFixed);
        }
        if self.owner != Some(actor) {
            return Err(DomainError::NotRoomOwner);
        }
        let current = self.role(user_id).ok_or(DomainError::MemberNotFound)?;
        if current == role {
            return Ok(vec![]);
        }
        if user_id == actor {
            // Only a transfer to someone else moves the owner's role.
            return Err(DomainError::OwnerRoleFixed);
        }
        let change = |user_id, role| {
            RoomEvent::MemberRoleChanged(MemberRoleChanged {
                room_id,
                user_id,
                role,
                by: actor,
                at,
            })
        };
        let mut events = vec![change(user_id, role)];
        if role == RoomRole::Owner {
            events.push(change(actor, RoomRole::Admin));
        }
        Ok(events)
    }

    pub(super) fn decide_create_invite(
        &self,
        actor: UserId,
        invite: NewInvite<'_>,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.staff_of_group(actor)?;
        if invite.max_uses == Some(0) {
            return Err(DomainError::InvalidInvite);
        }
        if self.invites.contains_key(&invite.invite_id)
            || self
                .invites
                .values()
                .any(|i| i.token_hash == invite.token_hash.as_str())
        {
            // Ids and tokens are made fresh for each command; a repeat is a bug upstream.
            return Err(DomainError::InvalidInvite);
        }
        Ok(vec![RoomEvent::InviteCreated(InviteCreated {
            room_id,
            invite_id: invite.invite_id,
            token_hash: invite.token_hash.as_str().to_owned(),
            created_by: actor,
            expires_at: invite.expires_in.expires_at(at),
            max_uses: invite.max_uses,
            code_hash: invite.code.map(|c| c.hash(invite.invite_id)),
            at,
        })])
    }

    pub(super) fn decide_revoke_invite(
        &self,
        actor: UserId,
        invite_id: InviteId,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.staff_of_group(actor)?;
        // Revoked, expired and used-up links are gone from the list, so
        // revoking one is the same answer as an unknown id.
        if !self.invites.get(&invite_id).is_some_and(|i| i.usable(at)) {
            return Err(DomainError::InviteNotFound);
        }
        Ok(vec![RoomEvent::InviteRevoked(InviteRevoked {
            room_id,
            invite_id,
            by: actor,
            at,
        })])
    }

    pub(super) fn decide_join_by_invite(
        &self,
        actor: UserId,
        token: &InviteToken,
        code: Option<&str>,
        at: DateTime<Utc>,
    ) -> Decision {
        let (invite_id, invite) = self
            .usable_invite(token, at)
            .ok_or(DomainError::InviteNotFound)?;
        // A room everyone has left has no owner; an invite does not reopen
        // it (a joiner would be a member of a room without an owner), and
        // the answer is the one for any unusable invite.
        if self.members.is_empty() {
            return Err(DomainError::InviteNotFound);
        }
        let room_id = self.id()?;
        // The code before membership: without it, nothing about the room
        // is confirmed.
        if let Some(stored) = &invite.code_hash {
            if !code.is_some_and(|c| code_matches(invite_id, c, stored)) {
                return Err(DomainError::InvalidInviteCode);
            }
        }
        if self.is_member(actor) {
            return Err(DomainError::AlreadyMember);
        }
        if self.members.len() >= MAX_ROOM_MEMBERS {
            return Err(DomainError::TooManyMembers);
        }
        Ok(vec![RoomEvent::MemberAdded(MemberAdded {
            room_id,
            user_id: actor,
            by: actor,
            via_invite: Some(invite_id),
            at,
        })])
    }

    /// The invite this token opens at `at`, if any (for previews too).
    pub fn usable_invite(
        &self,
        token: &InviteToken,
        at: DateTime<Utc>,
    ) -> Option<(InviteId, &Invite)> {
        if !self.exists || self.direct {
            return None;
        }
        let hash = token.hash();
        self.invites
            .iter()
            .find(|(_, i)| i.token_hash == hash.as_str())
            .filter(|(_, i)| i.usable(at))
            .map(|(id, i)| (*id, i))
    }

    /// The room, for an owner or admin of a group room (invite management).
    fn staff_of_group(&self, actor: UserId) -> Result<crate::ids::RoomId, DomainError> {
        let room_id = self.as_member(actor)?;
        if self.direct {
            return Err(DomainError::DirectRoom);
        }
        if !self.moderates(actor) {
            return Err(DomainError::NotRoomAdmin);
        }
        Ok(room_id)
    }

    /// Each join through an invite is one use of it.
    pub(super) fn count_invite_use(&mut self, e: &MemberAdded) {
        if let Some(invite) = e.via_invite.and_then(|id| self.invites.get_mut(&id)) {
            invite.uses = invite.uses.saturating_add(1);
        }
    }

    pub(super) fn evolve_people(&mut self, event: &RoomEvent) {
        match event {
            RoomEvent::MemberRoleChanged(e) => {
                self.admins.remove(&e.user_id);
                match e.role {
                    // The old owner is an ordinary member until the second
                    // event of the transfer makes them an admin.
                    RoomRole::Owner => self.owner = Some(e.user_id),
                    RoomRole::Admin => {
                        self.admins.insert(e.user_id);
                    }
                    RoomRole::Member => {}
                }
            }
            RoomEvent::InviteCreated(e) => {
                self.invites.insert(
                    e.invite_id,
                    Invite {
                        token_hash: e.token_hash.clone(),
                        created_by: e.created_by,
                        expires_at: e.expires_at,
                        max_uses: e.max_uses,
                        code_hash: e.code_hash.clone(),
                        uses: 0,
                        revoked: false,
                    },
                );
            }
            RoomEvent::InviteRevoked(e) => {
                if let Some(invite) = self.invites.get_mut(&e.invite_id) {
                    invite.revoked = true;
                }
            }
            _ => {}
        }
    }
}
