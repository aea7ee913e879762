//! Ephemeral notices between nodes (issue 16), on NATS core subjects
//! `{ns}.live.*` beside the frame subjects (see `readmodel::live`):
//!
//! - `typing`: a member is typing in a room (already throttled by the node
//!   that took the request); every node sends a `typing {room_id, user_id}`
//!   frame to its connections in that room but the typer's, and not
//!   between users where either blocked the other;
//! - `presence`: a user came online or went offline; every node sends
//!   `presence {user_id, online}` to its connections of the friends named;
//! - `visibility`: a user showed or hid their presence (published by the
//!   `redis` projection once applied); every node sends its connections of
//!   that user's friends `presence {user_id, online}` as they may see it
//!   now (`online: false` once hidden);
//! - `blocks`: blocks between some users changed (published by the `redis`
//!   projection once applied); every node re-reads the blocks of those of
//!   them it holds connections of.
//!
//! They are at most once, like frames, and unlike frames nothing resumes
//! them: a typing or presence frame lost in a disconnection is simply not
//! seen (presence reads stay right), and block sets are re-read by every
//! heartbeat as well.

use super::hub::StreamHub;
use super::Text;
use futures::StreamExt;
use readmodel::live::{self, BlocksNotice, PresenceNotice, TypingNotice, VisibilityNotice};
use serde::Serialize;
use std::time::Duration;
use tracing::{debug, warn};

/// Subscribe to `{ns}.live.>` on `client` and spawn the task routing the
/// notices to `hub` until it is cancelled.
pub(super) async fn start(
    hub: StreamHub,
    client: async_nats::Client,
) -> Result<(), async_nats::SubscribeError> {
    let subject = live::all_live(hub.state().namespace());
    let subscriber = client.subscribe(subject.clone()).await?;
    tokio::spawn(run(hub, client, subject, subscriber));
    Ok(())
}

async fn run(
    hub: StreamHub,
    client: async_nats::Client,
    subject: String,
    mut subscriber: async_nats::Subscriber,
) {
    let cancel = hub.cancel().clone();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            message = subscriber.next() => match message {
                Some(m) => receive(&hub, &m.subject, &m.payload),
                None => match client.subscribe(subject.clone()).await {
                    Ok(s) => subscriber = s,
                    Err(e) => {
                        warn!(error = %e, "cannot subscribe to live notices");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
            },
        }
    }
}

/// Publish `notice` on `subject` through the hub's NATS client (a failure
/// is logged: these notices are best effort by contract).
pub(crate) async fn publish(hub: &StreamHub, subject: String, notice: &impl Serialize) {
    let Some(client) = hub.nats() else {
        debug!("no nats client yet, live notice dropped");
        return;
    };
    match serde_json::to_vec(notice) {
        Ok(payload) => {
            if let Err(e) = client.publish(subject, payload.into()).await {
                debug!(error = %e, "live notice not published");
            }
        }
        Err(e) => warn!(error = %e, "cannot encode a live notice"),
    }
}

fn receive(hub: &StreamHub, subject: &str, payload: &[u8]) {
    let ns = hub.state().namespace();
    if subject == live::typing_subject(ns) {
        if let Some(n) = decode::<TypingNotice>(payload) {
            let text = serde_json::json!({
                "type": "typing",
                "room_id": n.room_id,
                "user_id": n.user_id,
            });
            hub.deliver_typing(n.room_id, n.user_id, &Text::from(text.to_string()));
        }
    } else if subject == live::presence_subject(ns) {
        if let Some(n) = decode::<PresenceNotice>(payload) {
            hub.deliver_presence(&n.to, &super::presence::presence_frame(n.user_id, n.online));
        }
    } else if subject == live::visibility_subject(ns) {
        if let Some(n) = decode::<VisibilityNotice>(payload) {
            let hub = hub.clone();
            tokio::spawn(async move {
                super::presence::visibility_changed(&hub, n.user_id, n.position).await;
            });
        }
    } else if subject == live::blocks_subject(ns) {
        if let Some(n) = decode::<BlocksNotice>(payload) {
            for user in hub.present(&n.users) {
                let hub = hub.clone();
                tokio::spawn(async move {
                    super::presence::refresh_blocks(&hub, user, n.position).await;
                });
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Option<T> {
    serde_json::from_slice(payload)
        .map_err(|e| warn!(error = %e, "undecodable live notice"))
        .ok()
}
