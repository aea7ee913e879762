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
//! entries expire, and reads (`GET /v1/users/{id}`, `GET /v1/me/friends`)
//! show the user offline from then on. Every node [`sweep`]s the users
//! whose entries are due every [`SWEEP_EVERY`]; the node whose script
//! removes a user's last expired entries tells their friends, so friends
//! learn of it within that much after the entries expire, once. Every
//! heartbeat also re-reads the connection's blocks ([`super::blocks`]), in
//! case a block notice was lost.

use super::blocks::Blocks;
use super::hub::StreamHub;
use super::Text;
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

/// How often each node looks for users whose entries expired.
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// Most users one sweep looks at (the rest wait for the next one).
const SWEEP_BATCH: usize = 500;

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

/// Until the hub is cancelled, every [`SWEEP_EVERY`]: remove the expired
/// entries of users whose streams' node died, and tell the friends of
/// those it took offline. A failed sweep (Redis restarting) is retried at
/// the next tick.
pub(crate) async fn sweep(hub: StreamHub) {
    let cancel = hub.cancel().clone();
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match sweep_once(&hub).await {
            Ok(gone) => {
                for user in gone {
                    announce(&hub, user, false).await;
                }
            }
            Err(e) => debug!(error = ?e, "presence sweep failed"),
        }
    }
}

/// One sweep: the users it took offline.
async fn sweep_once(hub: &StreamHub) -> Result<Vec<UserId>, Fail> {
    let now = now_ms();
    let ns = hub.state().namespace();
    let mut conn = hub.state().redis().await?;
    let failed = |e| crate::failure::dependency("redis presence", e);
    let bad = |e| api::ApiError::internal("redis presence", e);
    let mut pipe = redis::pipe();
    live::queue_due(&mut pipe, ns, now, SWEEP_BATCH);
    let values: Vec<redis::Value> = pipe.query_async(&mut conn).await.map_err(failed)?;
    let due = live::take_due(&mut Replies::new(values)).map_err(bad)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for user in &due {
        live::queue_expire(&mut pipe, ns, *user, now);
    }
    live::queue_swept(&mut pipe, ns, &due, now);
    let values: Vec<redis::Value> = pipe.query_async(&mut conn).await.map_err(failed)?;
    let mut replies = Replies::new(values);
    let mut gone = Vec::new();
    for user in due {
        if live::take_transition(&mut replies).map_err(bad)? {
            gone.push(user);
        }
    }
    Ok(gone)
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

/// A user's profile, friend list and presence.
type Friends = (
    Option<ProfileView>,
    Vec<(UserId, FriendEntryView)>,
    live::Presence,
);

async fn friends_of(snap: &mut Snapshot<'_>, user: UserId) -> Result<Friends, Interrupt> {
    let ns = snap.namespace().to_owned();
    let mut values = snap
        .exec(|keys, pipe| {
            profiles::queue_get(pipe, keys, user);
            friends::queue_list(pipe, keys, user);
            live::queue_presence(pipe, &ns, user, now_ms());
        })
        .await?;
    let profile = profiles::take(&mut values)?;
    let list = friends::take_list(&mut values)?;
    let presence = live::take_presence(&mut values)?;
    Ok((profile, list, presence))
}

/// `user`'s profile, friends and presence, as of `position` at least.
async fn read_friends(hub: &StreamHub, user: UserId, position: i64) -> Result<Friends, Fail> {
    let bound = Bound {
        position,
        deadline: Instant::now() + READ_WAIT,
    };
    let mut snap = Snapshot::begin(hub.state(), bound);
    Ok(consistent!(snap, friends_of(&mut snap, user)))
}

/// The friends (not requests) in `list`.
fn friends_in(list: Vec<(UserId, FriendEntryView)>) -> Vec<UserId> {
    list.into_iter()
        .filter(|(_, e)| e.state == FriendState::Friend)
        .map(|(id, _)| id)
        .collect()
}

/// A `presence` frame.
pub(crate) fn presence_frame(user: UserId, online: bool) -> Text {
    let text = serde_json::json!({
        "type": "presence",
        "user_id": user,
        "online": online,
    });
    Text::from(text.to_string())
}

/// `user` showed or hid their presence at `position`: tell their friends
/// connected here what they may see now (hidden reads as offline).
pub(crate) async fn visibility_changed(hub: &StreamHub, user: UserId, position: i64) {
    let (profile, list, presence) = match read_friends(hub, user, position).await {
        Ok(got) => got,
        Err(e) => {
            debug!(error = ?e, "presence visibility not announced");
            return;
        }
    };
    let here = hub.present(&friends_in(list));
    if here.is_empty() {
        return;
    }
    let online = profile.is_some_and(|p| p.show_presence) && presence.online;
    hub.deliver_presence(&here, &presence_frame(user, online));
}

/// Tell `user`'s friends that they came online or went offline, unless
/// they hide their presence.
async fn announce(hub: &StreamHub, user: UserId, online: bool) {
    let (profile, list, _) = match read_friends(hub, user, 0).await {
        Ok(got) => got,
        Err(e) => {
            debug!(error = ?e, "presence not announced");
            return;
        }
    };
    if !profile.is_some_and(|p| p.show_presence) {
        return;
    }
    let to = friends_in(list);
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
