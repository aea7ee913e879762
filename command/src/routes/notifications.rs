//! Marking the caller's notifications read (issue 16). The read position
//! is an event on the caller's own stream, so the feed's read state is
//! rebuilt from the log like the feed itself.

use crate::request::CommandBody;
use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use contract::commands::{Empty, PositionResponse};
use contract::notifications::MarkNotificationsReadRequest;
use domain::notification::NotificationId;
use domain::user::{User, UserCommand};
use domain::Aggregate;

/// Mark a notification and every older one read.
#[utoipa::path(post, path = "/v1/me/notifications/read", tag = "accounts",
    request_body = MarkNotificationsReadRequest, security(("bearer" = [])),
    responses((status = 200, body = PositionResponse,
            description = "read up to `up_to` (already read: no event, the same answer)"),
        (status = 404, description = "notification_not_found: not the id of one of the caller's notifications")))]
pub async fn mark_read(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<MarkNotificationsReadRequest>,
) -> Result<Answer<PositionResponse>, ApiError> {
    let command = UserCommand::MarkNotificationsRead {
        up_to: NotificationId(req.body.up_to),
        at: Utc::now(),
    };
    let ctx = Ctx::new(me, &req);
    runner::run::<User, _, _, _>(
        &state,
        &ctx,
        me.into(),
        |u| u.decide(&command),
        |_| (StatusCode::OK, Empty {}),
    )
    .await
}
