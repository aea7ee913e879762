//! Events of accounts beyond the profile (issue 18).

use crate::ids::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `user_id` changed their password. The hash is not in the event (it is
/// written to the credentials table in the same commit); the event records
/// that it happened, and its position is the change's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChanged {
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

/// `user_id` deleted their account. Their data key was deleted in the same
/// commit, so every personal field they ever wrote is unreadable from here
/// on; projections drop what they show of them and mark their messages
/// `deleted_user`. Nothing personal is in the event itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDeleted {
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}
