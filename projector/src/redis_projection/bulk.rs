//! The bulk path of the `redis` projection, for replays: batches pipelined
//! so that this process computes batch k+1 while Redis executes batch k.
//!
//! A live batch is read (values it depends on), applied in memory, then
//! written, each step waiting for the one before; the client and Redis take
//! turns. In a replay nothing else writes the generation being built (the
//! pointer does not name it, so no projector follows it, and the replay
//! lock keeps other replays out), so the state a batch leaves in memory is
//! the state Redis will hold once its transaction runs. Batch k+1 therefore
//! starts from it and reads only values batch k never held, which batch k
//! cannot change, on a second connection, while batch k's `MULTI`/`EXEC`
//! is still running on the first. At most one transaction is in flight.
//!
//! Exactly once still holds: each transaction runs under `WATCH` of the
//! checkpoint after checking that the checkpoint is where the previous batch
//! left it; any other writer fails the batch (and the replay, which resumes
//! from the stored checkpoint when run again). Frames are not published: a
//! rebuild is not news.

use super::overlay::Overlay;
use super::windows::Windows;
use super::RedisProjection;
use crate::error::{ProjectorError, Result};
use domain::event::StoredEvent;
use readmodel::ProjectionName;
use readmodel::RedisConn;
use readmodel::{generation, RedisKeys};
use tokio::task::JoinHandle;

/// A bulk run in progress.
#[derive(Default)]
pub(super) struct Bulk {
    /// The state the last computed batch leaves.
    state: Overlay,
    /// Its transaction, running; returns the checkpoint it stored.
    inflight: Option<JoinHandle<Result<i64>>>,
    /// The connection bulk reads use (never the one with the `WATCH`).
    reads: Option<RedisConn>,
    /// Where the run stored each message's frames.
    windows: Windows,
}

fn join_error(e: tokio::task::JoinError) -> ProjectorError {
    ProjectorError::Io(std::io::Error::other(e))
}

/// Run one batch's transaction: `WATCH` the checkpoint, check it is
/// `expected`, `EXEC`. Returns the new checkpoint.
async fn exec(
    mut conn: RedisConn,
    keys: RedisKeys,
    expected: i64,
    tx: redis::Pipeline,
    last: i64,
) -> Result<i64> {
    redis::cmd("WATCH")
        .arg(keys.checkpoint())
        .exec_async(&mut conn)
        .await?;
    let cp = generation::checkpoint(&mut conn, &keys).await?;
    if cp.unwrap_or(0) != expected {
        redis::cmd("UNWATCH").exec_async(&mut conn).await?;
        return Err(ProjectorError::Contended(ProjectionName::Redis));
    }
    let reply: redis::Value = tx.query_async(&mut conn).await?;
    if reply == redis::Value::Nil {
        return Err(ProjectorError::Contended(ProjectionName::Redis));
    }
    Ok(last)
}

impl RedisProjection {
    /// Apply `events` in batches of `chunk`, pipelined (see the module
    /// documentation); returns the durable checkpoint, which trails the
    /// last batch until [`RedisProjection::finish_bulk`].
    pub async fn apply_bulk(&mut self, events: &[StoredEvent], chunk: usize) -> Result<i64> {
        let result = self.bulk_batches(events, chunk).await;
        if result.is_err() {
            // Whatever is in flight ends on its own; the state is dropped and
            // the stored checkpoint is what counts from here on.
            let _ = self.finish_bulk().await;
            self.conn = None;
        }
        result
    }

    async fn bulk_batches(&mut self, events: &[StoredEvent], chunk: usize) -> Result<i64> {
        let mut bulk = self.bulk.take().unwrap_or_default();
        if bulk.reads.is_none() {
            // The checkpoint as stored, before anything is in flight.
            self.checkpoint_now().await?;
            bulk.reads = Some(self.fresh_conn().await?);
            bulk.windows = Windows::starting_at(self.stored);
        }
        let mut result = Ok(self.stored);
        for part in
            events[events.partition_point(|e| e.position <= self.applied)..].chunks(chunk.max(1))
        {
            let Some(last) = part.last().map(|e| e.position) else {
                continue;
            };
            let refs: Vec<&StoredEvent> = part.iter().collect();
            let pii_keys = match self.data_keys(&refs).await {
                Ok(k) => k,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let reads = bulk
                .reads
                .as_mut()
                .ok_or(ProjectorError::Contended(ProjectionName::Redis))?;
            let state = std::mem::take(&mut bulk.state);
            let mut overlay = match Overlay::load_onto(state, &self.keys, reads, &refs).await {
                Ok(o) => o,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            overlay.pii_keys = pii_keys;
            for e in part {
                overlay.apply(e);
            }
            let (tx, _frames, state) =
                overlay.into_transaction_keeping_state(&self.keys, last, Some(&mut bulk.windows));
            bulk.state = state;
            if let Some(running) = bulk.inflight.take() {
                match running.await.map_err(join_error) {
                    Ok(Ok(cp)) => self.stored = cp,
                    Ok(Err(e)) | Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let conn = self.conn().await?;
            let expected = self.applied;
            bulk.inflight = Some(tokio::spawn(exec(
                conn,
                self.keys.clone(),
                expected,
                tx,
                last,
            )));
            self.applied = last;
            result = Ok(self.stored);
        }
        self.bulk = Some(bulk);
        result
    }

    /// Wait for the transaction in flight and forget the carried state;
    /// returns the durable checkpoint.
    pub async fn finish_bulk(&mut self) -> Result<i64> {
        let Some(bulk) = self.bulk.take() else {
            return Ok(self.stored);
        };
        if let Some(running) = bulk.inflight {
            let cp = running.await.map_err(join_error)??;
            self.stored = cp;
        }
        self.applied = self.stored;
        Ok(self.stored)
    }
}
