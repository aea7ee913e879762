//! Events of the people features (issue 16): room roles and invite links on
//! the room stream, blocks, mutes and profile settings on the user stream,
//! and the shadowed friend request. Part of [`crate::event`]'s contract (same
//! naming, same versioning); a file of its own only to keep `event.rs`
//! readable.

use crate::ids::{InviteId, RoomId, UserId};
use crate::room::RoomRole;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// ---- room stream -------------------------------------------------------------

/// The owner gave `user_id` a new role.
///
/// Ownership transfer is two of these in one decision, in this order:
/// `{user_id: new owner, role: owner}` then `{user_id: old owner, role:
/// admin}`. Each is a plain fact a projection applies alone, and the room
/// has exactly one owner after each of them (between the two the old owner
/// is an ordinary member), so nothing is ever inferred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRoleChanged {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: RoomRole,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// An owner or admin created an invite link. Only the SHA-256 of the token
/// is recorded (hex), never the token: the log and every projection of it
/// can leak without making a link usable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteCreated {
    pub room_id: RoomId,
    pub invite_id: InviteId,
    /// Hex SHA-256 of the token ([`crate::invite::TokenHash`]).
    pub token_hash: String,
    pub created_by: UserId,
    pub expires_at: DateTime<Utc>,
    /// `None`: unlimited.
    pub max_uses: Option<u32>,
    /// Hex SHA-256 of the join code salted with the invite id
    /// ([`crate::invite::InviteCode::hash`]); `None`: no code.
    pub code_hash: Option<String>,
    pub at: DateTime<Utc>,
}

/// An owner or admin revoked an invite link; it no longer lets anyone in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRevoked {
    pub room_id: RoomId,
    pub invite_id: InviteId,
    pub by: UserId,
    pub at: DateTime<Utc>,
}

// ---- user stream -------------------------------------------------------------

/// `user_id` blocked `blocked`. Private: only `user_id`'s own views show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBlocked {
    pub user_id: UserId,
    pub blocked: UserId,
    pub at: DateTime<Utc>,
}

/// `user_id` no longer blocks `blocked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUnblocked {
    pub user_id: UserId,
    pub blocked: UserId,
    pub at: DateTime<Utc>,
}

/// `user_id` muted a room: no notifications from it until `until` (`None`:
/// for ever). Muting again replaces `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomMuted {
    pub user_id: UserId,
    pub room_id: RoomId,
    pub until: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// `user_id` unmuted a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomUnmuted {
    pub user_id: UserId,
    pub room_id: RoomId,
    pub at: DateTime<Utc>,
}

/// `user_id` set their status message (empty: none; sealed since v2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMessageChanged {
    pub user_id: UserId,
    pub status_message: crate::pii::Personal,
    pub at: DateTime<Utc>,
}

/// `user_id` showed or hid their presence from friends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceVisibilityChanged {
    pub user_id: UserId,
    pub show_presence: bool,
    pub at: DateTime<Utc>,
}

/// `user_id` read their notifications up to `up_to` (the notification
/// created by the event at `position`) and everything older. Only moves
/// forward: marking an older one read again records nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsRead {
    pub user_id: UserId,
    pub up_to: crate::notification::NotificationId,
    pub position: i64,
    pub at: DateTime<Utc>,
}

// ---- friendship stream -------------------------------------------------------

/// `from` asked `to` to be friends while one of them blocked the other. The
/// sender got the same 201 as for [`crate::event::FriendRequested`] and sees
/// the request as pending; `to` must never learn of it.
///
/// Why a type of its own and not a flag on `friendship.requested`: a
/// projection or notifier that does not know about blocking reads
/// `friendship.requested` and ignores this type, so the safe default is to
/// reach nobody. Only a projection of the sender's own outgoing list needs
/// to read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendRequestShadowed {
    pub from: UserId,
    pub to: UserId,
    pub at: DateTime<Utc>,
}
