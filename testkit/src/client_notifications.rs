//! The notification routes of [`Client`] (API.md "People and rooms").

use super::{Client, Read, Result};
use contract::commands::PositionResponse;
use contract::notifications::{MarkNotificationsReadRequest, NotificationsResponse};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

impl Client {
    /// `GET /v1/me/notifications?cursor=&limit=`.
    pub async fn notifications(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Read<NotificationsResponse>> {
        self.query(&format!("/v1/me/notifications?{}", super::encode(query)))
            .await
    }

    /// `POST /v1/me/notifications/read`: read up to `up_to`.
    pub async fn mark_notifications_read(&self, up_to: Uuid) -> Result<PositionResponse> {
        let req = MarkNotificationsReadRequest { up_to };
        self.command(
            Method::POST,
            "/v1/me/notifications/read",
            Some(&req),
            StatusCode::OK,
        )
        .await
    }
}
