//! The answers of the query routes. They are built from the read-model
//! views of `domain::views` (the conversions live here, next to the
//! answers); the views stay free of HTTP and schema concerns.

use crate::messenger::{MessageAttachmentResponse, NoticeResponse, ReactionResponse};
use chrono::{DateTime, Utc};
use domain::views::{
    FriendEntryView, LastMessageView, MemberView, MessageView, ProfileView, ReactionView, Role,
    RoomView,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `GET /v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// 0-60 characters; empty: none.
    #[serde(default)]
    pub status_message: String,
    /// Whether friends see the caller's presence.
    #[serde(default)]
    pub show_presence: bool,
}

impl From<ProfileView> for MeResponse {
    fn from(p: ProfileView) -> Self {
        Self {
            user_id: p.user_id.0,
            username: p.username,
            display_name: p.display_name,
            created_at: p.created_at,
            status_message: p.status_message,
            show_presence: p.show_presence,
        }
    }
}

/// `GET /v1/users/{user_id}` and `GET /v1/users?username=`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    /// 0-60 characters; empty: none.
    #[serde(default)]
    pub status_message: String,
    /// The account is deleted (issue 18): username, display name and
    /// status message are empty. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted_user: bool,
    /// Only for the caller's friends who show it (`GET /v1/users/{user_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceResponse>,
    /// With `presence`: their last stream activity, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl From<ProfileView> for UserResponse {
    fn from(p: ProfileView) -> Self {
        Self {
            user_id: p.user_id.0,
            username: p.username,
            display_name: p.display_name,
            status_message: p.status_message,
            deleted_user: p.deleted_user,
            presence: None,
            last_seen_at: None,
        }
    }
}

/// Whether a user has an open stream (issue 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceResponse {
    Online,
    Offline,
}

/// One friend, or one pending request, of `GET /v1/me/friends`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FriendResponse {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    /// When the friendship began, or the request was made.
    pub since: DateTime<Utc>,
    /// 0-60 characters; empty: none.
    #[serde(default)]
    pub status_message: String,
    /// Only for friends who show it (not for requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceResponse>,
    /// With `presence`: their last stream activity, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl FriendResponse {
    /// A friend list entry with the other user's profile.
    pub fn new(entry: &FriendEntryView, profile: ProfileView) -> Self {
        Self {
            user_id: profile.user_id.0,
            username: profile.username,
            display_name: profile.display_name,
            since: entry.since,
            status_message: profile.status_message,
            presence: None,
            last_seen_at: None,
        }
    }
}

/// `GET /v1/me/friends`: each list newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct FriendsResponse {
    pub friends: Vec<FriendResponse>,
    /// Requests others sent the caller.
    pub incoming: Vec<FriendResponse>,
    /// Requests the caller sent.
    pub outgoing: Vec<FriendResponse>,
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleResponse {
    Owner,
    Admin,
    Member,
}

impl From<Role> for RoleResponse {
    fn from(r: Role) -> Self {
        match r {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Member => Self::Member,
        }
    }
}

/// One member of a room.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberResponse {
    pub user_id: Uuid,
    pub role: RoleResponse,
    pub joined_at: DateTime<Utc>,
}

impl From<MemberView> for MemberResponse {
    fn from(m: MemberView) -> Self {
        Self {
            user_id: m.user_id.0,
            role: m.role.into(),
            joined_at: m.joined_at,
        }
    }
}

/// `GET /v1/rooms/{room_id}`: members in the order they joined.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomResponse {
    pub room_id: Uuid,
    pub name: String,
    pub owner_id: Uuid,
    pub direct: bool,
    pub members: Vec<MemberResponse>,
    pub created_at: DateTime<Utc>,
    /// The message pinned as the room's notice, if any.
    #[serde(default)]
    pub notice: Option<NoticeResponse>,
}

/// The last message of a room in the room list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LastMessageResponse {
    pub message_id: Uuid,
    pub seq: u64,
    pub author_id: Uuid,
    /// The first 100 characters of the body.
    pub body_preview: String,
    pub created_at: DateTime<Utc>,
}

