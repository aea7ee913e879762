//! Presence in user views (issue 16): only the caller's friends who show
//! it (`show_presence`) answer `presence` and `last_seen_at`; read from the
//! ephemeral presence keys (`readmodel::live`) in the same transaction as
//! the profiles.

use chrono::{DateTime, Utc};
use contract::queries::PresenceResponse;
use domain::UserId;
use readmodel::live::{self, Presence};
use readmodel::{ReadError, Replies};
use redis::Pipeline;

/// Queue the presence of `user` now; take with [`take`].
pub(crate) fn queue(pipe: &mut Pipeline, namespace: &str, user: UserId) {
    live::queue_presence(pipe, namespace, user, Utc::now().timestamp_millis());
}

/// The presence queued by [`queue`].
pub(crate) fn take(values: &mut Replies) -> Result<Presence, ReadError> {
    live::take_presence(values)
}

/// What a view shows of `presence`: nothing unless `shown` (a friend who
/// shows it).
pub(crate) fn view(
    presence: Presence,
    shown: bool,
) -> (Option<PresenceResponse>, Option<DateTime<Utc>>) {
    if !shown {
        return (None, None);
    }
    let state = if presence.online {
        PresenceResponse::Online
    } else {
        PresenceResponse::Offline
    };
    let seen = presence
        .last_seen_ms
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    (Some(state), seen)
}
