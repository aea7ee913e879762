//! The names of the `redis` projection's keys and the lengths of its windows.

use domain::ids::{AttachmentId, MeetupId, RoomId, UserId};

/// How many recent messages the timeline keeps per room.
pub const TIMELINE_LEN: usize = 200;
/// How many recent frames (see [`domain::frame`]) the `redis` projection keeps
/// per room, for resuming a stream (`GET /v1/stream?after=`).
pub const FRAMES_LEN: usize = 256;
/// How many recent membership frames it keeps per user (to replay a leave or
/// a join that happened while the user was away).
pub const USER_FRAMES_LEN: usize = 128;

/// Names of the Redis keys of one generation of the `redis` projection.
///
/// Every key starts with `{namespace}:rm:g{generation}:`, so a generation can
/// be dropped with one `SCAN MATCH` + `UNLINK` and deployments sharing a Redis
/// never collide. Keys of one room also carry the `{room_id}` hash tag; on a
/// Redis Cluster the namespace's own tag comes first and wins, so that all
/// of a deployment's keys share one slot (see [`crate::RedisTarget`]).
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
    /// in the same transaction as the data it covers.
    pub fn checkpoint(&self) -> String {
        format!("{}checkpoint", self.prefix)
    }
    /// STRING: JSON [`ProfileView`](domain::views::ProfileView).
    pub fn user(&self, id: UserId) -> String {
        format!("{}user:{id}", self.prefix)
    }
    /// SET: ids of deleted users (issue 18), for the `deleted_user` marker
    /// of their messages.
    pub fn deleted_users(&self) -> String {
        format!("{}users:deleted", self.prefix)
    }
    /// STRING: the user id owning a username.
    pub fn username(&self, name: &str) -> String {
        format!("{}username:{name}", self.prefix)
    }
    /// HASH: other user id → JSON [`FriendEntryView`](domain::views::FriendEntryView).
    pub fn friends(&self, id: UserId) -> String {
        format!("{}friends:{id}", self.prefix)
    }
    /// STRING: the room id of a meet-up (its live frames go there).
    pub fn meetup_room(&self, id: MeetupId) -> String {
        format!("{}meetup_room:{id}", self.prefix)
    }
    /// STRING: JSON [`RoomView`](domain::views::RoomView).
    pub fn room(&self, id: RoomId) -> String {
        format!("{}room:{{{id}}}", self.prefix)
    }
    /// HASH: user id → JSON [`MemberView`](domain::views::MemberView).
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
    /// ZSET: the last [`TIMELINE_LEN`] messages as JSON
    /// [`MessageView`](domain::views::MessageView), score = `seq`.
    pub fn timeline(&self, id: RoomId) -> String {
        format!("{}timeline:{{{id}}}", self.prefix)
    }
    /// HASH: `seq` → JSON list of [`ReactionSet`](domain::views::ReactionSet):
    /// who reacted to each message with what.
    pub fn reactions(&self, id: RoomId) -> String {
        format!("{}reactions:{{{id}}}", self.prefix)
    }
    /// STRING: JSON [`NoticeView`](domain::views::NoticeView), absent without a notice.
    pub fn notice(&self, id: RoomId) -> String {
        format!("{}notice:{{{id}}}", self.prefix)
    }
    /// ZSET: the `seq`s a member hid for themselves (member and score).
    pub fn hidden(&self, id: RoomId, user: UserId) -> String {
        format!("{}hidden:{{{id}}}:{user}", self.prefix)
    }
    /// HASH: current member id → `joined_seq` (see [`domain::unread`]).
    pub fn joined(&self, id: RoomId) -> String {
        format!("{}joined:{{{id}}}", self.prefix)
    }
    /// ZSET: a user's rooms, score = when the user joined (milliseconds
    /// since the epoch); [`RedisKeys::room_activity`] orders the list (see
    /// [`crate::rooms::queue_page`]).
    pub fn rooms_of(&self, id: UserId) -> String {
        format!("{}rooms:{id}", self.prefix)
    }
    /// ZSET: every room's last activity, room id → milliseconds since the
    /// epoch: one entry per room, written once per batch that moved it, so a
    /// post costs one member here however many members its room has.
    pub fn room_activity(&self) -> String {
        format!("{}activity", self.prefix)
    }
    /// ZSET: the room's last [`FRAMES_LEN`] frames as JSON
    /// [`Frame`](domain::frame::Frame), score = position.
    pub fn frames(&self, id: RoomId) -> String {
        format!("{}frames:{{{id}}}", self.prefix)
    }
    /// ZSET: the last [`USER_FRAMES_LEN`] frames that made a user join or
    /// leave a room, as JSON [`Frame`](domain::frame::Frame), score = position.
    pub fn user_frames(&self, id: UserId) -> String {
        format!("{}uframes:{id}", self.prefix)
    }
    /// STRING: JSON [`AttachmentEntry`](crate::attachments::AttachmentEntry).
    pub fn attachment(&self, id: AttachmentId) -> String {
        format!("{}attachment:{id}", self.prefix)
    }
    /// ZSET: unsent uploads `{room}:{id}`, score = upload time in milliseconds.
    pub fn pending_uploads(&self) -> String {
        format!("{}uploads:pending", self.prefix)
    }
    /// ZSET: discarded uploads whose bytes the sweeper has yet to delete
    /// (a work queue the sweeper empties: left out of digests).
    pub fn discarded_uploads(&self) -> String {
        format!("{}uploads:discarded", self.prefix)
    }
}

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
        assert!(!RedisKeys::generation_pointer("t1").starts_with(k.prefix()));
    }
}
