//! KakaoTalk's "1": how many people a message still waits for.
//!
//! API.md: `unread_by` counts the members, other than the author, who were
//! members when the message was posted and still are, and whose read marker
//! is below its `seq`. "Were members when it was posted and still are" is,
//! for the current members, "joined (this time) no later than the message":
//! each membership records `joined_seq`, the `seq` the next message posted
//! after the join gets (`last_seq + 1` at the join), so the member saw
//! message `s` posted exactly when `joined_seq <= s`. A member who left and
//! came back has the `joined_seq` of the new membership, so messages of the
//! time they were away never wait for them.
//!
//! `joined_seq` is derived by folding the room's stream (the room's
//! `last_seq` at each `member_added` / `room.created`), so no event needs a
//! new field and old logs give the same answer. A projection keeps, per
//! room, each current member's `(joined_seq, read_seq)` next to the read
//! markers it already has, and computes a page of messages from one read of
//! that set: no query per message.

use crate::ids::UserId;

/// What `unread_by` needs of one current member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadingMember {
    pub user_id: UserId,
    /// The first `seq` posted while this membership lasts (see the module docs).
    pub joined_seq: u64,
    /// The member's read marker: every message with `seq <= read_seq` is read.
    pub read_seq: u64,
}

/// How many of `members` (the room's *current* members) the message `seq` by
/// `author` still waits for. Never counts the author.
pub fn unread_by(message_seq: u64, author: UserId, members: &[ReadingMember]) -> u32 {
    let n = members
        .iter()
        .filter(|m| m.user_id != author && m.joined_seq <= message_seq && m.read_seq < message_seq)
        .count();
    // A room has at most 1000 members; saturate rather than wrap if that ever grows.
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn user(n: u8) -> UserId {
        UserId(Uuid::from_u128(u128::from(n) + 1))
    }
    fn member(n: u8, joined_seq: u64, read_seq: u64) -> ReadingMember {
        ReadingMember {
            user_id: user(n),
            joined_seq,
            read_seq,
        }
    }

    #[test]
    fn counts_members_who_saw_it_posted_and_have_not_read_it() {
        let members = [
            member(0, 1, 5), // the author
            member(1, 1, 4), // read up to 4: waits
            member(2, 1, 5), // read it
            member(3, 6, 0), // joined after it
            member(4, 5, 0), // joined just before it: waits
        ];
        assert_eq!(unread_by(5, user(0), &members), 2);
        // The author is never counted, even with an old marker.
        assert_eq!(unread_by(5, user(1), &members), 1);
        assert_eq!(unread_by(1, user(0), &[member(0, 1, 0)]), 0);
        assert_eq!(unread_by(7, user(0), &[]), 0);
    }

    fn members() -> impl Strategy<Value = Vec<ReadingMember>> {
        proptest::collection::btree_map(0u8..40, (1u64..30, 0u64..30), 0..40).prop_map(|m| {
            m.into_iter()
                .map(|(u, (joined, read))| member(u, joined, read))
                .collect()
        })
    }

    proptest! {
        /// Bounded by the members other than the author; the author never counts.
        #[test]
        fn never_counts_the_author(seq in 1u64..30, author in 0u8..40, ms in members()) {
            let n = unread_by(seq, user(author), &ms) as usize;
            let others = ms.iter().filter(|m| m.user_id != user(author)).count();
            prop_assert!(n <= others);
            let without_author: Vec<_> = ms.iter().copied().filter(|m| m.user_id != user(author)).collect();
            prop_assert_eq!(unread_by(seq, user(author), &without_author) as usize, n);
        }

        /// Moving any marker forward, or any member leaving, never raises it.
        #[test]
        fn only_counts_down(seq in 1u64..30, author in 0u8..40, ms in members(), who in any::<prop::sample::Index>(), to in 0u64..30) {
            let before = unread_by(seq, user(author), &ms);
            if ms.is_empty() {
                prop_assert_eq!(before, 0);
                return Ok(());
            }
            let i = who.index(ms.len());
            let mut moved = ms.clone();
            moved[i].read_seq = moved[i].read_seq.max(to);
            prop_assert!(unread_by(seq, user(author), &moved) <= before);
            let mut left = ms.clone();
            left.remove(i);
            prop_assert!(unread_by(seq, user(author), &left) <= before);
        }

        /// Zero once everyone has read up to the message (or beyond).
        #[test]
        fn zero_when_all_read(seq in 1u64..30, author in 0u8..40, ms in members(), extra in 0u64..5) {
            let all_read: Vec<_> = ms.into_iter().map(|mut m| { m.read_seq = m.read_seq.max(seq + extra); m }).collect();
            prop_assert_eq!(unread_by(seq, user(author), &all_read), 0);
        }

        /// Among members who saw both posted, an older message never waits for
        /// more of them than a newer one (markers only cover a prefix of seqs).
        #[test]
        fn later_messages_wait_for_at_least_as_many_early_members(a in 1u64..30, b in 1u64..30, author in 0u8..40, ms in members()) {
            let (lo, hi) = (a.min(b), a.max(b));
            let early: Vec<_> = ms.into_iter().filter(|m| m.joined_seq <= lo).collect();
            prop_assert!(unread_by(lo, user(author), &early) <= unread_by(hi, user(author), &early));
        }
    }
}
