//! The `redis` projection: profiles, friends, rooms, members, room lists,
//! read markers, unread bookkeeping and recent timelines, under the keys of
//! [`RedisKeys`] for one generation, written through `readmodel`'s writers.
//!
//! Exactly-once effect: a batch is applied as `WATCH checkpoint`, one
//! pipeline of reads, then one `MULTI`/`EXEC` holding every write and the new
//! checkpoint. Redis applies a transaction entirely or not at all (and with
//! `appendfsync`/RDB, persists it as a unit), so a crash leaves either the
//! old data with the old checkpoint or the new data with the new one. Events
//! at or below the checkpoint read under `WATCH` are skipped, and if another
//! applier moved the checkpoint meanwhile the `EXEC` is refused and the batch
//! is re-read and re-applied.
//!
//! Lost data: Redis may lose everything (`FLUSHALL`, a restart without
//! persistence, a failover to an empty replica), checkpoint included. The
//! projection remembers the highest checkpoint it has seen stored; finding a
//! lower one (absent = 0) on a batch or an idle check is an error, after
//! which the runtime re-reads the checkpoint and re-applies the log from it.
//!
//! Live frames: with a [`FramePublisher`] attached, the frames of every
//! batch are published right after its `EXEC` succeeded (never before, so a
//! client reading at a frame's position sees its change). The frames kept
//! for resuming streams follow edits and deletions (`readmodel::frames::redact`): no text a
//! deletion or an edit removed stays in them.

mod apply;
mod apply_people;
mod apply_pii;
mod bulk;
mod meetups;
mod messenger;
mod overlay;
mod windows;
mod write;

use crate::error::{ProjectorError, Result};
use crate::frames::FramePublisher;
use crate::generations::Lifecycle;
use crate::runtime::Projection;
use crate::ProjectorConfig;
use domain::event::StoredEvent;
use domain::frame::Frame;
use overlay::Overlay;
use readmodel::ProjectionName;
use readmodel::{generation, RedisKeys};
use readmodel::{RedisConn, RedisTarget, Timeouts};
use std::time::Duration;

/// How many times a batch is retried after losing a `WATCH` race.
const MAX_RACES: usize = 16;

/// One generation of the `redis` read model.
pub struct RedisProjection {
    target: RedisTarget,
    conn: Option<RedisConn>,
    keys: RedisKeys,
    generation: i64,
    /// Highest checkpoint seen stored; a lower one means Redis lost data.
    stored: i64,
    /// Where applied frames go, if anywhere.
    publisher: Option<FramePublisher>,
    /// A bulk run in progress (replays only, see `bulk`).
    bulk: Option<Box<bulk::Bulk>>,
    /// Last position handed to a bulk run (at or above `stored`).
    applied: i64,
    /// Where the data keys are, to open personal fields (issue 18); none:
    /// sealed fields read as deleted.
    pii: Option<(eventlog::pii::Pii, sqlx::PgPool)>,
}

impl RedisProjection {
    /// The projection writing generation `generation` of `namespace`.
    pub fn new(redis_url: &str, namespace: &str, generation: i64) -> Result<Self> {
        Ok(Self {
            target: RedisTarget::open(redis_url)?,
            conn: None,
            keys: RedisKeys::new(namespace, generation),
            generation,
            stored: 0,
            publisher: None,
            bulk: None,
            applied: 0,
            pii: None,
        })
    }

    /// Open sealed personal fields with the data keys in `pool` (the
    /// event-log database), under the master key of `pii`.
    pub fn with_pii(mut self, pii: eventlog::pii::Pii, pool: sqlx::PgPool) -> Self {
        self.pii = Some((pii, pool));
        self
    }

    /// [`RedisProjection::with_pii`] with the master key and event-log
    /// pool of `config`, if it has a master key.
    pub fn with_pii_of(self, config: &ProjectorConfig) -> Self {
        match &config.pii {
            Some(pii) => self.with_pii(pii.clone(), config.write_pool.clone()),
            None => self,
        }
    }

