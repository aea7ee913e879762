//! The friendship aggregate of one unordered pair of users: request, accept,
//! decline / cancel / remove. Its stream id is derived from the pair
//! ([`crate::StreamId::for_friendship`]).
//!
//! Blocking (issue 16) reaches in two ways, both decided here from flags the
//! command layer reads off the two users' aggregates: blocking ends whatever
//! the pair had ([`Friendship::end_by_block`], appended in the same commit as
//! `user.blocked`), and a request while either blocks the other is
//! *shadowed*: the sender's answer and outgoing list look as usual, the
//! receiver never learns of it, and it never turns into a friendship.

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{
    FriendRequestAccepted, FriendRequestShadowed, FriendRequested, FriendshipEndReason,
    FriendshipEnded, FriendshipEvent, StreamType,
};
use crate::ids::UserId;
use chrono::{DateTime, Utc};

/// Where the pair stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Friendship {
    /// Nothing pending, not friends.
    #[default]
    None,
    /// `from` asked `to`.
    Requested { from: UserId, to: UserId },
    /// Friends.
    Friends,
    /// `from` asked `to` while a block stood between them; only `from`
    /// knows (see [`FriendRequestShadowed`]).
    Shadowed { from: UserId, to: UserId },
}

/// Commands on a friendship; `actor` is the authenticated caller.
#[derive(Clone, Debug)]
pub enum FriendshipCommand {
    /// `actor` asks `other` (the handler has checked that `other` exists).
    /// If `other` had already asked `actor`, this accepts instead.
    Request {
        actor: UserId,
        other: UserId,
        at: DateTime<Utc>,
    },
    /// `actor` asks `other` while one of them blocks the other: answered
    /// like a request, reaching nobody (`friendship.request_shadowed`), and
    /// never accepting a request `other` sent.
    RequestWhileBlocked {
        actor: UserId,
        other: UserId,
        at: DateTime<Utc>,
    },
    /// `actor` accepts the request `other` sent.
    Accept {
        actor: UserId,
        other: UserId,
        at: DateTime<Utc>,
    },
    /// `actor` unfriends `other`, declines their request or cancels their own.
    End {
        actor: UserId,
        other: UserId,
        at: DateTime<Utc>,
    },
}

impl Aggregate for Friendship {
    const STREAM_TYPE: StreamType = StreamType::Friendship;
    type Command = FriendshipCommand;
    type Event = FriendshipEvent;

    fn decide(&self, command: &FriendshipCommand) -> Result<Vec<FriendshipEvent>, DomainError> {
        use FriendshipCommand as C;
        match (command, self) {
            (C::Request { actor, other, .. } | C::RequestWhileBlocked { actor, other, .. }, _)
                if actor == other =>
            {
                Err(DomainError::CannotBefriendSelf)
            }
            (C::Request { .. } | C::RequestWhileBlocked { .. }, Self::Friends) => {
                Err(DomainError::AlreadyFriends)
            }
            (C::RequestWhileBlocked { actor, other, at }, Self::None) => {
                Ok(vec![FriendshipEvent::Shadowed(FriendRequestShadowed {
                    from: *actor,
                    to: *other,
                    at: *at,
                })])
            }
            // Pending either way: the sender sees nothing new, and a request
            // the other side sent is never accepted across a block.
            (C::RequestWhileBlocked { .. }, Self::Requested { .. } | Self::Shadowed { .. }) => {
                Ok(vec![])
            }
            // No block any more: the own shadowed request now reaches `other`;
            // `other`'s shadowed request to `actor` meets this one and they
            // become friends, as crossing requests do.
            (C::Request { actor, other, at }, Self::Shadowed { from, .. }) => {
                if from == actor {
                    Ok(vec![FriendshipEvent::Requested(FriendRequested {
                        from: *actor,
                        to: *other,
                        at: *at,
                    })])
                } else {
                    Ok(vec![accepted(*actor, *other, *at)])
                }
            }
            (C::Request { actor, other, at }, Self::Requested { from, .. }) if from == other => {
                Ok(vec![accepted(*actor, *other, *at)])
            }
            // Asking again while the own request is pending changes nothing.
            (C::Request { .. }, Self::Requested { .. }) => Ok(vec![]),
            (C::Request { actor, other, at }, Self::None) => {
                Ok(vec![FriendshipEvent::Requested(FriendRequested {
                    from: *actor,
                    to: *other,
                    at: *at,
                })])
            }
            (C::Accept { actor, other, at }, Self::Requested { from, to })
                if from == other && to == actor =>
            {
                Ok(vec![accepted(*actor, *other, *at)])
            }
            (C::Accept { .. }, _) => Err(DomainError::FriendRequestNotFound),
            (C::End { actor, other, at }, Self::Friends) => Ok(vec![ended(
                *actor,
                *other,
                FriendshipEndReason::Removed,
                *at,
            )]),
            (C::End { actor, other, at }, Self::Requested { from, .. }) => {
                let reason = if from == actor {
                    FriendshipEndReason::Cancelled
                } else {
                    FriendshipEndReason::Declined
                };
                Ok(vec![ended(*actor, *other, reason, *at)])
            }
            (C::End { actor, other, at }, Self::Shadowed { from, .. }) if from == actor => Ok(
                vec![ended(*actor, *other, FriendshipEndReason::Cancelled, *at)],
            ),
            // The receiver of a shadowed request has nothing with `other`.
            (C::End { .. }, Self::None | Self::Shadowed { .. }) => Err(DomainError::FriendNotFound),
        }
    }

