//! The calendar feed's own token: `POST /v1/me/calendar-token` makes a new
//! one (the previous one stops working). The feed URL carries this token,
//! never a session token: it reads the caller's meet-up calendar and
//! nothing else, and rotating it is how it is revoked.

use crate::request::{CommandBody, NoBody};
use crate::runner::{self, Answer, Ctx};
use crate::state::CommandState;
use api::{ApiError, AuthUser};
use axum::extract::State;
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use contract::meetups::{CalendarToken, CalendarTokenResponse};
use domain::user::{User, UserCommand};
use domain::Aggregate;
use sha2::{Digest, Sha256};

/// The hex SHA-256 of a feed token, as logged and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Give the caller's calendar feed a new read-only token.
#[utoipa::path(post, path = "/v1/me/calendar-token", tag = "meetups",
    security(("bearer" = [])),
    responses((status = 201, body = CalendarTokenResponse,
        description = "the new token and the feed's path with it; every earlier feed token stops working")))]
pub async fn rotate(
    State(state): State<CommandState>,
    AuthUser(me): AuthUser,
    req: CommandBody<NoBody>,
) -> Result<Answer<CalendarTokenResponse>, ApiError> {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let command = UserCommand::RotateCalendarFeed {
        token_hash: token_hash(&token),
        at: Utc::now(),
    };
    let body = CalendarToken {
        url: format!("/v1/me/calendar.ics?token={token}"),
        token,
    };
    let ctx = Ctx::new(me, &req);
    runner::run::<User, _, _, _>(
        &state,
        &ctx,
        me.into(),
        |u| u.decide(&command),
        |_| (StatusCode::CREATED, body.clone()),
    )
    .await
}
