//! The load side of `cotalk bench e2e`: the open-loop poster and the
//! observer that times when each acknowledged post became visible.

use super::append::latency_json;
use super::harness::BenchUser;
use super::streams::Received;
use anyhow::Result;
use contract::commands::PostMessageRequest;
use domain::RoomId;
use hdrhistogram::Histogram;
use readmodel::ProjectionName;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::client::Client;
use tokio_util::sync::CancellationToken;

/// Most posts in flight at once; beyond it a scheduled post is counted as
/// dropped rather than queued without bound.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Per-post timings, filled by the poster and the observer.
#[derive(Default)]
pub struct Ledger {
    /// position → scheduled send time, for acknowledged posts not yet seen.
    waiting_redis: BTreeMap<i64, Instant>,
    waiting_history: BTreeMap<i64, Instant>,
}

impl Ledger {
    /// Acknowledged posts not yet visible in both projections.
    pub fn pending(&self) -> usize {
        self.waiting_redis.len() + self.waiting_history.len()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant histogram bounds are valid")
}

/// Samples the `redis` checkpoint every millisecond and the `history`
/// checkpoint every two, settling the posts at or below them.
pub struct Observer {
    /// Post → visible in the redis projection, µs.
    pub redis: Arc<Mutex<Histogram<u64>>>,
    /// Post → visible in the history projection, µs.
    pub history: Arc<Mutex<Histogram<u64>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Start observing for `ledger`.
    pub fn start(
        ledger: Arc<Mutex<Ledger>>,
        mut redis: redis::aio::MultiplexedConnection,
        read_pool: sqlx::PgPool,
        checkpoint_key: String,
    ) -> Self {
        let seen_redis = Arc::new(Mutex::new(histogram()));
        let seen_history = Arc::new(Mutex::new(histogram()));
        let stop = CancellationToken::new();
        let task = {
            let (seen_redis, seen_history, stop) =
                (seen_redis.clone(), seen_history.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut history_every = 0u32;
                while !stop.is_cancelled() {
                    tick.tick().await;
                    let now = Instant::now();
                    if let Ok(Some(cp)) = redis::cmd("GET")
                        .arg(&checkpoint_key)
                        .query_async::<Option<i64>>(&mut redis)
                        .await
                    {
                        settle(&ledger, cp, now, true, &seen_redis);
                    }
                    history_every += 1;
                    if history_every.is_multiple_of(2) {
                        let cp: Option<i64> = sqlx::query_scalar(
                            "SELECT position FROM projection_checkpoints WHERE projection = $1 ORDER BY generation DESC LIMIT 1",
                        )
                        .bind(ProjectionName::History.as_str())
                        .fetch_optional(&read_pool)
                        .await
                        .ok()
                        .flatten();
                        if let Some(cp) = cp {
                            settle(&ledger, cp, Instant::now(), false, &seen_history);
                        }
                    }
                }
            })
        };
        Self {
            redis: seen_redis,
            history: seen_history,
            stop,
            task,
        }
    }

    /// Stop sampling; returns (redis, history) latency summaries.
    pub async fn finish(self) -> (Value, Value) {
        self.stop.cancel();
        let _ = self.task.await;
        let redis = latency_json(&self.redis.lock().unwrap_or_else(|e| e.into_inner()));
        let history = latency_json(&self.history.lock().unwrap_or_else(|e| e.into_inner()));
        (redis, history)
    }
}

/// Mark every waiting post at or below `checkpoint` as seen at `now`.
fn settle(
    ledger: &Mutex<Ledger>,
    checkpoint: i64,
    now: Instant,
    redis: bool,
    hist: &Mutex<Histogram<u64>>,
) {
    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let waiting = if redis {
        &mut l.waiting_redis
    } else {
        &mut l.waiting_history
    };
    let rest = waiting.split_off(&(checkpoint + 1));
    let done = std::mem::replace(waiting, rest);
    drop(l);
    if done.is_empty() {
        return;
    }
    let mut h = hist.lock().unwrap_or_else(|e| e.into_inner());
    for (_, scheduled) in done {
        let _ = h.record(now.saturating_duration_since(scheduled).as_micros().max(1) as u64);
    }
}

/// One step of open-loop posting.
pub struct Step<'a> {
    /// The API of the server under test.
    pub client: &'a Client,
    pub users: &'a [BenchUser],
    /// Room id and the indexes of its members.
    pub rooms: &'a [(RoomId, Vec<usize>)],
    pub received: &'a Received,
    /// Index of the step (0 = warm-up) stamped into the bodies.
    pub step: usize,
    pub rate: u32,
    pub seconds: f64,
}

impl Step<'_> {
    /// Post at `rate` per second for `seconds`, on schedule, round-robin
    /// over the rooms, each post by the next member of its room. Returns the
    /// load figures and the number of frames the members should receive.
    pub async fn post(&self, ledger: &Arc<Mutex<Ledger>>) -> Result<(Value, u64)> {
        let total = (f64::from(self.rate) * self.seconds) as u64;
        let interval = Duration::from_secs_f64(1.0 / f64::from(self.rate.max(1)));
        let acks = Arc::new(Mutex::new(histogram()));
        let errors = Arc::new(AtomicU64::new(0));
        let frames = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        let mut dropped = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        let start = Instant::now();
        for i in 0..total {
            let scheduled = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(scheduled.into()).await;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                dropped += 1;
                continue;
            };
            let (room, members) = &self.rooms[i as usize % self.rooms.len()];
            let author = members[(i as usize / self.rooms.len()) % members.len()];
            let body = self.received.stamp(
                self.step,
                scheduled,
                &format!("메시지 {i}: 오늘 회의는 3시에 시작합니다. see you at the meeting"),
            );
            let (me, room) = (self.client.auth(self.users[author].token.clone()), *room);
            let (acks, errors, frames, ledger) =
                (acks.clone(), errors.clone(), frames.clone(), ledger.clone());
            let fan_out = members.len() as u64;
            tasks.spawn(async move {
                let _permit = permit;
                let answer = me.post_message(room, &PostMessageRequest::text(body)).await;
                let now = Instant::now();
                match answer.map(|posted| posted.position) {
                    Ok(position) => {
                        let _ = acks.lock().unwrap_or_else(|e| e.into_inner()).record(
                            now.saturating_duration_since(scheduled).as_micros().max(1) as u64,
                        );
                        frames.fetch_add(fan_out, Ordering::Relaxed);
                        let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
                        l.waiting_redis.insert(position, scheduled);
                        l.waiting_history.insert(position, scheduled);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            while tasks.try_join_next().is_some() {}
        }
        let sent_for = start.elapsed().as_secs_f64();
        while tasks.join_next().await.is_some() {}
        let acks = acks.lock().unwrap_or_else(|e| e.into_inner());
        Ok((
            json!({
                "offered": total,
                "acknowledged": acks.len(),
                "achieved_per_s": acks.len() as f64 / sent_for.max(f64::EPSILON),
                "dropped": dropped,
                "errors": errors.load(Ordering::Relaxed),
                "ack": latency_json(&acks),
            }),
            frames.load(Ordering::Relaxed),
        ))
    }
}
