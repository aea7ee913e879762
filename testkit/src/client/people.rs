//! The typed calls of the people routes (issue 16).

use super::{encode, Client, ClientError, Read, Refusal, Result};
use contract::commands::PositionResponse;
use contract::people::{
    BlocksResponse, ChangeRoleRequest, CreateInviteRequest, InviteCreatedResponse,
    InvitePreviewResponse, InvitesResponse, JoinInviteRequest, JoinedResponse, MuteRequest,
    UserSearchResponse,
};
use domain::{InviteId, RoomId, UserId};
use reqwest::{Method, StatusCode};

impl Client {
    /// `PUT /v1/rooms/{room_id}/members/{user_id}/role`.
    pub async fn change_role(
        &self,
        room: RoomId,
        user: UserId,
        req: &ChangeRoleRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/members/{user}/role");
        self.command(Method::PUT, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `POST /v1/rooms/{room_id}/invites`.
    pub async fn create_invite(
        &self,
        room: RoomId,
        req: &CreateInviteRequest,
    ) -> Result<InviteCreatedResponse> {
        let path = format!("/v1/rooms/{room}/invites");
        self.command(Method::POST, &path, Some(req), StatusCode::CREATED)
            .await
    }

    /// `GET /v1/rooms/{room_id}/invites`.
    pub async fn invites(&self, room: RoomId) -> Result<Read<InvitesResponse>> {
        self.query(&format!("/v1/rooms/{room}/invites")).await
    }

    /// `DELETE /v1/rooms/{room_id}/invites/{invite_id}`.
    pub async fn revoke_invite(&self, room: RoomId, invite: InviteId) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/invites/{invite}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `GET /v1/invites/{token}`.
    pub async fn invite_preview(&self, token: &str) -> Result<Read<InvitePreviewResponse>> {
        self.query(&format!("/v1/invites/{token}")).await
    }

    /// `POST /v1/invites/{token}/join`.
    pub async fn join_invite(
        &self,
        token: &str,
        req: &JoinInviteRequest,
    ) -> Result<JoinedResponse> {
        let path = format!("/v1/invites/{token}/join");
        self.command(Method::POST, &path, Some(req), StatusCode::CREATED)
            .await
    }

    /// `PUT /v1/me/blocks/{user_id}`.
    pub async fn block(&self, user: UserId) -> Result<PositionResponse> {
        let path = format!("/v1/me/blocks/{user}");
        self.command::<(), _>(Method::PUT, &path, None, StatusCode::OK)
            .await
    }

    /// `DELETE /v1/me/blocks/{user_id}`.
    pub async fn unblock(&self, user: UserId) -> Result<PositionResponse> {
        let path = format!("/v1/me/blocks/{user}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `GET /v1/me/blocks`.
    pub async fn blocks(&self) -> Result<Read<BlocksResponse>> {
        self.query("/v1/me/blocks").await
    }

    /// `PUT /v1/rooms/{room_id}/mute`.
    pub async fn mute(&self, room: RoomId, req: &MuteRequest) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/mute");
        self.command(Method::PUT, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `DELETE /v1/rooms/{room_id}/mute`.
    pub async fn unmute(&self, room: RoomId) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/mute");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `GET /v1/users/search?q=`.
    pub async fn search_users(&self, q: &str) -> Result<Read<UserSearchResponse>> {
        self.query(&format!("/v1/users/search?{}", encode(&[("q", q)])))
            .await
    }

    /// `POST /v1/rooms/{room_id}/typing`: 204, no body (ephemeral).
    pub async fn typing(&self, room: RoomId) -> Result<()> {
        let path = format!("/v1/rooms/{room}/typing");
        let answer = self
            .raw(Method::POST, &path)
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                method: Method::POST,
                path: path.clone(),
                source,
            })?;
        if !answer.status.is_success() {
            return Err(ClientError::Refused(Box::new(Refusal {
                method: Method::POST,
                path,
                status: answer.status,
                problem: answer.problem(),
                body: answer.text(),
                headers: answer.headers,
            })));
        }
        if answer.status != StatusCode::NO_CONTENT {
            return Err(ClientError::UnexpectedStatus {
                method: Method::POST,
                path,
                status: answer.status,
                expected: StatusCode::NO_CONTENT,
            });
        }
        Ok(())
    }
}
