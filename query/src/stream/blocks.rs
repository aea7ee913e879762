//! Blocking on the stream (issue 16): a user who blocked X gets none of X's
//! frames, and typing never goes from or to someone blocked.
//!
//! Each node keeps, per user with a connection here, whom they blocked and
//! who blocked them ([`Blocks`]), read with the connection's initial state
//! (so a replay is filtered like live frames) and read again when a block
//! between them and anyone changes: the `redis` projection publishes a
//! notice (`readmodel::live::BlocksNotice`) after applying one, and every
//! heartbeat re-reads it too, should a notice be lost (NATS core is at most
//! once). Frames routed between the block's application and the re-read
//! still follow the old set: a few milliseconds.
//!
//! What a frame is withheld for: its [`Frame::actor`] is blocked (the
//! author of a posted, edited or deleted message, who reacted, whose read
//! marker moved), or it is about a message withheld earlier on the same
//! connection (reactions of a blocked user's message, or an edit in a frame
//! stored before edits named their author). Frames of
//! membership are never withheld: who is in a room is every member's to
//! know, and the connection follows its rooms by them.

use domain::frame::Frame;
use domain::{MessageId, UserId};
use readmodel::people;
use readmodel::{ReadError, RedisKeys, Replies};
use redis::Pipeline;
use std::collections::HashSet;

/// Whom a user blocked and who blocked them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Blocks {
    /// Users this user blocked: their frames are withheld.
    pub blocked: HashSet<UserId>,
    /// Users who blocked this user: no typing to or from them.
    pub blockers: HashSet<UserId>,
}

impl Blocks {
    /// Queue the read of `user`'s blocks; take them with [`Blocks::take`].
    pub(crate) fn queue(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
        people::queue_blocks(pipe, keys, user);
        people::queue_blocked_by(pipe, keys, user);
    }

    /// The blocks queued by [`Blocks::queue`].
    pub(crate) fn take(values: &mut Replies) -> Result<Self, ReadError> {
        let blocked = people::take_blocks(values)?
            .into_iter()
            .map(|b| b.user_id)
            .collect();
        let blockers = people::take_blocked_by(values)?.into_iter().collect();
        Ok(Self { blocked, blockers })
    }

    /// Whether typing between this user and `other` is silenced (either
    /// blocked the other).
    pub(crate) fn silences(&self, other: UserId) -> bool {
        self.blocked.contains(&other) || self.blockers.contains(&other)
    }

    /// Whether `frame` is withheld from this user, given the messages
    /// withheld so far (`withheld`, to which a withheld message is added).
    pub(crate) fn withholds(&self, frame: &Frame, withheld: &mut HashSet<MessageId>) -> bool {
        let message = frame.message_id();
        if message.is_some_and(|m| withheld.contains(&m)) {
            return true;
        }
        if !frame.actor().is_some_and(|a| self.blocked.contains(&a)) {
            return false;
        }
        if let (Some(m), domain::frame::FrameBody::MessagePosted { .. }) = (message, &frame.body) {
            withheld.insert(m);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::frame::FrameBody;
    use domain::RoomId;
    use uuid::Uuid;

    fn frame(body: FrameBody) -> Frame {
        Frame {
            position: 1,
            room_id: RoomId(Uuid::from_u128(9)),
            body,
        }
    }

    #[test]
    fn a_blocked_authors_message_and_what_follows_it_are_withheld() {
        let (x, y) = (UserId(Uuid::from_u128(1)), UserId(Uuid::from_u128(2)));
        let blocks = Blocks {
            blocked: [x].into(),
            blockers: HashSet::new(),
        };
        let m = MessageId(Uuid::from_u128(5));
        let posted = |author| {
            frame(FrameBody::MessagePosted {
                message_id: m,
                seq: 1,
                author_id: author,
                body: "hi".into(),
                reply_to: None,
                at: Utc::now(),
                attachments: Vec::new(),
                mentions: Vec::new(),
                reactions: Vec::new(),
                unread_by: 0,
            })
        };
        let edited = frame(FrameBody::MessageEdited {
            message_id: m,
            seq: 1,
            author_id: None,
            body: "edited".into(),
            at: Utc::now(),
        });
        let mut withheld = HashSet::new();
        assert!(!blocks.withholds(&posted(y), &mut withheld));
        assert!(!blocks.withholds(&edited, &mut withheld));
        assert!(blocks.withholds(&posted(x), &mut withheld));
        assert!(blocks.withholds(&edited, &mut withheld));
        let reacted = |actor| {
            frame(FrameBody::ReactionsChanged {
                message_id: MessageId(Uuid::from_u128(6)),
                seq: 2,
                reactions: Vec::new(),
                by: Vec::new(),
                actor: Some(actor),
            })
        };
        assert!(blocks.withholds(&reacted(x), &mut withheld));
        assert!(!blocks.withholds(&reacted(y), &mut withheld));
        let joined = frame(FrameBody::MemberJoined {
            user_id: x,
            by: x,
            at: Utc::now(),
        });
        assert!(!blocks.withholds(&joined, &mut withheld));
        assert!(blocks.silences(x));
        assert!(!blocks.silences(y));
    }

    #[test]
    fn an_edit_naming_a_blocked_author_is_withheld_without_its_post() {
        let (x, y) = (UserId(Uuid::from_u128(1)), UserId(Uuid::from_u128(2)));
        let blocks = Blocks {
            blocked: [x].into(),
            blockers: HashSet::new(),
        };
        let edited = |author| {
            frame(FrameBody::MessageEdited {
                message_id: MessageId(Uuid::from_u128(7)),
                seq: 3,
                author_id: Some(author),
                body: "edited".into(),
                at: Utc::now(),
            })
        };
        let mut withheld = HashSet::new();
        assert!(blocks.withholds(&edited(x), &mut withheld));
        assert!(!blocks.withholds(&edited(y), &mut withheld));
    }
}