    /// The data keys a batch of `events` needs (one query, and none for
    /// the many batches without sealed fields). Read per batch, never
    /// cached: a key deleted a moment ago must not open anything.
    async fn data_keys(
        &self,
        events: &[&StoredEvent],
    ) -> Result<std::collections::HashMap<domain::UserId, eventlog::pii::DataKey>> {
        let users = apply_pii::sealed_users(events);
        match &self.pii {
            Some((pii, pool)) if !users.is_empty() => Ok(pii.keys(pool, &users).await?),
            _ => Ok(Default::default()),
        }
    }

    /// Publish the frames of every applied batch through `publisher`.
    pub fn with_publisher(mut self, publisher: Option<FramePublisher>) -> Self {
        self.publisher = publisher;
        self
    }

    /// The key names of this generation.
    pub fn keys(&self) -> &RedisKeys {
        &self.keys
    }

    /// A connection used by this projection only: `WATCH` is per connection,
    /// so it must not be shared with anyone else.
    async fn conn(&mut self) -> Result<RedisConn> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let c = self.fresh_conn().await?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// A new connection. Bounded waits: a hung Redis must fail the batch
    /// (and be retried), not stall the projection forever.
    async fn fresh_conn(&self) -> Result<RedisConn> {
        let timeouts = Timeouts::new(Duration::from_secs(2), Duration::from_secs(10));
        Ok(self.target.connect(timeouts).await?)
    }

    /// Read the stored checkpoint, refusing one below what was seen stored.
    async fn checkpoint_now(&mut self) -> Result<i64> {
        let cp = self.read_checkpoint().await?;
        if cp < self.stored {
            return Err(self.lost(cp));
        }
        self.stored = cp;
        self.applied = cp;
        Ok(cp)
    }

    /// One attempt; `Ok(None)` when the `WATCH` was broken. Returns the
    /// checkpoint before and after, and the frames the batch applied.
    async fn try_apply(
        &mut self,
        events: &[StoredEvent],
    ) -> Result<Option<(i64, i64, Vec<Frame>)>> {
        let mut conn = self.conn().await?;
        let cp_key = self.keys.checkpoint();
        redis::cmd("WATCH")
            .arg(&cp_key)
            .exec_async(&mut conn)
            .await?;
        let cp = generation::checkpoint(&mut conn, &self.keys)
            .await?
            .unwrap_or(0);
        if cp < self.stored {
            unwatch(&mut conn, &cp_key).await?;
            return Err(self.lost(cp));
        }
        self.stored = cp;
        let fresh: Vec<&StoredEvent> = events.iter().filter(|e| e.position > cp).collect();
        let Some(last) = fresh.last().map(|e| e.position) else {
            unwatch(&mut conn, &cp_key).await?;
            return Ok(Some((cp, cp, Vec::new())));
        };
        let pii_keys = match self.data_keys(&fresh).await {
            Ok(k) => k,
            Err(e) => {
                unwatch(&mut conn, &cp_key).await?;
                return Err(e);
            }
        };
        let mut overlay = Overlay::load(&self.keys, &mut conn, &fresh).await?;
        overlay.pii_keys = pii_keys;
        for e in &fresh {
            overlay.apply(e);
        }
        let (tx, frames) = overlay.into_transaction(&self.keys, last);
        let reply: redis::Value = tx.query_async(&mut conn).await?;
        let applied = reply != redis::Value::Nil;
        if applied {
            self.stored = last;
        }
        Ok(applied.then_some((cp, last, frames)))
    }

    async fn read_checkpoint(&mut self) -> Result<i64> {
        let mut conn = self.conn().await?;
        let cp = generation::checkpoint(&mut conn, &self.keys)
            .await
            .inspect_err(|_| {
                self.conn = None;
            })?;
        Ok(cp.unwrap_or(0))
    }

    fn lost(&self, found: i64) -> ProjectorError {
        ProjectorError::CheckpointLost {
            projection: ProjectionName::Redis,
            stored: self.stored,
            found,
        }
    }
}

