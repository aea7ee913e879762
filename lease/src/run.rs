//! A task run under a lease ([`spawn`]).
//!
//! A node without the lease is a standby: it asks for it every
//! [`Timing::standby_poll`]. Having got it, it waits [`Timing::settle`]
//! before starting the task (unless the lease was free at its very first
//! ask, as for a single node starting: see below), then renews the lease every
//! [`Timing::renew_every`] while the task runs. When a renewal fails (the
//! connection died: Postgres restarted, the network was cut, the backend was
//! terminated) the task is cancelled and awaited, and only then is the
//! connection dropped; the node waits with backoff and competes again.
//!
//! **The hand-over window.** Postgres frees the lock the moment the
//! holder's session ends, which may be before the holder has noticed (its
//! next renewal, at most `renew_every` plus one statement timeout later). A
//! new holder therefore settles for longer than one renewal before starting:
//! an old holder whose session was ended under it finds out and stops first.
//! When the old holder is cut off from Postgres rather than its session
//! ended, Postgres only frees the lock once its keepalives give up (about
//! 4 s, see `lock`), after the old holder has stopped. So two tasks overlap
//! only when a node's event loop stalls longer than that; the tasks must
//! (and cotalk's do) stay correct then, and the lease keeps "exactly one
//! active" the steady state.
//!
//! A process that finds the lease free at its very first ask starts at once:
//! the usual case is a single node (or the first of several) starting, where
//! there is no previous holder to wait for, and a restart in place of a
//! killed holder, which cannot write any more. Having waited as a standby,
//! or after a failure, it always settles.

use crate::{Lease, LeaseError, LeaseKey};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// How a leased task is paced.
#[derive(Clone, Debug)]
pub struct Timing {
    /// How often a standby asks for the lease.
    pub standby_poll: Duration,
    /// How often the holder proves its session alive.
    pub renew_every: Duration,
    /// How long one lease statement (or the connect) may take before the
    /// lease counts as lost.
    pub statement_timeout: Duration,
    /// How long a new holder waits before starting the task (longer than
    /// `renew_every`: see the module documentation).
    pub settle: Duration,
    /// First and longest wait after a failure, before competing again.
    pub backoff: (Duration, Duration),
    /// How long a cancelled task may take to stop before it is aborted.
    pub stop_within: Duration,
}

impl Default for Timing {
    /// A standby takes over within `standby_poll + settle` (1 s) of the
    /// holder's death, plus the task's own start.
    fn default() -> Self {
        Self {
            standby_poll: Duration::from_millis(500),
            renew_every: Duration::from_millis(250),
            statement_timeout: Duration::from_secs(2),
            settle: Duration::from_millis(500),
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            stop_within: Duration::from_secs(5),
        }
    }
}

/// A task running under a lease.
pub struct Leased {
    /// The lease runner; ends after the cancellation token fired, once the
    /// task has stopped and the lease is released.
    pub task: JoinHandle<()>,
    /// Whether this node runs the task now (`true`: active; `false`: standby).
    pub active: watch::Receiver<bool>,
}

/// Run `start(token)` under lease `key` on `database_url` until `cancel`
/// fires: only while this process holds the lease, cancelling `token` when
/// the lease is lost. A task that returns by itself gives the lease up (a
/// failure: another node, or this one after a backoff, starts it afresh).
pub fn spawn<F, Fut>(
    database_url: String,
    key: LeaseKey,
    timing: Timing,
    cancel: CancellationToken,
    start: F,
) -> Leased
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (active_tx, active) = watch::channel(false);
    let runner = Runner {
        backoff: timing.backoff.0,
        first: true,
        database_url,
        key,
        timing,
        cancel,
        start,
        active: active_tx,
    };
    Leased {
        task: tokio::spawn(runner.run()),
        active,
    }
}

/// How one hold of the lease connection ended.
enum Ended {
    /// The process is stopping.
    Cancelled,
    /// The connection failed or a statement timed out.
    Lost(LeaseError),
    /// The task returned on its own.
    TaskReturned,
}

