//! The `redis` projection: profiles, friends, rooms, members, room lists,
//! read markers, unread bookkeeping and recent timelines, under the keys of
//! [`RedisKeys`] for one generation.
//!
//! Exactly-once effect: a batch is applied as `WATCH checkpoint`, one
//! pipeline of reads, then one `MULTI`/`EXEC` holding every write and the new
//! checkpoint. Redis applies a transaction entirely or not at all (and with
//! `appendfsync`/RDB, persists it as a unit), so a crash leaves either the
//! old data with the old checkpoint or the new data with the new one. Events
//! at or below the checkpoint read under `WATCH` are skipped, and if another
//! applier moved the checkpoint meanwhile the `EXEC` is refused and the batch
//! is re-read and re-applied.

mod apply;
mod overlay;

use crate::error::{ProjectorError, Result};
use crate::runtime::Projection;
use domain::event::StoredEvent;
use domain::views::{RedisKeys, REDIS_PROJECTION};
use overlay::Overlay;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

/// How many times a batch is retried after losing a `WATCH` race.
const MAX_RACES: usize = 16;

/// One generation of the `redis` read model.
pub struct RedisProjection {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
    keys: RedisKeys,
    generation: i64,
}

impl RedisProjection {
    /// The projection writing generation `generation` of `namespace`.
    pub fn new(redis_url: &str, namespace: &str, generation: i64) -> Result<Self> {
        Ok(Self {
            client: redis::Client::open(redis_url)?,
            conn: None,
            keys: RedisKeys::new(namespace, generation),
            generation,
        })
    }

    /// The key names of this generation.
    pub fn keys(&self) -> &RedisKeys {
        &self.keys
    }

    /// A connection used by this projection only: `WATCH` is per connection,
    /// so it must not be shared with anyone else.
    async fn conn(&mut self) -> Result<MultiplexedConnection> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let c = self.client.get_multiplexed_async_connection().await?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// One attempt; `Ok(None)` when the `WATCH` was broken.
    async fn try_apply(&mut self, events: &[StoredEvent]) -> Result<Option<i64>> {
        let mut conn = self.conn().await?;
        let cp_key = self.keys.checkpoint();
        redis::cmd("WATCH")
            .arg(&cp_key)
            .exec_async(&mut conn)
            .await?;
        let cp: Option<i64> = conn.get(&cp_key).await?;
        let cp = cp.unwrap_or(0);
        let fresh: Vec<&StoredEvent> = events.iter().filter(|e| e.position > cp).collect();
        let Some(last) = fresh.last().map(|e| e.position) else {
            redis::cmd("UNWATCH").exec_async(&mut conn).await?;
            return Ok(Some(cp));
        };
        let mut overlay = Overlay::load(&self.keys, &mut conn, &fresh).await?;
        for e in &fresh {
            overlay.apply(&self.keys, e);
        }
        let tx = overlay.into_transaction(&self.keys, last);
        let reply: redis::Value = tx.query_async(&mut conn).await?;
        Ok((reply != redis::Value::Nil).then_some(last))
    }
}

impl Projection for RedisProjection {
    fn name(&self) -> &'static str {
        REDIS_PROJECTION
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    async fn checkpoint(&mut self) -> Result<i64> {
        let mut conn = self.conn().await?;
        let cp: Option<i64> = conn.get(self.keys.checkpoint()).await.inspect_err(|_| {
            self.conn = None;
        })?;
        Ok(cp.unwrap_or(0))
    }

    async fn apply_batch(&mut self, events: &[StoredEvent]) -> Result<i64> {
        for _ in 0..MAX_RACES {
            match self.try_apply(events).await {
                Ok(Some(cp)) => return Ok(cp),
                Ok(None) => continue,
                Err(e) => {
                    // The connection may be half-way through a WATCH: start
                    // the next attempt on a fresh one.
                    self.conn = None;
                    return Err(e);
                }
            }
        }
        Err(ProjectorError::Contended(REDIS_PROJECTION))
    }

    async fn flush(&mut self, _force: bool) -> Result<i64> {
        self.checkpoint().await
    }
}

/// The generation queries read (the pointer key), set to 1 if absent.
pub async fn current_generation(redis_url: &str, namespace: &str) -> Result<i64> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let key = RedisKeys::generation_pointer(namespace);
    let _: bool = conn.set_nx(&key, 1).await?;
    let generation: i64 = conn.get(&key).await?;
    Ok(generation)
}

/// Point queries at `generation`.
pub async fn set_generation(redis_url: &str, namespace: &str, generation: i64) -> Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: () = conn
        .set(RedisKeys::generation_pointer(namespace), generation)
        .await?;
    Ok(())
}

/// Remove every key of one generation (`SCAN` + `UNLINK`).
pub async fn drop_generation(redis_url: &str, namespace: &str, generation: i64) -> Result<u64> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys =
        crate::digest::scan_keys(&mut conn, RedisKeys::new(namespace, generation).prefix()).await?;
    let mut removed = 0;
    for chunk in keys.chunks(500) {
        let n: u64 = redis::cmd("UNLINK")
            .arg(chunk)
            .query_async(&mut conn)
            .await?;
        removed += n;
    }
    Ok(removed)
}
