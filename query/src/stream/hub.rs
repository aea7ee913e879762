//! The node's routing table: connections by user and by room, each with the
//! rooms it follows, and a short ring of recently received frames.
//!
//! Frames arrive from one task ([`super::fanout`]) and are routed under one
//! lock, in arrival order. A connection joins the table only once its initial
//! state is read ([`super::load`]): Redis at checkpoint `C`, read after the
//! instant `since`. Any frame received before `since` was published before
//! that read, so it is at or below `C` and already in the state the client
//! gets; every frame received after `since` is either still in the ring
//! (scanned at activation, under the same lock as routing) or routed live
//! afterwards. Frames at or below the connection's `C` are never delivered
//! live. Together: no frame missed, none delivered twice.

use super::blocks::Blocks;
use super::queue::{self, SendError};
use super::view::catch_up;
use super::{admit, close, Admit, Close, StreamOptions, Text};
use crate::state::QueryState;
use domain::frame::Frame;
use domain::{MessageId, RoomId, UserId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Most frames the ring keeps, whatever their age.
const RING_MAX: usize = 200_000;

/// One received frame with its text, serialised once for every connection.
pub(crate) struct Live {
    pub frame: Frame,
    pub text: Text,
}

/// Where a connection's frames go, why it was closed by the hub, and what
/// its user does not get (issue 16: [`Blocks`]).
pub(crate) struct Outbox {
    pub tx: queue::Sender,
    pub closed: Arc<OnceLock<Close>>,
    pub blocks: Blocks,
    /// Messages withheld from this connection so far.
    pub withheld: HashSet<MessageId>,
}

struct Conn {
    user: UserId,
    rooms: HashSet<RoomId>,
    /// Frames at or below this were in the connection's initial state.
    baseline: i64,
    out: Outbox,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    conns: HashMap<u64, Conn>,
    by_user: HashMap<UserId, HashSet<u64>>,
    by_room: HashMap<RoomId, HashSet<u64>>,
    /// Received frames in arrival order.
    ring: VecDeque<(Instant, Arc<Live>)>,
    /// Positions in the ring (a frame published twice is routed once).
    seen: HashSet<i64>,
    /// Arrival time of the newest frame dropped from the ring.
    evicted_at: Option<Instant>,
    /// Last `seq` per publisher.
    publishers: HashMap<uuid::Uuid, u64>,
    /// The positions room frames were received for, and notifications.
    frames: Chain,
    notified: Chain,
    /// Subscribed and connected to NATS: frames are flowing.
    ready: bool,
}

struct Shared {
    state: QueryState,
    opts: StreamOptions,
    cancel: CancellationToken,
    table: Mutex<Table>,
    /// The fan-out's NATS client, once connected (typing and presence
    /// notices are published on it).
    nats: OnceLock<async_nats::Client>,
}

/// The node's live-delivery hub: NATS subscription, routing table and the
/// options of its connections. Cheap to clone.
#[derive(Clone)]
pub struct StreamHub {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHub").finish_non_exhaustive()
    }
}

/// Why a connection could not join the table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Frames are not flowing (NATS down or not subscribed yet).
    NotReady,
    /// The ring no longer reaches back to the initial read: read again.
    Stale,
    /// The frames received meanwhile do not fit in the queue.
    TooSlow,
    /// The user holds [`StreamOptions::max_per_user`] connections already.
    TooMany,
}

/// A connection's place in the table; leaving it removes the connection.
pub(crate) struct Registration {
    hub: StreamHub,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut t = self.hub.table();
        t.remove(self.id);
        metrics::gauge!("cotalk_stream_connections").set(t.conns.len() as f64);
    }
}

impl StreamHub {
    /// Start the hub: subscribe to every frame subject of the namespace on
    /// `nats_url` (connecting in the background, retried forever). The hub
    /// stops and its connections close with 1001 when `cancel` fires.
    pub async fn start(
        state: QueryState,
        nats_url: &str,
        opts: StreamOptions,
        cancel: CancellationToken,
    ) -> Result<Self, super::StreamError> {
        let hub = Self {
            shared: Arc::new(Shared {
                state,
                opts,
                cancel,
                table: Mutex::new(Table::default()),
                nats: OnceLock::new(),
            }),
        };
        super::fanout::start(hub.clone(), nats_url).await?;
        tokio::spawn(super::presence::sweep(hub.clone()));
        Ok(hub)
    }