impl From<LastMessageView> for LastMessageResponse {
    fn from(m: LastMessageView) -> Self {
        Self {
            message_id: m.message_id.0,
            seq: m.seq,
            author_id: m.author_id.0,
            body_preview: m.body_preview,
            created_at: m.created_at,
        }
    }
}

/// One room of `GET /v1/me/rooms`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomSummaryResponse {
    pub room_id: Uuid,
    pub name: String,
    pub owner_id: Uuid,
    pub direct: bool,
    pub created_at: DateTime<Utc>,
    pub member_count: u64,
    pub last_message: Option<LastMessageResponse>,
    /// Messages by other members, not deleted, above the caller's read marker.
    pub unread_count: u64,
    pub last_activity_at: DateTime<Utc>,
    /// The caller muted the room (and the mute has not run out).
    #[serde(default)]
    pub muted: bool,
}

impl RoomSummaryResponse {
    /// A room list entry from the room's view and its counters.
    pub fn new(room: RoomView, member_count: u64, unread_count: u64) -> Self {
        Self {
            room_id: room.room_id.0,
            name: room.name,
            owner_id: room.owner_id.0,
            direct: room.direct,
            created_at: room.created_at,
            member_count,
            last_message: room.last_message.map(Into::into),
            unread_count,
            last_activity_at: room.last_activity_at,
            muted: false,
        }
    }
}

/// `GET /v1/me/rooms`: most recent activity first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyRoomsResponse {
    pub rooms: Vec<RoomSummaryResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One message of a room's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageResponse {
    pub message_id: Uuid,
    pub room_id: Uuid,
    /// Gapless per room: 1, 2, 3, …
    pub seq: u64,
    pub author_id: Uuid,
    /// Empty when deleted.
    pub body: String,
    pub reply_to: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    #[serde(default)]
    pub attachments: Vec<MessageAttachmentResponse>,
    /// Members the message mentions.
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    /// Reactions as the caller sees them.
    #[serde(default)]
    pub reactions: Vec<ReactionResponse>,
    /// How many members, other than the author, who were members when it
    /// was posted and still are, have not read it yet (KakaoTalk's "1").
    #[serde(default)]
    pub unread_by: u32,
    /// The author deleted their account (issue 18): the message stays,
    /// with `author_id`; nothing else of the author is shown. Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted_user: bool,
}

impl MessageResponse {
    /// The answer for a message with the caller's view of its reactions
    /// and its `unread_by`.
    pub fn of(m: MessageView, reactions: Vec<ReactionView>, unread_by: u32) -> Self {
        let mut r = Self::from(m);
        if !r.deleted {
            r.reactions = reactions.into_iter().map(Into::into).collect();
        }
        r.unread_by = unread_by;
        r
    }
}

impl From<MessageView> for MessageResponse {
    fn from(m: MessageView) -> Self {
        Self {
            deleted_user: false,
            message_id: m.message_id.0,
            room_id: m.room_id.0,
            seq: m.seq,
            author_id: m.author_id.0,
            body: if m.deleted { String::new() } else { m.body },
            reply_to: m.reply_to.map(|r| r.0),
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted: m.deleted,
            // A deleted message shows nothing of what it carried.
            attachments: if m.deleted {
                Vec::new()
            } else {
                m.attachments.into_iter().map(Into::into).collect()
            },
            mentions: if m.deleted {
                Vec::new()
            } else {
                m.mentions.into_iter().map(|u| u.0).collect()
            },
            reactions: Vec::new(),
            unread_by: 0,
        }
    }
}

/// `GET /v1/rooms/{room_id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessagesResponse {
    /// Newest first, or oldest first when `after` was given.
    pub messages: Vec<MessageResponse>,
    /// More messages lie beyond this page in the same direction.
    pub has_more: bool,
}

/// One matching message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHitResponse {
    pub message_id: Uuid,
    pub room_id: Uuid,
    pub seq: u64,
    pub author_id: Uuid,
    /// When the message was posted (not when it was last edited).
    pub created_at: DateTime<Utc>,
    /// A fragment of the current text, HTML-escaped, matches in `<mark>…</mark>`.
    pub snippet: String,
    /// BM25 relevance (higher is better), its statistics counted over the
    /// caller's rooms only; filters do not change it.
    pub score: f32,
}

/// `GET /v1/search/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub hits: Vec<SearchHitResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