impl Projection for RedisProjection {
    fn name(&self) -> ProjectionName {
        ProjectionName::Redis
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    /// The stored checkpoint, adopted as is (the runtime resumes from it,
    /// including after the data was lost).
    async fn checkpoint(&mut self) -> Result<i64> {
        let cp = self.read_checkpoint().await?;
        self.stored = cp;
        if let Some(p) = &self.publisher {
            p.observe(cp);
        }
        Ok(cp)
    }

    async fn apply_batch(&mut self, events: &[StoredEvent]) -> Result<i64> {
        for _ in 0..MAX_RACES {
            match self.try_apply(events).await {
                Ok(Some((before, cp, frames))) => {
                    if let Some(p) = &self.publisher {
                        p.publish_people(events);
                        p.publish(before, cp, frames);
                    }
                    return Ok(cp);
                }
                Ok(None) => continue,
                Err(e) => {
                    // The connection may be half-way through a WATCH: start
                    // the next attempt on a fresh one.
                    self.conn = None;
                    return Err(e);
                }
            }
        }
        Err(ProjectorError::Contended(ProjectionName::Redis))
    }

    /// Nothing to flush (every batch is durable); checks that Redis still
    /// holds what was written.
    async fn flush(&mut self, _force: bool) -> Result<i64> {
        let cp = self.read_checkpoint().await?;
        if cp < self.stored {
            return Err(self.lost(cp));
        }
        self.stored = cp;
        Ok(cp)
    }
}

/// The generation queries read (the pointer key), set to 1 if absent.
pub async fn current_generation(redis_url: &str, namespace: &str) -> Result<i64> {
    let mut conn = connect(redis_url).await?;
    Ok(generation::current(&mut conn, namespace).await?)
}

/// Point queries at `generation`.
pub async fn set_generation(redis_url: &str, namespace: &str, generation: i64) -> Result<()> {
    let mut conn = connect(redis_url).await?;
    Ok(generation::set_current(&mut conn, namespace, generation).await?)
}

/// Point queries at generation `new`, but only if its checkpoint has
/// reached generation `old`'s (atomically, see
/// [`readmodel::generation::switch_if_caught_up`]). `false` (nothing
/// changed) when `new` is behind.
pub async fn switch_if_caught_up(
    redis_url: &str,
    namespace: &str,
    old: i64,
    new: i64,
) -> Result<bool> {
    let mut conn = connect(redis_url).await?;
    Ok(generation::switch_if_caught_up(&mut conn, namespace, old, new).await?)
}

/// Remove every key of one generation (`SCAN` + `UNLINK`).
pub async fn drop_generation(redis_url: &str, namespace: &str, generation: i64) -> Result<u64> {
    let mut conn = connect(redis_url).await?;
    Ok(generation::drop(&mut conn, namespace, generation).await?)
}

/// The stored checkpoint of one generation (`None` if never written).
pub async fn checkpoint_of(
    redis_url: &str,
    namespace: &str,
    generation: i64,
) -> Result<Option<i64>> {
    let mut conn = connect(redis_url).await?;
    Ok(generation::checkpoint(&mut conn, &RedisKeys::new(namespace, generation)).await?)
}

/// `UNWATCH`, on the node holding the `WATCH` (it names no key, so a
/// cluster connection would otherwise send it to any node).
async fn unwatch(conn: &mut RedisConn, watched: &str) -> Result<()> {
    conn.on_owner_of(watched, &redis::cmd("UNWATCH")).await?;
    Ok(())
}

async fn connect(redis_url: &str) -> Result<RedisConn> {
    let timeouts = Timeouts::new(Duration::from_secs(2), Duration::from_secs(30));
    Ok(RedisTarget::open(redis_url)?.connect(timeouts).await?)
}

impl Lifecycle for RedisProjection {
    async fn current(config: &ProjectorConfig) -> Result<i64> {
        current_generation(&config.redis_url, &config.namespace).await
    }

    async fn switch(config: &ProjectorConfig, generation: i64) -> Result<()> {
        set_generation(&config.redis_url, &config.namespace, generation).await
    }

    async fn drop_data(config: &ProjectorConfig, generation: i64) -> Result<()> {
        drop_generation(&config.redis_url, &config.namespace, generation).await?;
        Ok(())
    }

    async fn checkpoint_of(config: &ProjectorConfig, generation: i64) -> Result<Option<i64>> {
        checkpoint_of(&config.redis_url, &config.namespace, generation).await
    }
}