    /// Wait (at most `limit`) until every connection has closed; for shutdown.
    pub async fn drained(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.table().conns.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connections open on this node.
    pub fn connections(&self) -> usize {
        self.table().conns.len()
    }

    /// Connections `user` holds on this node.
    pub(crate) fn connections_of(&self, user: UserId) -> usize {
        self.table().held(user)
    }

    /// Whether frames are flowing (connections can be accepted).
    pub fn ready(&self) -> bool {
        self.table().ready
    }

    pub(crate) fn state(&self) -> &QueryState {
        &self.shared.state
    }

    pub(crate) fn opts(&self) -> &StreamOptions {
        &self.shared.opts
    }

    pub(crate) fn cancel(&self) -> &CancellationToken {
        &self.shared.cancel
    }

    /// The fan-out's NATS client (set once when the hub starts).
    pub(crate) fn nats(&self) -> Option<&async_nats::Client> {
        self.shared.nats.get()
    }

    pub(super) fn set_nats(&self, client: async_nats::Client) {
        let _ = self.shared.nats.set(client);
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while routing leaves the table as it was between frames;
        // carry on with it rather than failing every connection.
        self.shared
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Frames are flowing again (`true`) or may be lost (`false`: every
    /// connection is closed so that its client resumes).
    pub(crate) fn set_ready(&self, ready: bool, why: &str) {
        let mut t = self.table();
        if t.ready == ready {
            return;
        }
        t.ready = ready;
        if ready {
            info!("stream fan-out ready");
        } else {
            warn!(
                reason = why,
                connections = t.conns.len(),
                "stream fan-out interrupted, closing connections"
            );
            t.close_all(RESUME);
            // Whatever comes after the subscription is back starts new chains.
            t.frames = Chain::default();
            t.notified = Chain::default();
        }
    }

    /// Frames may have been lost: close every connection so that it resumes.
    pub(crate) fn interrupt(&self, why: &str) {
        let mut t = self.table();
        warn!(
            reason = why,
            connections = t.conns.len(),
            "frames lost, closing connections"
        );
        t.close_all(RESUME);
    }

    /// Route one received message of frames.
    pub(crate) fn dispatch(
        &self,
        publisher: uuid::Uuid,
        seq: u64,
        covers: Covers,
        frames: Vec<Arc<Live>>,
    ) {
        let now = Instant::now();
        let mut t = self.table();
        t.sequence(publisher, seq);
        if !t.frames.extend(covers) {
            t.close_all(RESUME);
        }
        for live in frames {
            if !t.seen.insert(live.frame.position) {
                continue;
            }
            t.ring.push_back((now, live.clone()));
            t.route(&live);
        }
        t.evict(now, self.shared.opts.ring_age);
    }

    /// Add a connection of `user` whose initial state (read after `since`)
    /// holds `rooms` at `baseline`, first queueing the frames received since
    /// then that it must get.
    pub(crate) fn activate(
        &self,
        user: UserId,
        rooms: HashSet<RoomId>,
        baseline: i64,
        since: Instant,
        out: Outbox,
    ) -> Result<Registration, Refused> {
        let mut t = self.table();
        if !t.ready {
            return Err(Refused::NotReady);
        }
        if t.evicted_at.is_some_and(|at| at >= since) {
            return Err(Refused::Stale);
        }
        // Under the lock that adds the connection: connections set up at
        // once cannot all slip under the cap. Why the newest is the one
        // refused: see the module documentation of `stream`.
        if t.held(user) >= self.shared.opts.max_per_user {
            return Err(Refused::TooMany);
        }
        let mut conn = Conn {
            user,
            rooms,
            baseline,
            out,
        };
        let first = t.ring.partition_point(|(at, _)| *at < since);
        let Outbox {
            blocks, withheld, ..
        } = &mut conn.out;
        let missed: Vec<(&Frame, &Text)> = t
            .ring
            .range(first..)
            .map(|(_, live)| (&live.frame, &live.text))
            .filter(|(frame, _)| frame.position > baseline)
            .filter(|(frame, _)| !blocks.withholds(frame, withheld))
            .collect();
        for text in catch_up(user, &mut conn.rooms, &missed) {
            if conn.out.tx.try_send(text).is_err() {
                return Err(Refused::TooSlow);
            }
        }
        let id = t.next_id;
        t.next_id += 1;
        for room in &conn.rooms {
            t.by_room.entry(*room).or_default().insert(id);
        }
        t.by_user.entry(user).or_default().insert(id);
        t.conns.insert(id, conn);
        metrics::gauge!("cotalk_stream_connections").set(t.conns.len() as f64);
        Ok(Registration {
            hub: self.clone(),
            id,
        })
    }
}

const RESUME: Close = Close {
    code: close::RESUME,
    reason: "frames interrupted; reconnect with after=",
};
const TOO_SLOW: Close = Close {
    code: close::TOO_SLOW,
    reason: "client too slow",
};

/// The log positions a message of frames covers ([`domain::frame::FrameBatch`]'s
/// `after` and `upto`); both 0 when the publisher does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Covers {
    pub(crate) after: i64,
    pub(crate) upto: i64,
}

/// The highest [`Covers::upto`] received on one kind of message since the
/// subscription was last (re)established; 0: none yet.
#[derive(Clone, Copy, Debug, Default)]
struct Chain {
    upto: i64,
}

impl Chain {
    /// Note the positions a message covers; `false` when it starts past the
    /// highest position received: what lies between never arrived (its
    /// publisher died first, or it was lost on the way), and every
    /// connection must be closed to resume (room frames from Redis,
    /// notifications from the feed).
    fn extend(&mut self, covers: Covers) -> bool {
        if covers.upto == 0 {
            return true;
        }
        let whole = self.upto == 0 || covers.after <= self.upto;
        if !whole {
            warn!(
                received = self.upto,
                after = covers.after,
                "messages missing between the positions received and a new one"
            );
        }
        self.upto = self.upto.max(covers.upto);
        whole
    }
}

impl Table {
    /// Note message `seq` of `publisher`; a hole closes every connection.
    fn sequence(&mut self, publisher: uuid::Uuid, seq: u64) {
        match self.publishers.insert(publisher, seq) {
            Some(last) if seq != last + 1 && seq > last => {
                warn!(%publisher, last, seq, "hole in the frame sequence");
                self.close_all(RESUME);
            }
            _ => {}
        }
    }

    /// Connections `user` holds.
    fn held(&self, user: UserId) -> usize {
        self.by_user.get(&user).map_or(0, HashSet::len)
    }

    fn route(&mut self, live: &Live) {
        let frame = &live.frame;
        let mut targets: Vec<u64> = self
            .by_room
            .get(&frame.room_id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for user in frame.joined() {
            if let Some(ids) = self.by_user.get(user) {
                targets.extend(ids.iter().copied());
            }
        }
        // A member joining again is in both lists: route once.
        targets.sort_unstable();
        targets.dedup();
        let mut slow = Vec::new();
        for id in targets {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            if frame.position <= conn.baseline
                || frame.only_for().is_some_and(|u| u != conn.user)
                || conn.out.blocks.withholds(frame, &mut conn.out.withheld)
            {
                continue;
            }
            match admit(&mut conn.rooms, conn.user, frame) {
                Admit::Skip => continue,
                Admit::Deliver => {}
                Admit::Joined => {
                    self.by_room.entry(frame.room_id).or_default().insert(id);
                }
                Admit::Left => {
                    if let Some(ids) = self.by_room.get_mut(&frame.room_id) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.by_room.remove(&frame.room_id);
                        }
                    }
                }
            }
            let text = super::view::personal(conn.user, frame, live.text.clone());
            match conn.out.tx.try_send(text) {
                Ok(()) => {}
                Err(SendError::Full) => slow.push(id),
                // The connection is ending; its registration removes it.
                Err(SendError::Closed) => {}
            }
        }
        for id in slow {
            metrics::counter!("cotalk_stream_slow_closed_total").increment(1);
            self.close(id, TOO_SLOW);
        }
    }

    /// Drop frames older than `age` (and beyond [`RING_MAX`]).
    fn evict(&mut self, now: Instant, age: Duration) {
        while let Some((at, live)) = self.ring.front() {
            if now.duration_since(*at) <= age && self.ring.len() <= RING_MAX {
                break;
            }
            let at = *at;
            self.seen.remove(&live.frame.position);
            self.evicted_at = Some(at);
            self.ring.pop_front();
        }
    }

    /// Close a connection: its queue's sender goes, so the socket task sees
    /// the end after what is queued, with `why` as the close reason.
    fn close(&mut self, id: u64, why: Close) {
        if let Some(conn) = self.conns.get(&id) {
            let _ = conn.out.closed.set(why);
        }
        self.remove(id);
    }

    fn close_all(&mut self, why: Close) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id, why);
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        for room in &conn.rooms {
            if let Some(ids) = self.by_room.get_mut(room) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_room.remove(room);
                }
            }
        }
        if let Some(ids) = self.by_user.get_mut(&conn.user) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_user.remove(&conn.user);
            }
        }
    }
}

#[path = "hub_live.rs"]
mod live;
#[path = "hub_user.rs"]
mod user;

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