struct Runner<F> {
    database_url: String,
    key: LeaseKey,
    timing: Timing,
    cancel: CancellationToken,
    start: F,
    active: watch::Sender<bool>,
    backoff: Duration,
    /// No attempt to hold the lease was made yet.
    first: bool,
}

impl<F, Fut> Runner<F>
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    async fn run(mut self) {
        self.set_active(false);
        loop {
            let ended =
                match Lease::connect(&self.database_url, &self.key, self.timing.statement_timeout)
                    .await
                {
                    Ok(lease) => self.hold(lease).await,
                    Err(e) => Ended::Lost(e),
                };
            self.first = false;
            let retry_in_ms = self.backoff.as_millis() as u64;
            match ended {
                Ended::Cancelled => return,
                Ended::Lost(e) => {
                    warn!(lease = %self.key, error = %e, retry_in_ms, "lease lost or unreachable")
                }
                Ended::TaskReturned => {
                    warn!(lease = %self.key, retry_in_ms, "leased task ended, lease given up")
                }
            }
            if sleep(self.backoff, &self.cancel).await {
                return;
            }
            self.backoff = (self.backoff * 2).min(self.timing.backoff.1);
        }
    }

    /// Wait for the lease on `lease`, then run the task while renewing it.
    async fn hold(&mut self, mut lease: Lease) -> Ended {
        let mut waited = !self.first;
        loop {
            match lease.try_acquire().await {
                Ok(true) => break,
                Ok(false) => waited = true,
                Err(e) => return Ended::Lost(e),
            }
            if sleep(self.timing.standby_poll, &self.cancel).await {
                lease.release().await;
                return Ended::Cancelled;
            }
        }
        // The lock is ours, but a holder whose session Postgres just ended
        // may not know yet: it finds out at its next renewal and stops.
        if waited && sleep(self.timing.settle, &self.cancel).await {
            lease.release().await;
            return Ended::Cancelled;
        }
        if let Err(e) = lease.renew().await {
            return Ended::Lost(e);
        }
        self.backoff = self.timing.backoff.0;
        info!(lease = %self.key, "lease taken, task active");
        self.set_active(true);
        let token = self.cancel.child_token();
        let mut task = tokio::spawn((self.start)(token.clone()));
        let mut renew = tokio::time::interval(self.timing.renew_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (ended, finished) = loop {
            tokio::select! {
                // A stopping process cancels the task too: it must not read
                // as a task that gave up.
                biased;
                _ = self.cancel.cancelled() => break (Ended::Cancelled, false),
                outcome = &mut task => {
                    if let Err(e) = outcome {
                        error!(lease = %self.key, error = %e, "leased task failed");
                    }
                    let ended = match self.cancel.is_cancelled() {
                        true => Ended::Cancelled,
                        false => Ended::TaskReturned,
                    };
                    break (ended, true);
                }
                _ = renew.tick() => {
                    if let Err(e) = lease.renew().await {
                        break (Ended::Lost(e), false);
                    }
                }
            }
        };
        self.set_active(false);
        token.cancel();
        if !finished
            && tokio::time::timeout(self.timing.stop_within, &mut task)
                .await
                .is_err()
        {
            warn!(lease = %self.key, "leased task did not stop in time, aborted");
            task.abort();
        }
        // Only now give the lease up: nobody else starts while this task may
        // still write.
        match ended {
            // A lost connection is closed by dropping it (if Postgres still
            // had the session, that ends it and frees the lock).
            Ended::Lost(_) => drop(lease),
            _ => lease.release().await,
        }
        info!(lease = %self.key, "task stopped, lease given up");
        ended
    }

    fn set_active(&self, active: bool) {
        self.active.send_replace(active);
        metrics::gauge!("cotalk_lease_active", "lease" => self.key.name().to_owned())
            .set(if active { 1.0 } else { 0.0 });
    }
}

/// Sleep `period` unless cancelled first; `true` when cancelled.
async fn sleep(period: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(period) => false,
    }
}
