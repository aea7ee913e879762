//! Read-model shapes of the people features (issue 16): a user's blocks and
//! mutes, a room's invite links and the invite lookup by token hash. Where
//! they are stored is `readmodel::people`'s.

use crate::ids::{InviteId, RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One user the owner of the list blocked, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    pub user_id: UserId,
    pub since: DateTime<Utc>,
}

/// One room the owner muted, until a time or for ever (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuteView {
    pub room_id: RoomId,
    pub until: Option<DateTime<Utc>>,
}

impl MuteView {
    /// Whether the mute holds at `at`.
    pub fn holds(&self, at: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| at < u)
    }
}

/// One invite link of a room, as its staff list them (never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteView {
    pub invite_id: InviteId,
    pub room_id: RoomId,
    pub created_by: UserId,
    pub expires_at: DateTime<Utc>,
    pub uses: u32,
    pub max_uses: Option<u32>,
    pub has_code: bool,
}

impl InviteView {
    /// Whether it still lets someone in at `at` (revoked links are not
    /// stored at all): the same rule as [`crate::invite::Invite::usable`].
    pub fn usable(&self, at: DateTime<Utc>) -> bool {
        at < self.expires_at && self.max_uses.is_none_or(|m| self.uses < m)
    }
}
