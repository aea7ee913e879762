//! Typed ids. Each wraps a UUID so a `RoomId` can never be passed where a
//! `UserId` is expected. Ids the server creates are UUIDv7 (time ordered), made
//! by the caller and handed in with the command; ids that must be the same for
//! everybody (a direct room per pair, a username reservation, a friendship) are
//! UUIDv5 of their natural key.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        pub struct $name(pub Uuid);

        impl $name {
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// A room (group or direct).
    RoomId
);
typed_id!(
    /// A message inside a room.
    MessageId
);
typed_id!(
    /// An uploaded file (its bytes live in the object store, never in the log).
    AttachmentId
);
typed_id!(
    /// An invite link of a room (its token is a secret; this id is not).
    InviteId
);
typed_id!(
    /// One stored event; unique across the whole log.
    EventId
);
typed_id!(
    /// A meet-up (its own stream; its chat is a group room of its own).
    MeetupId
);
typed_id!(
    /// The id of an event stream (one aggregate instance).
    StreamId
);

/// Namespaces for the UUIDv5 ids derived from natural keys. Fixed forever:
/// changing one would orphan every stream derived from it.
mod namespace {
    use uuid::Uuid;
    pub const USERNAME: Uuid = Uuid::from_u128(0x5c1b_9a2e_7f3d_4c61_9e0a_1b2c_3d4e_5f60);
    pub const NAME_KEY: Uuid = Uuid::from_u128(0x3e1f_7a20_5b6c_4d8e_9f01_a2b3_c4d5_e6f7);
    pub const FRIENDSHIP: Uuid = Uuid::from_u128(0x7a2c_0b3f_8e4d_4d72_8f1b_2c3d_4e5f_6071);
    pub const DIRECT_ROOM: Uuid = Uuid::from_u128(0x9b3d_1c4a_9f5e_4e83_a02c_3d4e_5f60_7182);
}

fn pair_key(a: UserId, b: UserId) -> [u8; 32] {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(lo.0.as_bytes());
    key[16..].copy_from_slice(hi.0.as_bytes());
    key
}

impl StreamId {
    /// The stream that reserves a username (one per distinct username).
    pub fn for_username(username: &str) -> Self {
        Self(Uuid::new_v5(&namespace::USERNAME, username.as_bytes()))
    }

    /// The stream that reserves a username by its keyed hash (`name_key`,
    /// hex; see `username.claimed` v2): the hash's first 16 bytes. A key
    /// that is not hex still gets a stream of its own (the name-based v5 id
    /// of the text), so nothing panics on a malformed event.
    pub fn for_name_key(name_key: &str) -> Self {
        let mut bytes = [0u8; 16];
        match hex::decode(name_key.get(..32).unwrap_or(name_key)) {
            Ok(decoded) if decoded.len() == 16 => bytes.copy_from_slice(&decoded),
            _ => return Self(Uuid::new_v5(&namespace::NAME_KEY, name_key.as_bytes())),
        }
        Self(Uuid::from_bytes(bytes))
    }

    /// The friendship stream of an unordered pair of users.
    pub fn for_friendship(a: UserId, b: UserId) -> Self {
        Self(Uuid::new_v5(&namespace::FRIENDSHIP, &pair_key(a, b)))
    }
}

impl RoomId {
    /// The one direct room of an unordered pair of users.
    pub fn direct(a: UserId, b: UserId) -> Self {
        Self(Uuid::new_v5(&namespace::DIRECT_ROOM, &pair_key(a, b)))
    }
}

impl From<UserId> for StreamId {
    fn from(id: UserId) -> Self {
        Self(id.0)
    }
}

impl From<MeetupId> for StreamId {
    fn from(id: MeetupId) -> Self {
        Self(id.0)
    }
}

impl From<RoomId> for StreamId {
    fn from(id: RoomId) -> Self {
        Self(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_derived_ids_ignore_order() {
        let a = UserId(Uuid::from_u128(1));
        let b = UserId(Uuid::from_u128(2));
        assert_eq!(RoomId::direct(a, b), RoomId::direct(b, a));
        assert_eq!(
            StreamId::for_friendship(a, b),
            StreamId::for_friendship(b, a)
        );
        assert_ne!(RoomId::direct(a, b).0, StreamId::for_friendship(a, b).0);
    }
}
