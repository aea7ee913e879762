//! Blocking and the friendship: ending by block, shadowed requests, and the
//! invariant that a blocked pair never becomes friends.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use uuid::Uuid;
use FriendshipCommand as C;

const A: UserId = UserId(Uuid::from_u128(1));
const B: UserId = UserId(Uuid::from_u128(2));

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}
fn fold(given: &[C]) -> Friendship {
    given.iter().fold(Friendship::default(), |s, c| {
        let events = s.decide(c).expect("given command succeeds");
        s.evolve_all(&events)
    })
}
fn request(actor: UserId, other: UserId) -> C {
    C::Request {
        actor,
        other,
        at: at(),
    }
}
fn shadowed(actor: UserId, other: UserId) -> C {
    C::RequestWhileBlocked {
        actor,
        other,
        at: at(),
    }
}

#[test]
fn blocking_ends_friends_and_pending_requests_with_reason_blocked() {
    let accept = C::Accept {
        actor: B,
        other: A,
        at: at(),
    };
    for state in [fold(&[request(A, B), accept]), fold(&[request(B, A)])] {
        match &state.end_by_block(A, B, at())[..] {
            [FriendshipEvent::Ended(e)] => {
                assert_eq!(
                    (e.by, e.other, e.reason),
                    (A, B, FriendshipEndReason::Blocked)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(Friendship::None.end_by_block(A, B, at()).is_empty());
}

#[test]
fn a_request_across_a_block_reaches_nobody() {
    let events = fold(&[]).decide(&shadowed(B, A)).unwrap();
    assert!(matches!(&events[..], [FriendshipEvent::Shadowed(e)] if e.from == B && e.to == A));
    let s = fold(&[shadowed(B, A)]);
    // Repeating it, or the other side asking across the block, changes nothing.
    assert_eq!(s.decide(&shadowed(B, A)), Ok(vec![]));
    assert_eq!(s.decide(&shadowed(A, B)), Ok(vec![]));
    // The receiver cannot see it: not acceptable, not declinable.
    let accept = C::Accept {
        actor: A,
        other: B,
        at: at(),
    };
    assert_eq!(s.decide(&accept), Err(DomainError::FriendRequestNotFound));
    let end = |actor, other| C::End {
        actor,
        other,
        at: at(),
    };
    assert_eq!(s.decide(&end(A, B)), Err(DomainError::FriendNotFound));
    // The sender can cancel it as usual.
    assert!(matches!(
        &s.decide(&end(B, A)).unwrap()[..],
        [FriendshipEvent::Ended(e)] if e.reason == FriendshipEndReason::Cancelled
    ));
    // Once unblocked, asking again reaches the other side.
    assert!(matches!(
        &s.decide(&request(B, A)).unwrap()[..],
        [FriendshipEvent::Requested(_)]
    ));
    assert_eq!(
        fold(&[]).decide(&shadowed(A, A)),
        Err(DomainError::CannotBefriendSelf)
    );
}

fn any_step() -> impl Strategy<Value = (u8, bool, bool)> {
    // (what, actor is A, toggles block)
    (0u8..4, any::<bool>(), any::<bool>())
}

proptest! {
    /// Whatever the pair does, while one blocks the other they are never
    /// friends. Blocks come and go; each block ends what the pair had, and
    /// each request across a block is shadowed, as the command layer does.
    #[test]
    fn a_blocked_pair_never_becomes_friends(steps in proptest::collection::vec(any_step(), 1..60)) {
        let mut state = Friendship::default();
        let mut blocks: BTreeSet<(UserId, UserId)> = BTreeSet::new();
        for (what, a_acts, toggle) in steps {
            let (actor, other) = if a_acts { (A, B) } else { (B, A) };
            let blocked = !blocks.is_empty();
            let events = if toggle {
                if blocks.remove(&(actor, other)) {
                    vec![]
                } else {
                    blocks.insert((actor, other));
                    state.end_by_block(actor, other, at())
                }
            } else {
                let command = match what {
                    0 if blocked => shadowed(actor, other),
                    0 => request(actor, other),
                    1 => C::Accept { actor, other, at: at() },
                    _ => C::End { actor, other, at: at() },
                };
                state.decide(&command).unwrap_or_default()
            };
            state = state.evolve_all(&events);
            if !blocks.is_empty() {
                prop_assert_ne!(&state, &Friendship::Friends);
            }
        }
    }
}
