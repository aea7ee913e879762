//! Read-model shapes and names, shared by the projector (which writes them)
//! and the query side (which reads them), so neither depends on the other.
//!
//! There are three projections, each rebuilt on its own:
//!
//! | name      | store                         | holds |
//! |-----------|-------------------------------|-------|
//! | `redis`   | Redis, keys under [`RedisKeys`] | profiles, usernames, friends, rooms, members, room lists, read markers, unread bookkeeping, recent timelines, recent live frames |
//! | `history` | read database, tables per generation | full message history per room |
//! | `search`  | a tantivy index directory per generation | message search |
//!
//! Every projection has a *generation*: a number that names its data (a Redis
//! key prefix, a table suffix, an index directory). A shadow rebuild writes a
//! new generation while the current one serves, then moves the generation
//! pointer, so dropping one projection's data never touches another's.

use crate::ids::{MessageId, RoomId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Name of the Redis read-model projection.
pub const REDIS_PROJECTION: &str = "redis";
/// Name of the Postgres message-history projection.
pub const HISTORY_PROJECTION: &str = "history";
/// Name of the tantivy search projection.
pub const SEARCH_PROJECTION: &str = "search";
/// Every projection, in the order `replay all` rebuilds them.
pub const PROJECTIONS: [&str; 3] = [REDIS_PROJECTION, HISTORY_PROJECTION, SEARCH_PROJECTION];

/// How many recent messages the Redis timeline keeps per room.
pub const TIMELINE_LEN: usize = 200;
/// How many recent frames (see [`crate::frame`]) the `redis` projection keeps
/// per room, for resuming a stream (`GET /v1/stream?after=`).
pub const FRAMES_LEN: usize = 256;
/// How many recent membership frames it keeps per user (to replay a leave or
/// a join that happened while the user was away).
pub const USER_FRAMES_LEN: usize = 128;
/// How many characters of a message the room list shows.
pub const PREVIEW_CHARS: usize = 100;

/// A user's public profile (`GET /v1/users/{id}`, `GET /v1/me`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

/// Where a relation between the owner of a friend list and another user stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FriendState {
    /// Friends.
    Friend,
    /// The other user asked; the owner has not answered.
    Incoming,
    /// The owner asked; the other has not answered.
    Outgoing,
}

/// One entry of a user's friend list (stored as JSON in the friends hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendEntryView {
    pub state: FriendState,
    /// When the request was made, or the friendship began.
    pub since: DateTime<Utc>,
}

/// A member's role in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
}

/// One member of a room (stored as JSON in the members hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// The last message of a room, as the room list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessageView {
    pub message_id: MessageId,
    pub seq: u64,
    pub author_id: UserId,
    pub body_preview: String,
    pub created_at: DateTime<Utc>,
}

/// A room's own fields (stored as JSON under the room key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomView {
    pub room_id: RoomId,
    pub name: String,
    pub owner_id: UserId,
    pub direct: bool,
    pub created_at: DateTime<Utc>,
    pub last_seq: u64,
    pub last_message: Option<LastMessageView>,
    pub last_activity_at: DateTime<Utc>,
}

/// One message as history and timelines show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub message_id: MessageId,
    pub room_id: RoomId,
    pub seq: u64,
    pub author_id: UserId,
    /// Empty when deleted.
    pub body: String,
    pub reply_to: Option<MessageId>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// The first [`PREVIEW_CHARS`] characters of a body, for room lists.
pub fn preview(body: &str) -> String {
    body.chars().take(PREVIEW_CHARS).collect()
}

/// Names of the Redis keys of one generation of the `redis` projection.
///
/// Every key starts with `{namespace}:rm:g{generation}:`, so a generation can
/// be dropped with one `SCAN MATCH` + `UNLINK` and deployments sharing a Redis
/// never collide. Keys of one room share the `{room_id}` hash tag, so under
/// Redis Cluster a room's keys live on one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisKeys {
    prefix: String,
}

impl RedisKeys {
    /// Keys of `generation` in `namespace`.
    pub fn new(namespace: &str, generation: i64) -> Self {
        Self {
            prefix: format!("{namespace}:rm:g{generation}:"),
        }
    }

