//! The username reservation aggregate. Its stream id is derived from the
//! username ([`crate::StreamId::for_username`]), so the log's one-row-per-
//! (stream, version) rule makes two registrations of one name impossible.

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{StreamType, UsernameClaimed, UsernameEvent};
use crate::ids::UserId;
use crate::values::Username;
use chrono::{DateTime, Utc};

/// Who holds the username, if anybody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsernameClaim {
    pub owner: Option<UserId>,
}

/// Reserve the username for a user.
#[derive(Clone, Debug)]
pub struct ClaimUsername {
    pub username: Username,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

impl Aggregate for UsernameClaim {
    const STREAM_TYPE: StreamType = StreamType::Username;
    type Command = ClaimUsername;
    type Event = UsernameEvent;

    fn decide(&self, c: &ClaimUsername) -> Result<Vec<UsernameEvent>, DomainError> {
        if self.owner.is_some() {
            return Err(DomainError::UsernameTaken);
        }
        Ok(vec![UsernameEvent::Claimed(UsernameClaimed {
            username: c.username.to_string(),
            user_id: c.user_id,
            at: c.at,
        })])
    }

    fn evolve(mut self, event: &UsernameEvent) -> Self {
        let UsernameEvent::Claimed(e) = event;
        self.owner = Some(e.user_id);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_username_is_claimed_once() {
        let claim = |n| ClaimUsername {
            username: Username::parse("minsu").unwrap(),
            user_id: UserId(Uuid::from_u128(n)),
            at: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let s = UsernameClaim::default();
        let events = s.decide(&claim(1)).unwrap();
        let s = s.evolve_all(&events);
        assert_eq!(s.decide(&claim(2)), Err(DomainError::UsernameTaken));
    }
}
