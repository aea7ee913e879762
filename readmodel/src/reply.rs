//! Encoding stored values, and taking a pipeline's replies back in order.
//!
//! Readers come in pairs: `queue_*` adds commands to a [`redis::Pipeline`]
//! (so a caller can put several models' reads, and its own consistency
//! checks, in one `MULTI`/`EXEC`), `take_*` decodes their replies from
//! [`Replies`] in the same order.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Redis refused a command, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored JSON value does not decode as its model.
    #[error("stored {what} does not decode: {source}")]
    Decode {
        /// Which model.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A stored id (a hash field, a set member) is not an id.
    #[error("stored {what} is not an id: {value:?}")]
    BadId {
        /// Which model.
        what: &'static str,
        /// What was stored.
        value: String,
    },
    /// The pipeline answered fewer replies than commands were queued.
    #[error("fewer replies than commands")]
    MissingReply,
}

/// The JSON a view is stored as.
pub(crate) fn encode<T: Serialize>(v: &T) -> String {
    // Views are plain data (strings, numbers, ids, times): serialising
    // them cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

/// Decode one stored JSON value of model `what`.
pub fn decode<T: DeserializeOwned>(what: &'static str, raw: &str) -> Result<T, ReadError> {
    serde_json::from_str(raw).map_err(|source| ReadError::Decode { what, source })
}

/// Parse one stored id of model `what`.
pub(crate) fn parse_id<T: std::str::FromStr>(
    what: &'static str,
    raw: &str,
) -> Result<T, ReadError> {
    raw.parse().map_err(|_| ReadError::BadId {
        what,
        value: raw.to_owned(),
    })
}

/// The replies of one pipeline, taken in the order the commands were queued.
pub struct Replies(std::vec::IntoIter<redis::Value>);

impl Replies {
    /// Wrap a pipeline's replies.
    pub fn new(values: Vec<redis::Value>) -> Self {
        Self(values.into_iter())
    }

    /// The next reply, converted.
    pub fn take<T: redis::FromRedisValue>(&mut self) -> Result<T, ReadError> {
        let value = self.0.next().ok_or(ReadError::MissingReply)?;
        Ok(redis::from_redis_value(&value)?)
    }

    /// The next reply: an optional JSON document of model `what`.
    pub fn json<T: DeserializeOwned>(
        &mut self,
        what: &'static str,
    ) -> Result<Option<T>, ReadError> {
        self.take::<Option<String>>()?
            .map(|s| decode(what, &s))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::frame::{Frame, FrameBody};
    use domain::ids::{MessageId, RoomId, UserId};
    use domain::views::{FriendEntryView, FriendState, MemberView, MessageView, Role};
    use uuid::Uuid;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
        assert_eq!(decode::<T>("test", &encode(&v)).unwrap(), v);
    }

    #[test]
    fn stored_views_round_trip() {
        let at = chrono::DateTime::from_timestamp(1_714_000_000, 123_000_000).unwrap();
        let user = UserId(Uuid::from_u128(1));
        let room = RoomId(Uuid::from_u128(2));
        round_trip(FriendEntryView {
            state: FriendState::Outgoing,
            since: at,
        });
        round_trip(MemberView {
            user_id: user,
            role: Role::Owner,
            joined_at: at,
        });
        round_trip(MessageView {
            message_id: MessageId(Uuid::from_u128(3)),
            room_id: room,
            seq: 7,
            author_id: user,
            body: "\"quoted\" \\ 안녕".into(),
            reply_to: Some(MessageId(Uuid::from_u128(4))),
            created_at: at,
            edited_at: Some(at),
            deleted: false,
            attachments: Vec::new(),
            mentions: Vec::new(),
        });
        round_trip(Frame {
            position: 9,
            room_id: room,
            body: FrameBody::ReadMarker {
                user_id: user,
                seq: 7,
                at,
            },
        });
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(matches!(
            decode::<MemberView>("member", "{"),
            Err(ReadError::Decode { what: "member", .. })
        ));
        assert!(matches!(
            parse_id::<UserId>("friend id", "nope"),
            Err(ReadError::BadId { .. })
        ));
        let mut empty = Replies::new(Vec::new());
        assert!(matches!(empty.take::<i64>(), Err(ReadError::MissingReply)));
    }
}
