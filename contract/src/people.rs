//! Bodies of the people routes (issue 16): room roles, invite links, blocks,
//! mutes and user search.

use crate::positioned::{Positioned, PositionedBody};
use chrono::{DateTime, Utc};
use domain::views::ProfileView;
use domain::views_people::{BlockView, InviteView};
use domain::{InviteId, RoomId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A role a member can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Owner,
    Admin,
    Member,
}

/// `PUT /v1/rooms/{room_id}/members/{user_id}/role` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    /// `owner` transfers ownership (the old owner becomes an admin).
    pub role: RoleName,
}

/// `POST /v1/rooms/{room_id}/invites` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// 1-720 hours; 168 (a week) when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 720)]
    pub expires_in_hours: Option<u32>,
    /// Joins allowed (at least 1); unlimited when absent.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_uses: Option<u32>,
    /// A code joiners must give (1-32 characters).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32)]
    pub code: Option<String>,
}

/// `POST /v1/rooms/{room_id}/invites` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InviteCreated {
    #[schema(value_type = Uuid)]
    pub invite_id: InviteId,
    /// The link's secret (`/invite/{token}`); shown once, stored only hashed.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/rooms/{room_id}/invites` answer, with its position.
pub type InviteCreatedResponse = Positioned<InviteCreated>;

impl PositionedBody for InviteCreated {
    const NAME: &'static str = "InviteCreatedResponse";
}

/// `POST /v1/invites/{token}/join` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinInviteRequest {
    /// The invite's code, when it has one.
    #[serde(default)]
    pub code: Option<String>,
}

/// `POST /v1/invites/{token}/join` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Joined {
    #[schema(value_type = Uuid)]
    pub room_id: RoomId,
}

/// `POST /v1/invites/{token}/join` answer, with its position.
pub type JoinedResponse = Positioned<Joined>;

impl PositionedBody for Joined {
    const NAME: &'static str = "JoinedResponse";
}

/// `PUT /v1/rooms/{room_id}/mute` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// Muted until this time (in the future); for ever when absent.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// One usable invite link of `GET /v1/rooms/{room_id}/invites`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InviteResponse {
    pub invite_id: Uuid,
    pub created_by: Uuid,
    pub expires_at: DateTime<Utc>,
    pub uses: u32,
    pub max_uses: Option<u32>,
    pub has_code: bool,
}

impl From<InviteView> for InviteResponse {
    fn from(v: InviteView) -> Self {
        Self {
            invite_id: v.invite_id.0,
            created_by: v.created_by.0,
            expires_at: v.expires_at,
            uses: v.uses,
            max_uses: v.max_uses,
            has_code: v.has_code,
        }
    }
}

/// `GET /v1/rooms/{room_id}/invites`: usable links, newest expiry first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitesResponse {
    pub invites: Vec<InviteResponse>,
}

/// `GET /v1/invites/{token}`: a preview (no members, no messages).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitePreviewResponse {
    pub room_id: Uuid,
    pub name: String,
    pub member_count: u64,
    pub expires_at: DateTime<Utc>,
    pub has_code: bool,
}

/// One blocked user of `GET /v1/me/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockResponse {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub since: DateTime<Utc>,
}

impl BlockResponse {
    /// A block with the blocked user's profile.
    pub fn new(block: &BlockView, profile: ProfileView) -> Self {
        Self {
            user_id: profile.user_id.0,
            username: profile.username,
            display_name: profile.display_name,
            since: block.since,
        }
    }
}

/// `GET /v1/me/blocks`: newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BlocksResponse {
    pub blocks: Vec<BlockResponse>,
}

/// One user of `GET /v1/users/search`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FoundUserResponse {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
}

impl From<ProfileView> for FoundUserResponse {
    fn from(p: ProfileView) -> Self {
        Self {
            user_id: p.user_id.0,
            username: p.username,
            display_name: p.display_name,
        }
    }
}

/// `GET /v1/users/search`: at most 20, best match first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserSearchResponse {
    pub users: Vec<FoundUserResponse>,
}
