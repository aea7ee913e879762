//! Presence (issue 16): a user with an open stream on any node is online.
//!
//! Each open stream holds an entry in the user's presence set in Redis
//! (`readmodel::live::presence_key`), added when it joins the hub,
//! refreshed by every heartbeat (the ping tick) with a lifetime of
//! [`ttl`] (three ping intervals), and removed when it closes. A node that
//! dies leaves entries that expire on their own, so "online" means exactly
//! "some node holds a live stream of theirs", whichever node asks. The
//! scripts that add and remove an entry answer whether the user's presence
//! changed with it; only then does this node tell the user's friends, with
//! a `presence {user_id, online}` frame published on NATS core
//! (`readmodel::live::PresenceNotice`, routed by every node to its
//! connections of those friends). A user with `show_presence: false` tells
//! nobody. The same calls record `last_seen` (the last open, heartbeat or
//! close).
//!
//! A node that dies sends no `offline` frame for its streams: their
//! entries expire and reads (`GET /v1/users/{id}`, `GET /v1/me/friends`)
//! show the user offline, but friends connected at that moment are not
//! told. Every heartbeat also re-reads the connection's blocks
//! ([`super::blocks`]), in case a block notice was lost.

use super::blocks::Blocks;
use super::hub::StreamHub;
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::wait::Bound;
use crate::Fail;
use domain::views::{FriendEntryView, FriendState, ProfileView};
use domain::UserId;
use readmodel::live::{self, PresenceNotice};
use readmodel::{friends, profiles, Replies};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, warn};

/// How long a read for presence may wait.
const READ_WAIT: Duration = Duration::from_secs(2);

/// How long a stream's entry lives without a heartbeat.
pub(crate) fn ttl(hub: &StreamHub) -> Duration {
    hub.opts().ping_interval * 3
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Run one presence script for `user`; whether their presence changed.
async fn transition(
    hub: &StreamHub,
    queue: impl FnOnce(&mut redis::Pipeline, &str),
) -> Result<bool, Fail> {
    let mut pipe = redis::pipe();
    queue(&mut pipe, hub.state().namespace());
    let mut conn = hub.state().redis().await?;
    let values: Vec<redis::Value> = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| crate::failure::dependency("redis presence", e))?;
    let changed = live::take_transition(&mut Replies::new(values))
        .map_err(|e| api::ApiError::internal("redis presence", e))?;
    Ok(changed)
}

/// Stream `stream` of `user` is open (or still alive: a heartbeat).
pub(crate) async fn arrive(hub: &StreamHub, user: UserId, stream: &str) {
    let ttl = u64::try_from(ttl(hub).as_millis()).unwrap_or(u64::MAX);
    let changed = transition(hub, |pipe, ns| {
        live::queue_arrive(pipe, ns, user, stream, now_ms(), ttl)
    })
    .await;
    match changed {
        Ok(true) => {
            let hub = hub.clone();
            tokio::spawn(async move { announce(&hub, user, true).await });
        }
        Ok(false) => {}
        Err(e) => warn!(error = ?e, "presence not recorded"),
    }
}

/// Stream `stream` of `user` closed.
pub(crate) async fn leave(hub: &StreamHub, user: UserId, stream: &str) {
    let changed = transition(hub, |pipe, ns| {
        live::queue_leave(pipe, ns, user, stream, now_ms())
    })
    .await;
    match changed {
        Ok(true) => announce(hub, user, false).await,
        Ok(false) => {}
        Err(e) => warn!(error = ?e, "presence not recorded"),
    }
}

/// A heartbeat of stream `stream` of `user`: keep its entry alive (awaited,
/// so that it cannot land after the stream's [`leave`]) and re-read the
/// user's blocks (in the background).
pub(crate) async fn heartbeat(hub: &StreamHub, user: UserId, stream: &str) {
    arrive(hub, user, stream).await;
    let hub = hub.clone();
    tokio::spawn(async move { refresh_blocks(&hub, user, 0).await });
}

/// An open stream's presence entry: removed (in the background) when this
/// is dropped, however the connection ends.
pub(crate) struct Online {
    hub: StreamHub,
    user: UserId,
    /// Unique among every node's streams.
    pub stream: String,
}

impl Online {
    /// Record stream of `user` as open (awaited: its removal is only ever
    /// queued after it).
    pub(crate) async fn open(hub: &StreamHub, user: UserId) -> Self {
        let stream = uuid::Uuid::new_v4().to_string();
        arrive(hub, user, &stream).await;
        Self {
            hub: hub.clone(),
            user,
            stream,
        }
    }
}

impl Drop for Online {
    fn drop(&mut self) {
        let (hub, user, stream) = (
            self.hub.clone(),
            self.user,
            std::mem::take(&mut self.stream),
        );
        tokio::spawn(async move { leave(&hub, user, &stream).await });
    }
}

/// Read `user`'s blocks at `position` at least and apply them to their
/// connections here.
pub(crate) async fn refresh_blocks(hub: &StreamHub, user: UserId, position: i64) {
    let bound = Bound {
        position,
        deadline: Instant::now() + READ_WAIT,
    };
    match read_blocks(hub, user, bound).await {
        Ok(blocks) => hub.set_blocks(user, &blocks),
        Err(e) => debug!(error = ?e, "blocks not refreshed"),
    }
}

async fn blocks_of(snap: &mut Snapshot<'_>, user: UserId) -> Result<Blocks, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| Blocks::queue(pipe, keys, user))
        .await?;
    Ok(Blocks::take(&mut values)?)
}

async fn read_blocks(hub: &StreamHub, user: UserId, bound: Bound) -> Result<Blocks, Fail> {
    let mut snap = Snapshot::begin(hub.state(), bound);
    Ok(consistent!(snap, blocks_of(&mut snap, user)))
}

type Friends = (Option<ProfileView>, Vec<(UserId, FriendEntryView)>);

async fn friends_of(snap: &mut Snapshot<'_>, user: UserId) -> Result<Friends, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            profiles::queue_get(pipe, keys, user);
            friends::queue_list(pipe, keys, user);
        })
        .await?;
    let profile = profiles::take(&mut values)?;
    let list = friends::take_list(&mut values)?;
    Ok((profile, list))
}

async fn read_friends(hub: &StreamHub, user: UserId) -> Result<Friends, Fail> {
    let bound = Bound {
        position: 0,
        deadline: Instant::now() + READ_WAIT,
    };
    let mut snap = Snapshot::begin(hub.state(), bound);
    Ok(consistent!(snap, friends_of(&mut snap, user)))
}

/// Tell `user`'s friends that they came online or went offline, unless
/// they hide their presence.
async fn announce(hub: &StreamHub, user: UserId, online: bool) {
    let (profile, list) = match read_friends(hub, user).await {
        Ok(got) => got,
        Err(e) => {
            debug!(error = ?e, "presence not announced");
            return;
        }
    };
    if !profile.is_some_and(|p| p.show_presence) {
        return;
    }
    let to: Vec<UserId> = list
        .into_iter()
        .filter(|(_, e)| e.state == FriendState::Friend)
        .map(|(id, _)| id)
        .collect();
    if to.is_empty() {
        return;
    }
    let notice = PresenceNotice {
        user_id: user,
        online,
        to,
    };
    super::live::publish(
        hub,
        live::presence_subject(hub.state().namespace()),
        &notice,
    )
    .await;
}
