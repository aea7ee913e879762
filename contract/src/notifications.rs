//! Bodies of the notification routes (issue 16): the caller's feed and
//! marking it read.

use domain::notification::NotificationView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `GET /v1/me/notifications` answer: one page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationsResponse {
    pub notifications: Vec<NotificationView>,
    /// Every unread notification of the caller, not only this page's.
    pub unread_count: u64,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `POST /v1/me/notifications/read` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkNotificationsReadRequest {
    /// This notification and every older one become read.
    pub up_to: Uuid,
}
