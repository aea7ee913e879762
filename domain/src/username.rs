//! The username reservation aggregate. Its stream id is derived from the
//! username's keyed hash ([`crate::StreamId::for_name_key`]; names claimed
//! before issue 18 from the name itself, [`crate::StreamId::for_username`]),
//! so the log's one-row-per-(stream, version) rule makes two registrations
//! of one name impossible.
//!
//! A name whose owner deleted their account is in quarantine for a while
//! (`COTALK_USERNAME_QUARANTINE_DAYS`), then can be claimed again: the
//! handler reads when the owner's account was deleted and passes the end of
//! the quarantine as [`ClaimUsername::free_from`].

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{StreamType, UsernameClaimed, UsernameEvent};
use crate::ids::UserId;
use chrono::{DateTime, Utc};

/// Who holds the username, if anybody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsernameClaim {
    pub owner: Option<UserId>,
}

/// Reserve the username for a user.
#[derive(Clone, Debug)]
pub struct ClaimUsername {
    /// The username's keyed hash (hex), made by the command side.
    pub name_key: String,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
    /// When the current owner's quarantine ends, if their account is
    /// deleted (`None`: the owner, if any, is still a user).
    pub free_from: Option<DateTime<Utc>>,
}

impl Aggregate for UsernameClaim {
    const STREAM_TYPE: StreamType = StreamType::Username;
    type Command = ClaimUsername;
    type Event = UsernameEvent;

    fn decide(&self, c: &ClaimUsername) -> Result<Vec<UsernameEvent>, DomainError> {
        let free = c.free_from.is_some_and(|from| c.at >= from);
        if self.owner.is_some() && !free {
            return Err(DomainError::UsernameTaken);
        }
        Ok(vec![UsernameEvent::Claimed(UsernameClaimed {
            username: None,
            name_key: Some(c.name_key.clone()),
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

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }
    fn claim(n: u128, at: i64, free_from: Option<i64>) -> ClaimUsername {
        ClaimUsername {
            name_key: "ab".repeat(32),
            user_id: UserId(Uuid::from_u128(n)),
            at: t(at),
            free_from: free_from.map(t),
        }
    }

    #[test]
    fn a_username_is_claimed_once() {
        let s = UsernameClaim::default();
        let events = s.decide(&claim(1, 0, None)).unwrap();
        let s = s.evolve_all(&events);
        assert_eq!(
            s.decide(&claim(2, 0, None)),
            Err(DomainError::UsernameTaken)
        );
    }

    #[test]
    fn a_deleted_owners_name_is_free_after_the_quarantine() {
        let first = UsernameClaim::default().decide(&claim(1, 0, None)).unwrap();
        let s = UsernameClaim::default().evolve_all(&first);
        // Given the owner deleted their account and the quarantine ends at
        // 100: refused before, claimed from then on.
        assert_eq!(
            s.decide(&claim(2, 99, Some(100))),
            Err(DomainError::UsernameTaken)
        );
        let events = s.decide(&claim(2, 100, Some(100))).unwrap();
        let s = s.evolve_all(&events);
        assert_eq!(s.owner, Some(UserId(Uuid::from_u128(2))));
        // The v2 event carries the keyed hash, never the name.
        let UsernameEvent::Claimed(c) = &events[0];
        assert_eq!(
            (c.username.as_ref(), c.name_key.as_deref()),
            (None, Some(&*"ab".repeat(32)))
        );
    }
}
