//! Retry pacing for the long-running loops.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Exponential backoff from 50 ms up to 5 s, reset after a success.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// Forget earlier failures.
    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Wait for the current delay (doubling it for next time); `false` when
    /// cancelled meanwhile.
    pub(crate) async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        sleep(d, cancel).await
    }
}

/// Sleep for `d`; `false` when cancelled meanwhile.
pub(crate) async fn sleep(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}
