//! The command routes' request bodies and answers. Requests deny unknown
//! fields (a typo is a 400, not a silently ignored field). Most answers are
//! [`Positioned`](crate::Positioned): the body below plus the log position
//! of the command's last event, for `X-Min-Position` on later reads.

use crate::positioned::{Positioned, PositionedBody};
use chrono::{DateTime, Utc};
use domain::{AttachmentId, MessageId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/users` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-32 of `a-z0-9_.`.
    #[schema(pattern = "^[a-z0-9_.]{3,32}$")]
    pub username: String,
    /// 1-64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: String,
    /// 8-256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// `POST /v1/users` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// The new user.
    pub user_id: UserId,
}

/// `POST /v1/users` answer, with its position.
pub type RegisterResponse = Positioned<Registered>;

impl PositionedBody for Registered {
    const NAME: &'static str = "RegisterResponse";
}

/// `POST /v1/sessions` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username signed up with.
    pub username: String,
    /// The password signed up with.
    pub password: String,
}

/// `POST /v1/sessions` and `POST /v1/sessions/refresh` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer (access) token; lives `COTALK_ACCESS_TTL_SECS` (15 min).
    pub token: String,
    /// Whose it is.
    pub user_id: UserId,
    /// When `token` stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Exchanges for a new pair at `POST /v1/sessions/refresh`, once.
    pub refresh_token: String,
    /// The session both tokens belong to.
    pub session_id: uuid::Uuid,
    /// When `refresh_token` stops being accepted (30 days after it was issued).
    pub refresh_expires_at: DateTime<Utc>,
}

/// `PATCH /v1/me` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// 1-64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    pub display_name: Option<String>,
    /// 0-60 characters; empty clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 60)]
    pub status_message: Option<String>,
    /// Whether friends see the caller's presence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_presence: Option<bool>,
}

/// `{position}` answer of most commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Empty {}

/// The answer of commands that create nothing with an id: only the position.
pub type PositionResponse = Positioned<Empty>;

impl PositionedBody for Empty {
    const NAME: &'static str = "PositionResponse";
}

/// `POST /v1/friends` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FriendRequest {
    /// Whom to ask.
    pub user_id: UserId,
}

/// `POST /v1/rooms` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// 1-100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Other initial members (at most 1000).
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub members: Vec<UserId>,
}

/// `POST /v1/rooms` and `/v1/rooms/direct` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomCreated {
    /// The room.
    pub room_id: RoomId,
}

/// `POST /v1/rooms` and `/v1/rooms/direct` answer, with its position.
pub type RoomCreatedResponse = Positioned<RoomCreated>;

impl PositionedBody for RoomCreated {
    const NAME: &'static str = "RoomCreatedResponse";
}

/// `POST /v1/rooms/direct` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectRoomRequest {
    /// The other user of the pair.
    pub user_id: UserId,
}

/// `PATCH /v1/rooms/{room_id}` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRoomRequest {
    /// 1-100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// `POST /v1/rooms/{room_id}/members` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// Who joins.
    pub user_id: UserId,
}

/// `POST /v1/rooms/{room_id}/messages` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageRequest {
    /// 1-4000 characters after trimming; may be empty when `attachments` is not.
    #[schema(max_length = 4000)]
    pub body: String,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// Uploads of the caller's in this room, not yet sent (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub attachments: Vec<AttachmentId>,
    /// Current members the message mentions (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub mentions: Vec<UserId>,
}

/// `PUT /v1/rooms/{room_id}/notice` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetNoticeRequest {
    /// The message to pin as the room's notice.
    pub message_id: MessageId,
}

impl PostMessageRequest {
    /// A message that answers nothing.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            reply_to: None,
            attachments: Vec::new(),
            mentions: Vec::new(),
        }
    }
}

/// `POST /v1/rooms/{room_id}/messages` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessagePosted {
    /// The new message.
    pub message_id: MessageId,
    /// Its place in the room: the room's previous last `seq` plus one.
    pub seq: u64,
}

/// `POST /v1/rooms/{room_id}/messages` answer, with its position.
pub type MessagePostedResponse = Positioned<MessagePosted>;

impl PositionedBody for MessagePosted {
    const NAME: &'static str = "MessagePostedResponse";
}

/// `PATCH /v1/rooms/{room_id}/messages/{message_id}` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    /// 1-4000 characters after trimming.
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
}

/// `POST /v1/rooms/{room_id}/read` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMarkerRequest {
    /// The last `seq` the caller has read.
    pub seq: u64,
}
