//! The process's revocation follower: keeps this node's deny list
//! ([`api::revoked::RevokedSessions`], shared by the command and query
//! routes and the streams) in step with every other node's revocations.
//!
//! Pushes arrive over NATS core (`readmodel::sessions::revoked_subject`), so
//! a revocation anywhere reaches this node within milliseconds. NATS core
//! delivers at most once: whatever was published while this node was
//! starting, disconnected, or too slow is read back from Redis
//! (`readmodel::sessions::revoked_key`), which the revoking node writes
//! before it publishes. The follower catches up from Redis when it starts
//! (start-up waits for that, briefly), after every NATS (re)connection,
//! after any failed catch-up (retried each second), and every
//! [`SAFETY_SWEEP`] regardless. Expired entries are dropped each second.
//!
//! It is one task with a cancellation token; NATS and Redis may restart
//! under it (the NATS client reconnects forever, the Redis connection is
//! remade on the next catch-up).

use anyhow::{Context, Result};
use api::revoked::RevokedSessions;
use async_nats::Event;
use futures::StreamExt;
use readmodel::sessions::{queue_live, revoked_subject, take_live, Revocation};
use readmodel::{RedisConn, RedisTarget, Timeouts};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How often expired entries are dropped and a failed catch-up is retried.
const TICK: Duration = Duration::from_secs(1);
/// A catch-up from Redis at least this often, should a push be lost without
/// the client noticing (a slow consumer).
const SAFETY_SWEEP: Duration = Duration::from_secs(30);
/// How long start-up waits for the first catch-up.
const FIRST_CATCH_UP: Duration = Duration::from_secs(2);

/// Where the follower reads from.
pub struct Sources {
    /// The namespace (key and subject prefix).
    pub namespace: String,
    /// Redis (catch-up).
    pub redis_url: String,
    /// NATS (pushes).
    pub nats_url: String,
}

/// Start following into `list` until `cancel` fires.
pub async fn start(
    sources: Sources,
    list: Arc<RevokedSessions>,
    cancel: CancellationToken,
) -> Result<JoinHandle<()>> {
    let redis = RedisTarget::open(&sources.redis_url).context("redis url")?;
    let (events_tx, events) = mpsc::channel::<Event>(64);
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .event_callback(move |event| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.try_send(event);
            }
        })
        .connect(readmodel::subjects::servers(&sources.nats_url))
        .await
        .context("nats connect options")?;
    let subject = revoked_subject(&sources.namespace);
    let subscriber = nats
        .subscribe(subject.clone())
        .await
        .context("subscribe to revocations")?;
    let mut follower = Follower {
        namespace: sources.namespace,
        redis,
        conn: None,
        list,
        nats,
        subject,
    };
    let first = tokio::time::timeout(FIRST_CATCH_UP, follower.catch_up()).await;
    let caught_up = matches!(first, Ok(true));
    if !caught_up {
        warn!("revoked sessions not read from redis yet; retrying in the background");
    }
    Ok(tokio::spawn(
        follower.run(subscriber, events, !caught_up, cancel),
    ))
}

struct Follower {
    namespace: String,
    redis: RedisTarget,
    conn: Option<RedisConn>,
    list: Arc<RevokedSessions>,
    nats: async_nats::Client,
    subject: String,
}

impl Follower {
    async fn run(
        mut self,
        mut subscriber: async_nats::Subscriber,
        mut events: mpsc::Receiver<Event>,
        mut behind: bool,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(SAFETY_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                message = subscriber.next() => match message {
                    Some(m) => self.receive(&m.payload),
                    None => {
                        // The client ended the subscription: subscribe again,
                        // and read what may have been missed meanwhile.
                        behind = true;
                        match self.nats.subscribe(self.subject.clone()).await {
                            Ok(s) => subscriber = s,
                            Err(e) => {
                                warn!(error = %e, "cannot subscribe to revocations");
                                tokio::time::sleep(TICK).await;
                            }
                        }
                    }
                },
                event = events.recv() => match event {
                    // Pushes published while disconnected are gone.
                    Some(Event::Disconnected | Event::SlowConsumer(_)) => behind = true,
                    Some(Event::Connected) => behind = !self.catch_up().await,
                    Some(other) => debug!(event = %other, "nats event"),
                    None => {}
                },
                _ = tick.tick() => {
                    self.list.expire(now_ms());
                    if behind {
                        behind = !self.catch_up().await;
                    }
                }
                _ = sweep.tick() => behind = !self.catch_up().await,
            }
        }
        let _ = self.nats.drain().await;
    }

    fn receive(&self, payload: &[u8]) {
        match serde_json::from_slice::<Revocation>(payload) {
            Ok(r) => {
                let until = r.until_ms;
                self.list
                    .extend(r.session_ids.into_iter().map(|s| (s, until)), now_ms());
            }
            Err(e) => warn!(error = %e, "undecodable revocation"),
        }
    }

    /// Read every revocation still in force from Redis; whether it worked.
    async fn catch_up(&mut self) -> bool {
        let conn = match &self.conn {
            Some(c) => c.clone(),
            None => {
                let timeouts = Timeouts::new(Duration::from_secs(1), Duration::from_secs(2));
                match self.redis.connect_managed(timeouts, 1, 200).await {
                    Ok(c) => {
                        self.conn = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        debug!(error = %e, "redis unavailable for revocations");
                        return false;
                    }
                }
            }
        };
        let mut conn = conn;
        let mut pipe = redis::pipe();
        let now = now_ms();
        queue_live(&mut pipe, &self.namespace, now);
        match pipe.query_async::<(Vec<(String, i64)>,)>(&mut conn).await {
            Ok((live,)) => {
                let entries = take_live(live);
                let before = self.list.len();
                self.list.extend(entries, now);
                if self.list.len() != before {
                    info!(revoked = self.list.len(), "revoked sessions caught up");
                }
                true
            }
            Err(e) => {
                debug!(error = %e, "reading revoked sessions failed");
                false
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
