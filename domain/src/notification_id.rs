//! A notification's id: a pure function of the event that created it (its
//! position in the log) and its recipient, so a rebuilt feed has the same
//! ids as the live one, and the command that marks a feed read can tell
//! from the id alone which position it names and whose it is, without
//! reading any read model.
//!
//! Layout (a UUIDv8, RFC 9562): the first 48 bits are the position, the
//! remaining free bits come from a name-based UUID of (position,
//! recipient). An id someone else's notification has, or a made-up one,
//! does not check out for the caller. (It is not a secret: anyone can
//! compute the id of a position for a user, which names nothing private and
//! only lets them mark their own feed.)

use crate::ids::UserId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The namespace of the name-based part.
const NAMESPACE: Uuid = Uuid::from_u128(0x6e6f_7469_6669_4000_8000_636f_7461_6c6b);

/// Positions up to 2^48 − 1 fit in an id.
const MAX_POSITION: i64 = (1 << 48) - 1;

/// The id of one notification (`notification_id` in views).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(pub Uuid);

impl NotificationId {
    /// The id of the notification of `recipient` created by the event at
    /// `position` (each event notifies a user at most once).
    pub fn of(position: i64, recipient: UserId) -> Self {
        let position = position.clamp(0, MAX_POSITION);
        let mut name = [0u8; 24];
        name[..8].copy_from_slice(&position.to_be_bytes());
        name[8..].copy_from_slice(recipient.0.as_bytes());
        let check = *Uuid::new_v5(&NAMESPACE, &name).as_bytes();
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&position.to_be_bytes()[2..]);
        b[6..].copy_from_slice(&check[6..]);
        b[6] = (b[6] & 0x0f) | 0x80; // version 8
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
        Self(Uuid::from_bytes(b))
    }

    /// The position this id names, if it is an id of one of `recipient`'s
    /// notifications.
    pub fn position_for(self, recipient: UserId) -> Option<i64> {
        let b = self.0.as_bytes();
        let mut p = [0u8; 8];
        p[2..].copy_from_slice(&b[..6]);
        let position = i64::from_be_bytes(p);
        (position > 0 && Self::of(position, recipient) == self).then_some(position)
    }
}

impl std::fmt::Display for NotificationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_position_for_its_recipient_only() {
        let (a, b) = (UserId(Uuid::from_u128(1)), UserId(Uuid::from_u128(2)));
        for position in [1, 2, 255, 1 << 20, MAX_POSITION] {
            let id = NotificationId::of(position, a);
            assert_eq!(id.0.get_version_num(), 8);
            assert_eq!(id.position_for(a), Some(position));
            assert_eq!(id.position_for(b), None);
            assert_ne!(id, NotificationId::of(position, b));
            assert_eq!(id, NotificationId::of(position, a), "deterministic");
        }
        assert_eq!(NotificationId(Uuid::from_u128(7)).position_for(a), None);
        assert_eq!(NotificationId(Uuid::nil()).position_for(a), None);
    }
}