    fn evolve(self, event: &FriendshipEvent) -> Self {
        match event {
            FriendshipEvent::Requested(e) => Self::Requested {
                from: e.from,
                to: e.to,
            },
            FriendshipEvent::Accepted(_) => Self::Friends,
            FriendshipEvent::Ended(_) => Self::None,
            FriendshipEvent::Shadowed(e) => Self::Shadowed {
                from: e.from,
                to: e.to,
            },
        }
    }
}

impl Friendship {
    /// What `blocker` blocking `blocked` does to the pair: ends a
    /// friendship or any pending request (reason `blocked`), nothing if
    /// there is none. The command layer appends these to the friendship
    /// stream in the same commit as `user.blocked`.
    pub fn end_by_block(
        &self,
        blocker: UserId,
        blocked: UserId,
        at: DateTime<Utc>,
    ) -> Vec<FriendshipEvent> {
        match self {
            Self::None => vec![],
            Self::Requested { .. } | Self::Friends | Self::Shadowed { .. } => {
                vec![ended(blocker, blocked, FriendshipEndReason::Blocked, at)]
            }
        }
    }
}

fn accepted(by: UserId, requester: UserId, at: DateTime<Utc>) -> FriendshipEvent {
    FriendshipEvent::Accepted(FriendRequestAccepted { by, requester, at })
}

fn ended(
    by: UserId,
    other: UserId,
    reason: FriendshipEndReason,
    at: DateTime<Utc>,
) -> FriendshipEvent {
    FriendshipEvent::Ended(FriendshipEnded {
        by,
        other,
        reason,
        at,
    })
}

#[cfg(test)]
#[path = "friendship_block_tests.rs"]
mod block_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;
    use FriendshipCommand as C;

    const A: UserId = UserId(Uuid::from_u128(1));
    const B: UserId = UserId(Uuid::from_u128(2));

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }
    fn request(actor: UserId, other: UserId) -> C {
        C::Request {
            actor,
            other,
            at: at(),
        }
    }
    fn accept(actor: UserId, other: UserId) -> C {
        C::Accept {
            actor,
            other,
            at: at(),
        }
    }
    fn end(actor: UserId, other: UserId) -> C {
        C::End {
            actor,
            other,
            at: at(),
        }
    }
    /// Given these commands succeeded, when `then` is decided.
    fn given_when(given: &[C], when: C) -> Result<Vec<FriendshipEvent>, DomainError> {
        let state = given.iter().fold(Friendship::default(), |s, c| {
            let events = s.decide(c).expect("given command succeeds");
            s.evolve_all(&events)
        });
        state.decide(&when)
    }

    #[test]
    fn request_then_accept_makes_friends() {
        let events = given_when(&[request(A, B)], accept(B, A)).unwrap();
        assert!(
            matches!(&events[..], [FriendshipEvent::Accepted(e)] if e.by == B && e.requester == A)
        );
    }

    #[test]
    fn crossing_requests_become_friends() {
        let events = given_when(&[request(A, B)], request(B, A)).unwrap();
        assert!(matches!(&events[..], [FriendshipEvent::Accepted(_)]));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            given_when(&[], request(A, A)),
            Err(DomainError::CannotBefriendSelf)
        );
        assert_eq!(
            given_when(&[request(A, B), accept(B, A)], request(A, B)),
            Err(DomainError::AlreadyFriends)
        );
        assert_eq!(
            given_when(&[], accept(B, A)),
            Err(DomainError::FriendRequestNotFound)
        );
        // The sender cannot accept their own request.
        assert_eq!(
            given_when(&[request(A, B)], accept(A, B)),
            Err(DomainError::FriendRequestNotFound)
        );
        assert_eq!(given_when(&[], end(A, B)), Err(DomainError::FriendNotFound));
    }

    #[test]
    fn end_reasons() {
        let reason = |given: &[C], when| match &given_when(given, when).unwrap()[..] {
            [FriendshipEvent::Ended(e)] => e.reason,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            reason(&[request(A, B)], end(A, B)),
            FriendshipEndReason::Cancelled
        );
        assert_eq!(
            reason(&[request(A, B)], end(B, A)),
            FriendshipEndReason::Declined
        );
        assert_eq!(
            reason(&[request(A, B), accept(B, A)], end(B, A)),
            FriendshipEndReason::Removed
        );
    }

    #[test]
    fn repeated_request_is_a_no_op() {
        assert_eq!(given_when(&[request(A, B)], request(A, B)), Ok(vec![]));
    }
}
