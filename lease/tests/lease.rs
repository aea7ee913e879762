//! Leases on the real Postgres: two sessions never both hold one, a
//! session that ends (dropped, or terminated by the server) frees it, and a
//! task run under a lease is stopped before another node's task starts.

use lease::{Lease, LeaseKey, Timing};
use sqlx::PgPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::TestEnv;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(20);

/// A leased task, boxed.
type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn connect(env: &TestEnv, key: &LeaseKey) -> Lease {
    Lease::connect(&env.database_url, key, TIMEOUT)
        .await
        .expect("open a lease connection")
}

/// Try `lease` until it is taken (bounded).
async fn acquired(lease: &mut Lease) {
    let deadline = Instant::now() + DEADLINE;
    while !lease.try_acquire().await.expect("ask for the lease") {
        assert!(Instant::now() < deadline, "the lease was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// End the session holding `key` from the server's side.
async fn terminate_holder(pool: &PgPool, key: &LeaseKey) {
    let holder = lease::holder(pool, key)
        .await
        .unwrap()
        .expect("someone holds the lease");
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(holder.backend_pid)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(ended);
}

#[tokio::test]
async fn two_sessions_never_both_hold_a_lease() {
    let env = TestEnv::new().await;
    let key = LeaseKey::new(&env.namespace, "relay");
    let (mut a, mut b) = (connect(&env, &key).await, connect(&env, &key).await);
    assert!(lease::holder(&env.write_pool, &key)
        .await
        .unwrap()
        .is_none());
    assert!(a.try_acquire().await.unwrap());
    for _ in 0..5 {
        assert!(!b.try_acquire().await.unwrap(), "both hold the lease");
        assert!(a.try_acquire().await.unwrap(), "the holder lost it");
    }
    let holder = lease::holder(&env.write_pool, &key).await.unwrap().unwrap();
    assert_eq!(holder.application_name, Some(key.application_name()));

    // Other names and other namespaces are other leases.
    for other in [
        LeaseKey::new(&env.namespace, "redis"),
        LeaseKey::new("another-namespace", "relay"),
    ] {
        let mut c = connect(&env, &other).await;
        assert!(
            c.try_acquire().await.unwrap(),
            "{other} is a lease of its own"
        );
        c.release().await;
    }

    a.release().await;
    assert!(b.try_acquire().await.unwrap(), "released, yet not free");
    assert!(b.held());
    b.release().await;
}

#[tokio::test]
async fn a_session_that_ends_frees_its_lease() {
    let env = TestEnv::new().await;
    let key = LeaseKey::new(&env.namespace, "history");
    let mut standby = connect(&env, &key).await;

    // Dropped without a word (as a killed process's connection closes).
    let mut a = connect(&env, &key).await;
    assert!(a.try_acquire().await.unwrap());
    assert!(!standby.try_acquire().await.unwrap());
    drop(a);
    acquired(&mut standby).await;

    // Ended by the server: the holder finds out at its next renewal.
    let mut b = connect(&env, &key).await;
    assert!(!b.try_acquire().await.unwrap());
    terminate_holder(&env.write_pool, &key).await;
    assert!(standby.renew().await.is_err(), "renewed a dead session");
    acquired(&mut b).await;
    b.release().await;
}

/// What the leased tasks of a test saw.
#[derive(Default)]
struct Seen {
    running: AtomicUsize,
    starts: AtomicUsize,
    overlapped: AtomicBool,
}

impl Seen {
    /// A leased task that records its run until cancelled.
    fn task(self: &Arc<Self>) -> impl FnMut(CancellationToken) -> TaskFuture + Send + 'static {
        let seen = self.clone();
        move |cancel| {
            let seen = seen.clone();
            Box::pin(async move {
                if seen.running.fetch_add(1, Ordering::SeqCst) > 0 {
                    seen.overlapped.store(true, Ordering::SeqCst);
                }
                seen.starts.fetch_add(1, Ordering::SeqCst);
                cancel.cancelled().await;
                seen.running.fetch_sub(1, Ordering::SeqCst);
            })
        }
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "{what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leased_task_stops_when_its_session_ends_before_another_starts() {
    let env = TestEnv::new().await;
    let key = LeaseKey::new(&env.namespace, "redis");
    // Fast polls and renewals; a settle time far longer than a renewal.
    let timing = Timing {
        standby_poll: Duration::from_millis(50),
        renew_every: Duration::from_millis(50),
        settle: Duration::from_secs(2),
        ..Timing::default()
    };
    let seen = Arc::new(Seen::default());
    let cancel = CancellationToken::new();
    let runners: Vec<lease::Leased> = (0..2)
        .map(|_| {
            lease::spawn(
                env.database_url.clone(),
                key.clone(),
                timing.clone(),
                cancel.clone(),
                seen.task(),
            )
        })
        .collect();
    let active = || runners.iter().filter(|r| *r.active.borrow()).count();
    until("a runner active", || active() == 1).await;
    assert_eq!(seen.starts.load(Ordering::SeqCst), 1);

    // Twice: the session of the active runner is ended under it.
    for round in 2..=3 {
        terminate_holder(&env.write_pool, &key).await;
        until("the task started again", || {
            seen.starts.load(Ordering::SeqCst) == round
        })
        .await;
        assert_eq!(active(), 1, "one runner active");
    }
    assert!(
        !seen.overlapped.load(Ordering::SeqCst),
        "two leased tasks ran at once"
    );

    cancel.cancel();
    for r in runners {
        tokio::time::timeout(DEADLINE, r.task)
            .await
            .expect("runner stopped")
            .unwrap();
    }
    assert_eq!(seen.running.load(Ordering::SeqCst), 0, "a task still runs");
    assert!(lease::holder(&env.write_pool, &key)
        .await
        .unwrap()
        .is_none());
}
