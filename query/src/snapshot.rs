//! Consistent reads of the `redis` projection.
//!
//! Every read is one `MULTI`/`EXEC` transaction that starts with the
//! generation pointer and the generation's checkpoint, followed by the
//! route's own commands against the keys of the generation the reader
//! believes is current. Redis runs the transaction atomically, so within it
//! the pointer, checkpoint and data are one instant's state:
//!
//! - if the pointer names another generation (a shadow rebuild switched),
//!   the answer is dropped and the whole read starts again on the new one,
//!   so one answer never mixes generations, even across round trips;
//! - if the checkpoint is below `X-Min-Position`, the reader polls the
//!   checkpoint with backoff until it is reached (or 503 `projection_lagging`)
//!   and reads again;
//! - otherwise the checkpoint is the exact position the data reflects. A
//!   read of several round trips reports the lowest checkpoint it saw.
//!
//! In the common case (generation known, projection caught up) a read costs
//! one round trip per transaction and nothing more.
//!
//! Under Redis Cluster a transaction must stay within one hash slot: the
//! namespace carries a hash tag there (`{cotalk}`), so every key of the
//! deployment, pointer and checkpoint included, shares one slot (see
//! `readmodel::RedisTarget`). Spreading rooms over slots would need the
//! pointer and checkpoint mirrored into each room's slot and read per slot
//! (ARCHITECTURE.md, Cluster deployment).

use crate::failure::{dependency, unavailable, Fail};
use crate::state::QueryState;
use crate::wait::{Backoff, Bound};
use api::ApiError;
use readmodel::generation::{queue_stand, take_stand};
use readmodel::{RedisKeys, Replies};
use redis::{Pipeline, Value};

/// How many times a read restarts because the generation moved under it
/// before giving up: switches are rare (one per rebuild), so this only trips
/// on a pointer that flaps.
const MAX_RESTARTS: u32 = 5;

/// Why a read attempt stopped before producing its answer.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// The generation pointer moved: read everything again.
    Moved,
    /// The projection is behind the wanted position (at the given one).
    Lagging(i64),
    /// The read failed for good.
    Fail(ApiError),
}

impl From<ApiError> for Interrupt {
    fn from(e: ApiError) -> Self {
        Self::Fail(e)
    }
}

impl From<readmodel::ReadError> for Interrupt {
    fn from(e: readmodel::ReadError) -> Self {
        Self::Fail(ApiError::internal("redis read", e))
    }
}

/// One logical read of the `redis` projection (possibly several round trips).
pub(crate) struct Snapshot<'a> {
    state: &'a QueryState,
    bound: Bound,
    generation: i64,
    keys: RedisKeys,
    position: Option<i64>,
    restarts: u32,
}

impl<'a> Snapshot<'a> {
    /// Start a read for a request with the given read-your-writes bound.
    pub fn begin(state: &'a QueryState, bound: Bound) -> Self {
        let generation = state.redis_generation();
        Self {
            state,
            bound,
            generation,
            keys: RedisKeys::new(state.namespace(), generation),
            position: None,
            restarts: 0,
        }
    }

    /// The lowest checkpoint seen by the current attempt (0 before any read).
    pub fn position(&self) -> i64 {
        self.position.unwrap_or(0)
    }

    /// The namespace (for keys outside the projection, read in the same
    /// transaction).
    pub fn namespace(&self) -> &str {
        self.state.namespace()
    }

    /// The request's bound (shared with the other projections it reads).
    pub fn bound(&self) -> Bound {
        self.bound
    }

    /// Run one transaction: the generation pointer and checkpoint, then what
    /// `build` adds for the current generation's keys. Returns the values of
    /// `build`'s commands, in order.
    pub async fn exec(
        &mut self,
        build: impl FnOnce(&RedisKeys, &mut Pipeline),
    ) -> Result<Replies, Interrupt> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        queue_stand(&mut pipe, self.state.namespace(), &self.keys);
        build(&self.keys, &mut pipe);
        let mut conn = self.state.redis().await?;
        let values: Vec<Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| dependency("redis read", e))?;
        let mut values = Replies::new(values);
        let stand = take_stand(&mut values)?;
        let (generation, checkpoint) = (stand.generation, stand.checkpoint);
        if generation != self.generation {
            self.state.set_redis_generation(generation);
            self.generation = generation;
            self.keys = RedisKeys::new(self.state.namespace(), generation);
            return Err(Interrupt::Moved);
        }
        if checkpoint < self.bound.position {
            return Err(Interrupt::Lagging(checkpoint));
        }
        self.position = Some(self.position.map_or(checkpoint, |p| p.min(checkpoint)));
        Ok(values)
    }

    /// Decide what to do after an interrupted attempt: `Ok` means start the
    /// read again (after waiting for the checkpoint when it lagged).
    pub async fn recover(&mut self, interrupt: Interrupt) -> Result<(), Fail> {
        self.position = None;
        match interrupt {
            Interrupt::Fail(e) => Err(e.into()),
            Interrupt::Moved => {
                self.restarts += 1;
                if self.restarts > MAX_RESTARTS {
                    return Err(unavailable("redis read", "generation pointer keeps moving").into());
                }
                Ok(())
            }
            Interrupt::Lagging(have) => self.wait(have).await,
        }
    }

    /// Poll the current generation's checkpoint until it reaches the bound.
    async fn wait(&mut self, mut have: i64) -> Result<(), Fail> {
        let mut backoff = Backoff::until(self.bound.deadline);
        while backoff.sleep().await {
            let mut conn = self.state.redis().await?;
            let mut pipe = redis::pipe();
            queue_stand(&mut pipe, self.state.namespace(), &self.keys);
            let values: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| dependency("redis checkpoint", e))?;
            let stand = take_stand(&mut Replies::new(values))
                .map_err(|e| ApiError::internal("redis checkpoint", e))?;
            let (generation, checkpoint) = (stand.generation, Some(stand.checkpoint));
            if generation != self.generation {
                // Read the new generation's checkpoint on the next poll.
                self.state.set_redis_generation(generation);
                self.generation = generation;
                self.keys = RedisKeys::new(self.state.namespace(), generation);
                continue;
            }
            have = checkpoint.unwrap_or(0);
            if have >= self.bound.position {
                return Ok(());
            }
        }
        Err(api::position::lagging(self.bound.position, have).into())
    }
}

/// Run a read function against a [`Snapshot`] until it completes: restart on
/// a generation switch, wait on lag, fail on anything else.
macro_rules! consistent {
    ($snap:expr, $read:expr) => {
        loop {
            match $read.await {
                Ok(v) => break v,
                Err(i) => $snap.recover(i).await?,
            }
        }
    };
}
pub(crate) use consistent;
