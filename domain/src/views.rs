//! Read-model shapes, shared by the projector (which writes them), the query
//! side (which reads them) and the contract (which answers with them). Where
//! and how they are stored (Redis keys, tables, encodings) is the
//! `readmodel` crate's.
//!
//! The projections and their stores are listed at `readmodel::ProjectionName`.

use crate::ids::{MessageId, RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many characters of a message the room list shows.
pub const PREVIEW_CHARS: usize = 100;

/// A user's public profile (`GET /v1/users/{id}`, `GET /v1/me`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// Empty: none (issue 16). Absent in profiles stored before it.
    #[serde(default)]
    pub status_message: String,
    /// Whether friends see presence (issue 16); not part of any answer.
    #[serde(default = "shown")]
    pub show_presence: bool,
}

fn shown() -> bool {
    true
}

/// Where a relation between the owner of a friend list and another user stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FriendState {
    /// Friends.
    Friend,
    /// The other user asked; the owner has not answered.
    Incoming,
    /// The owner asked; the other has not answered.
    Outgoing,
}

/// One entry of a user's friend list (stored as JSON in the friends hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendEntryView {
    pub state: FriendState,
    /// When the request was made, or the friendship began.
    pub since: DateTime<Utc>,
}

/// A member's role in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

/// One member of a room (stored as JSON in the members hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// The last message of a room, as the room list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessageView {
    pub message_id: MessageId,
    pub seq: u64,
    pub author_id: UserId,
    pub body_preview: String,
    pub created_at: DateTime<Utc>,
}

/// A room's own fields (stored as JSON under the room key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomView {
    pub room_id: RoomId,
    pub name: String,
    pub owner_id: UserId,
    pub direct: bool,
    pub created_at: DateTime<Utc>,
    pub last_seq: u64,
    pub last_message: Option<LastMessageView>,
    pub last_activity_at: DateTime<Utc>,
}

/// One message as history and timelines show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub message_id: MessageId,
    pub room_id: RoomId,
    pub seq: u64,
    pub author_id: UserId,
    /// Empty when deleted.
    pub body: String,
    pub reply_to: Option<MessageId>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl LastMessageView {
    /// How the room list shows message `m` as its room's last.
    pub fn of(m: &MessageView) -> Self {
        Self {
            message_id: m.message_id,
            seq: m.seq,
            author_id: m.author_id,
            body_preview: preview(&m.body),
            created_at: m.created_at,
        }
    }
}

/// The first [`PREVIEW_CHARS`] characters of a body, for room lists.
pub fn preview(body: &str) -> String {
    body.chars().take(PREVIEW_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_counts_characters() {
        assert_eq!(preview(&"가".repeat(150)).chars().count(), PREVIEW_CHARS);
    }
}
