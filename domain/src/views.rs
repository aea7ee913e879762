//! Read-model shapes, shared by the projector (which writes them), the query
//! side (which reads them) and the contract (which answers with them). Where
//! and how they are stored (Redis keys, tables, encodings) is the
//! `readmodel` crate's.
//!
//! The projections and their stores are listed at `readmodel::ProjectionName`.

use crate::attachment::Attachment;
use crate::ids::{AttachmentId, MessageId, RoomId, UserId};
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
    /// The account is deleted (issue 18): every personal field is empty
    /// and stays so. Absent (false) in profiles of users who exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted_user: bool,
}

impl ProfileView {
    /// What is left of a deleted user's profile: the id, the registration
    /// time and the marker; nothing personal.
    pub fn deleted(user_id: UserId, created_at: DateTime<Utc>) -> Self {
        Self {
            user_id,
            username: String::new(),
            display_name: String::new(),
            created_at,
            status_message: String::new(),
            show_presence: false,
            deleted_user: true,
        }
    }
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
    /// The files the message carries (issue 15; absent in views stored before it).
    #[serde(default)]
    pub attachments: Vec<AttachmentView>,
    /// Members the message mentions (issue 15; absent in views stored before it).
    #[serde(default)]
    pub mentions: Vec<UserId>,
}

/// One attachment as message views show it (the event's metadata without
/// `sha256`, which is the download's `ETag`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentView {
    pub attachment_id: AttachmentId,
    pub content_type: String,
    pub size: u64,
    pub name: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl AttachmentView {
    /// The view of an attachment recorded in a `MessagePosted`.
    pub fn of(a: &Attachment) -> Self {
        Self {
            attachment_id: a.attachment_id,
            content_type: a.content_type.clone(),
            size: a.size,
            name: a.name.clone(),
            width: a.width,
            height: a.height,
        }
    }
}

/// Who reacted to one message with one emoji, as the read model stores it
/// (in the order the emoji was first used, users in the order they reacted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionSet {
    pub emoji: String,
    pub users: Vec<UserId>,
}

/// One emoji under a message as one viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionView {
    pub emoji: String,
    pub count: u32,
    /// Whether the viewer is among those who reacted with it.
    pub me: bool,
}

impl ReactionView {
    /// What `viewer` sees of a message's reactions.
    pub fn for_viewer(sets: &[ReactionSet], viewer: UserId) -> Vec<Self> {
        sets.iter()
            .filter(|s| !s.users.is_empty())
            .map(|s| Self {
                emoji: s.emoji.clone(),
                count: u32::try_from(s.users.len()).unwrap_or(u32::MAX),
                me: s.users.contains(&viewer),
            })
            .collect()
    }
}

/// Add (`on`) or take back one user's reaction in a message's sets.
pub fn react(sets: &mut Vec<ReactionSet>, emoji: &str, user: UserId, on: bool) {
    match sets.iter_mut().position(|s| s.emoji == emoji) {
        Some(i) => {
            let users = &mut sets[i].users;
            if on {
                if !users.contains(&user) {
                    users.push(user);
                }
            } else {
                users.retain(|u| *u != user);
                if users.is_empty() {
                    sets.remove(i);
                }
            }
        }
        None if on => sets.push(ReactionSet {
            emoji: emoji.to_owned(),
            users: vec![user],
        }),
        None => {}
    }
}

/// A room's notice (`GET /v1/rooms/{room_id}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub message_id: MessageId,
    pub seq: u64,
    pub body_preview: String,
    pub set_by: UserId,
    pub set_at: DateTime<Utc>,
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

    #[test]
    fn reactions_count_per_emoji_and_know_the_viewer() {
        let (a, b) = (
            UserId(uuid::Uuid::from_u128(1)),
            UserId(uuid::Uuid::from_u128(2)),
        );
        let mut sets = Vec::new();
        react(&mut sets, "👍", a, true);
        react(&mut sets, "👍", a, true);
        react(&mut sets, "❤️", b, true);
        react(&mut sets, "👍", b, true);
        let seen = ReactionView::for_viewer(&sets, a);
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[0].emoji.as_str(), seen[0].count, seen[0].me),
            ("👍", 2, true)
        );
        assert_eq!(
            (seen[1].emoji.as_str(), seen[1].count, seen[1].me),
            ("❤️", 1, false)
        );
        react(&mut sets, "❤️", b, false);
        react(&mut sets, "❤️", b, false);
        assert_eq!(sets.len(), 1);
    }
}
