//! How the people events (issue 16) change the `redis` read model: roles,
//! invite links, blocks, mutes, status messages and the user search index.
//!
//! - A role change is a plain fact: the member's role becomes the event's;
//!   an `owner` also moves the room's `owner_id` (a transfer is two events,
//!   the second making the old owner an admin, see
//!   `domain::event::MemberRoleChanged`).
//! - A join through an invite counts one use of it.
//! - A revoked invite leaves the room's invite list; its token keeps naming
//!   it, and a token whose invite is gone opens nothing.
//! - A shadowed friend request shows only in the sender's outgoing list.

use super::overlay::Overlay;
use domain::event::{FriendRequestShadowed, RoomEvent, UserEvent};
use domain::ids::UserId;
use domain::room::RoomRole;
use domain::views::{FriendEntryView, FriendState, Role};
use domain::views_people::{BlockView, InviteView, MuteView};
use tracing::warn;

impl Overlay {
    /// A people event of the user stream.
    pub(super) fn user_people(&mut self, e: &UserEvent, position: i64) {
        match e {
            // Credentials are no read model (sessions, issue 18); the
            // calendar feed's token is the history projection's (issue 17).
            UserEvent::PasswordChanged(_)
            | UserEvent::CalendarFeedRotated(_)
            | UserEvent::NotificationsRead(_) => {}
            UserEvent::Blocked(b) => {
                let v = BlockView {
                    user_id: b.blocked,
                    since: b.at,
                };
                self.blocks.insert((b.user_id, b.blocked), Some(v));
            }
            UserEvent::Unblocked(b) => {
                self.blocks.insert((b.user_id, b.blocked), None);
            }
            UserEvent::RoomMuted(m) => {
                let v = MuteView {
                    room_id: m.room_id,
                    until: m.until,
                };
                self.mutes.insert((m.user_id, m.room_id), Some(v));
            }
            UserEvent::RoomUnmuted(m) => {
                self.mutes.insert((m.user_id, m.room_id), None);
            }
            UserEvent::PresenceVisibilityChanged(c) => {
                self.profile_change(c.user_id, position, |p| p.show_presence = c.show_presence);
            }
            // Personal fields and deletion: `apply_pii`.
            UserEvent::Registered(_)
            | UserEvent::DisplayNameChanged(_)
            | UserEvent::StatusMessageChanged(_)
            | UserEvent::AccountDeleted(_) => {}
        }
    }

    fn profile_change(
        &mut self,
        user: UserId,
        position: i64,
        change: impl FnOnce(&mut domain::views::ProfileView),
    ) {
        if let Some(Some(p)) = self.profiles.get_mut(&user) {
            change(p);
            self.dirty_profiles.insert(user);
        } else {
            warn!(user_id = %user, position, "profile change for unknown user");
        }
    }

    /// Record that `user`'s search terms are now `terms` (keeping the
    /// terms they had before the batch, to remove the stale ones).
    pub(super) fn search_terms(&mut self, user: UserId, before: Vec<String>, terms: Vec<String>) {
        self.search_terms
            .entry(user)
            .and_modify(|(_, now)| *now = terms.clone())
            .or_insert((before, terms));
    }

    /// Only the sender's own outgoing list shows a shadowed request.
    pub(super) fn shadowed(&mut self, s: &FriendRequestShadowed) {
        let v = FriendEntryView {
            state: FriendState::Outgoing,
            since: s.at,
        };
        self.friends.insert((s.from, s.to), Some(v));
    }

    /// A people event of the room stream.
    pub(super) fn room_people(&mut self, r: &RoomEvent, position: i64) {
        match r {
            RoomEvent::MemberRoleChanged(c) => {
                let role = match c.role {
                    RoomRole::Owner => Role::Owner,
                    RoomRole::Admin => Role::Admin,
                    RoomRole::Member => Role::Member,
                };
                if c.role == RoomRole::Owner {
                    if let Some(Some(room)) = self.rooms.get_mut(&c.room_id) {
                        room.owner_id = c.user_id;
                        self.dirty_rooms.insert(c.room_id);
                    } else {
                        warn!(room_id = %c.room_id, position, "role change in a room the read model lacks");
                    }
                }
                if let Some(m) = self
                    .members
                    .get_mut(&c.room_id)
                    .and_then(|m| m.get_mut(&c.user_id))
                {
                    m.role = role;
                    self.dirty_members.insert((c.room_id, c.user_id));
                }
            }
            RoomEvent::InviteCreated(c) => {
                let v = InviteView {
                    invite_id: c.invite_id,
                    room_id: c.room_id,
                    created_by: c.created_by,
                    expires_at: c.expires_at,
                    uses: 0,
                    max_uses: c.max_uses,
                    has_code: c.code_hash.is_some(),
                };
                self.invites.insert((c.room_id, c.invite_id), Some(v));
                self.dirty_invites.insert((c.room_id, c.invite_id));
                self.invite_tokens
                    .insert(c.token_hash.clone(), (c.room_id, c.invite_id));
            }
            RoomEvent::InviteRevoked(c) => {
                self.invites.insert((c.room_id, c.invite_id), None);
                self.dirty_invites.insert((c.room_id, c.invite_id));
            }
            RoomEvent::MemberAdded(c) => {
                if let Some(id) = c.via_invite {
                    if let Some(Some(v)) = self.invites.get_mut(&(c.room_id, id)) {
                        v.uses = v.uses.saturating_add(1);
                        self.dirty_invites.insert((c.room_id, id));
                    }
                }
            }
            _ => {}
        }
    }
}