    /// The shared prefix (for `SCAN MATCH {prefix}*`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The pointer to the generation queries read: `{namespace}:rm:generation`.
    pub fn generation_pointer(namespace: &str) -> String {
        format!("{namespace}:rm:generation")
    }

    /// STRING: the last applied global position of this generation. Written
    /// in the same script as the data it covers.
    pub fn checkpoint(&self) -> String {
        format!("{}checkpoint", self.prefix)
    }
    /// STRING: JSON [`ProfileView`].
    pub fn user(&self, id: UserId) -> String {
        format!("{}user:{id}", self.prefix)
    }
    /// STRING: the user id owning a username.
    pub fn username(&self, name: &str) -> String {
        format!("{}username:{name}", self.prefix)
    }
    /// HASH: other user id → JSON [`FriendEntryView`].
    pub fn friends(&self, id: UserId) -> String {
        format!("{}friends:{id}", self.prefix)
    }
    /// STRING: JSON [`RoomView`].
    pub fn room(&self, id: RoomId) -> String {
        format!("{}room:{{{id}}}", self.prefix)
    }
    /// HASH: user id → JSON [`MemberView`].
    pub fn members(&self, id: RoomId) -> String {
        format!("{}members:{{{id}}}", self.prefix)
    }
    /// HASH: user id → last read `seq`.
    pub fn read_markers(&self, id: RoomId) -> String {
        format!("{}read:{{{id}}}", self.prefix)
    }
    /// ZSET: every non-deleted message's `seq` (member and score), for unread counts.
    pub fn live_seqs(&self, id: RoomId) -> String {
        format!("{}seqs:{{{id}}}", self.prefix)
    }
    /// ZSET: the non-deleted `seq`s one author wrote in a room (subtracted from
    /// unread counts: your own messages are never unread).
    pub fn own_seqs(&self, id: RoomId, author: UserId) -> String {
        format!("{}own:{{{id}}}:{author}", self.prefix)
    }
    /// ZSET: the last [`TIMELINE_LEN`] messages as JSON [`MessageView`], score = `seq`.
    pub fn timeline(&self, id: RoomId) -> String {
        format!("{}timeline:{{{id}}}", self.prefix)
    }
    /// ZSET: a user's rooms, score = last activity in milliseconds since the epoch.
    pub fn rooms_of(&self, id: UserId) -> String {
        format!("{}rooms:{id}", self.prefix)
    }
    /// ZSET: the room's last [`FRAMES_LEN`] frames as JSON
    /// [`Frame`](crate::frame::Frame), score = position.
    pub fn frames(&self, id: RoomId) -> String {
        format!("{}frames:{{{id}}}", self.prefix)
    }
    /// ZSET: the last [`USER_FRAMES_LEN`] frames that made a user join or
    /// leave a room, as JSON [`Frame`](crate::frame::Frame), score = position.
    pub fn user_frames(&self, id: UserId) -> String {
        format!("{}uframes:{id}", self.prefix)
    }
}

/// Names in the read database for one generation of the `history` projection.
///
/// `messages_g{N}` is hash-partitioned by `room_id`; `projection_checkpoints`
/// and `projection_generations` are shared by the projections stored in the
/// read database and replicate with it, so a query against a replica compares
/// against the checkpoint that replica holds.
pub fn messages_table(generation: i64) -> String {
    format!("messages_g{generation}")
}

/// Checkpoints of every projection (the read database's table).
pub const CHECKPOINTS_TABLE: &str = "projection_checkpoints";
/// The generation pointer of every projection (the read database's table).
pub const GENERATIONS_TABLE: &str = "projection_generations";

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn keys_are_namespaced_by_generation_and_hash_tagged_by_room() {
        let k = RedisKeys::new("t1", 3);
        let room = RoomId(Uuid::from_u128(5));
        assert!(k.members(room).starts_with("t1:rm:g3:members:{"));
        assert!(k.timeline(room).ends_with(&format!("{{{room}}}")));
        assert_ne!(RedisKeys::new("t1", 4).checkpoint(), k.checkpoint());
    }

    #[test]
    fn preview_counts_characters() {
        assert_eq!(preview(&"가".repeat(150)).chars().count(), PREVIEW_CHARS);
    }
}
