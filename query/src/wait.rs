//! Bounded waiting for `X-Min-Position`: poll a projection's checkpoint with
//! a short doubling backoff (1 ms up to 10 ms) until it reaches the wanted
//! position or the caller's deadline passes. Polling is cheap (one small
//! read) and needs no notification channel from the projector, which keeps
//! the query side working against a replica or another process.

use api::MinPosition;
use std::time::Duration;
use tokio::time::Instant;

const FIRST_DELAY: Duration = Duration::from_millis(1);
const MAX_DELAY: Duration = Duration::from_millis(10);

/// The read-your-writes bound of one request: the position to reach and when
/// to give up. Shared by every projection the request reads, so a route that
/// reads two projections waits at most once the caller's budget in total.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    /// The position to reach (0: none asked for).
    pub position: i64,
    /// When to give up.
    pub deadline: Instant,
}

impl Bound {
    /// The bound a request asked for, starting now.
    pub fn of(min: MinPosition) -> Self {
        Self {
            position: min.position,
            deadline: Instant::now() + min.wait,
        }
    }
}

/// Doubling backoff that never sleeps past the deadline.
#[derive(Debug)]
pub(crate) struct Backoff {
    delay: Duration,
    deadline: Instant,
}

impl Backoff {
    /// A backoff ending at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Self {
            delay: FIRST_DELAY,
            deadline,
        }
    }

    /// Sleep before the next poll; `false` once the deadline has passed (the
    /// caller then polls no more).
    pub async fn sleep(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.delay.min(self.deadline - now)).await;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        true
    }
}
