//! Live delivery: `GET /v1/stream`, a WebSocket pushing to each user the
//! frames ([`domain::frame`]) of every room they are a member of.
//!
//! Where frames come from: the `redis` projection publishes, after each
//! applied `MULTI`/`EXEC`, one NATS core message on `{ns}.frames.rooms`
//! holding the batch's frames of every room in position order, so each
//! connection gets its frames in position order whatever rooms they come
//! from (which resuming from the last one relies on). A frame therefore never arrives before the
//! change it announces can be read: a query with `X-Min-Position` set to the
//! frame's `position` sees it in every Redis-backed read at once; history
//! (Postgres) may apply it a moment later, which `X-Min-Position` waits for.
//!
//! Fan-out: every query process subscribes to `{ns}.frames.>` once and routes
//! frames to its own connections by room ([`hub`]), so any client may connect
//! to any node (no sticky sessions). Each node sees every frame; per-node
//! cost grows with the total frame rate, not with connections elsewhere.
//! (Interest-based subscriptions by room would cut that at a much larger
//! node count, at the price of one message per room: ordering across a
//! connection's rooms would then need merging on the node.)
//!
//! Membership is tracked per connection from the frames themselves: a frame
//! that makes the user a member (room created with them, member joined)
//! adds the room at once; their leave or kick is delivered and then nothing
//! more from that room.
//!
//! Resume (`after=<position>`): the projection keeps each room's last frames
//! and each user's last membership frames in Redis ([`load`]); the missed
//! ones are replayed from there, as a view of the rooms now ([`view`]: no
//! room the user left, no text a deletion or an edit removed), then live
//! frames follow with no gap and no duplicate. When the window no longer
//! reaches back far enough, a `{"type":"resync_required","room_id":…,
//! "position":…}` frame tells the client to reload that room (or
//! everything, when `room_id` is null).
//!
//! Lost frames (NATS disconnected, a hole in a publisher's sequence, a slow
//! NATS subscription): every connection of the node is closed with code
//! [`close::RESUME`]; clients reconnect with `after=` the last position they
//! got and are replayed exactly what they missed.
//!
//! Backpressure: each connection has a bounded queue
//! ([`StreamOptions::queue`]); a client that cannot keep up is closed with
//! [`close::TOO_SLOW`] instead of being buffered for. Heartbeats: the server
//! pings every [`StreamOptions::ping_interval`] and closes a connection that
//! has sent nothing (pongs included) for [`StreamOptions::pong_timeout`].
//! Shutdown closes every connection with 1001 (going away).
//!
//! Limits: a connection ends at its session token's expiry (close code
//! [`close::TOKEN_EXPIRED`]; the client reconnects with a fresh token and
//! `after=`), and as soon as the node's deny list learns that its session
//! was revoked ([`close::SESSION_REVOKED`]; within 1 s of the revocation
//! anywhere, see `api::revoked`). A user holds at most [`StreamOptions::max_per_user`]
//! connections per node; one more is refused with
//! [`close::TOO_MANY_STREAMS`]. The newest is refused rather than the
//! oldest closed: a refusal is stable (the client over the cap backs off and
//! the others keep working), while closing the oldest would make clients
//! that reconnect evict each other in turn, and would let a runaway client
//! push the user's working streams off. Pages of foreign origins are refused
//! before the upgrade ([`origin`]). A client message over 4 KiB (clients
//! have nothing to send but pongs) gets 1009 and an orderly close
//! ([`upgrade`] says why that needs care).
//!
//! Blocking, typing and presence (issue 16): [`blocks`] (what a user who
//! blocked someone does not get), [`typing`] (`POST
//! /v1/rooms/{room_id}/typing`), [`presence`] (who is online, across
//! nodes), [`live`] (their notices between nodes, on NATS core).
//!
//! Modules: [`hub`] (routing, membership, the recent-frames ring),
//! [`fanout`] (the NATS subscription), [`load`] (initial state and replay),
//! [`view`] (what a replay shows), [`conn`] (one socket), [`queue`] (its
//! outgoing frames), [`upgrade`] (the handshake), [`origin`] (the
//! allow-list), [`route`] (the HTTP handler).

mod conn;
mod fanout;
mod hub;
mod load;
mod origin;
mod queue;
pub(crate) mod route;
#[cfg(test)]
mod test_frames;
mod upgrade;
mod view;
// Issue 16: blocks on the stream, typing, presence and their notices.
mod blocks;
mod live;
mod presence;
pub mod typing;

pub use hub::StreamHub;
pub use origin::{AllowedOrigin, AllowedOrigins, InvalidOrigin};
/// How often every node sweeps the presence of streams whose node died.
pub use presence::SWEEP_EVERY as PRESENCE_SWEEP_EVERY;

use axum::Router;
use domain::frame::Frame;
use domain::{RoomId, UserId};
use std::collections::HashSet;
use std::time::Duration;
use thiserror::Error;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A frame as sent: its JSON text, shared by every connection it goes to.
pub(crate) type Text = tokio_tungstenite::tungstenite::Utf8Bytes;

/// WebSocket close codes the stream uses.
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent a text message that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The client did not keep up, or stopped answering pings.
    pub const TOO_SLOW: u16 = 1008;
    /// The client sent a message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Frames may have been lost on this node: reconnect with `after=`.
    pub const RESUME: u16 = 1012;
    /// The stream could not be set up; try again later.
    pub const TRY_AGAIN: u16 = 1013;
    /// The session token expired: reconnect with a fresh one and `after=`.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// The session was revoked (logout, password change, a reused refresh
    /// token): reconnecting needs a new login, a refresh will not do.
    pub const SESSION_REVOKED: u16 = 4003;
    /// The user already holds as many streams on this node as allowed.
    pub const TOO_MANY_STREAMS: u16 = 4029;
}

/// How the stream behaves; the defaults suit production.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Frames queued per connection before it is closed as too slow.
    pub queue: usize,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A connection silent for this long (no pong, nothing) is closed.
    pub pong_timeout: Duration,
    /// Longest one write to a socket may take before the client is dropped.
    pub write_timeout: Duration,
    /// How long received frames are kept in memory for connections being set
    /// up (their initial read must finish within it, or is redone).
    pub ring_age: Duration,
    /// Most connections one user may hold on this node; one more is closed
    /// with [`close::TOO_MANY_STREAMS`].
    pub max_per_user: usize,
    /// Origins allowed to open a stream besides the server's own.
    pub allowed_origins: AllowedOrigins,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            queue: 1024,
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(40),
            write_timeout: Duration::from_secs(10),
            ring_age: Duration::from_secs(10),
            max_per_user: 20,
            allowed_origins: AllowedOrigins::default(),
        }
    }
}

/// The stream could not be started.
#[derive(Debug, Error)]
pub enum StreamError {
    /// NATS options were refused (a malformed URL).
    #[error("nats: {0}")]
    Nats(String),
}

/// A close code and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// The `GET /v1/stream` and `POST /v1/rooms/{room_id}/typing` routes with their hub.
pub fn router(hub: StreamHub) -> Router {
    let (router, _) = table().split_for_parts();
    router.with_state(hub)
}

/// The stream route and its documentation, from its `#[utoipa::path]`.
pub(crate) fn table() -> OpenApiRouter<StreamHub> {
    OpenApiRouter::new()
        .routes(routes!(route::stream))
        .routes(routes!(typing::typing))
}

/// What a frame does to a connection of `me` that is in `rooms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Not for this connection.
    Skip,
    /// Deliver it.
    Deliver,
    /// Deliver it; the room was added.
    Joined,
    /// Deliver it; the room was removed (`me` left or was kicked).
    Left,
}

/// Decide whether `frame` goes to a connection of `me` whose rooms are
/// `rooms`, updating them: a frame of one of the rooms is delivered, and
/// `me`'s own leave or kick removes the room after it; a frame that makes
/// `me` a member adds the room and is delivered.
pub(crate) fn admit(rooms: &mut HashSet<RoomId>, me: UserId, frame: &Frame) -> Admit {
    if rooms.contains(&frame.room_id) {
        if frame.left() == Some(me) {
            rooms.remove(&frame.room_id);
            return Admit::Left;
        }
        return Admit::Deliver;
    }
    if frame.joined().contains(&me) {
        rooms.insert(frame.room_id);
        return Admit::Joined;
    }
    Admit::Skip
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::frame::FrameBody;
    use uuid::Uuid;

    fn frame(room: RoomId, body: FrameBody) -> Frame {
        Frame {
            position: 1,
            room_id: room,
            body,
        }
    }

    #[test]
    fn joins_add_and_own_leaves_remove_after_delivery() {
        let me = UserId(Uuid::from_u128(1));
        let other = UserId(Uuid::from_u128(2));
        let room = RoomId(Uuid::from_u128(9));
        let mut rooms = HashSet::new();
        let renamed = frame(
            room,
            FrameBody::RoomRenamed {
                name: "x".into(),
                by: other,
                at: Utc::now(),
            },
        );
        assert_eq!(admit(&mut rooms, me, &renamed), Admit::Skip);
        let joined = frame(
            room,
            FrameBody::MemberJoined {
                user_id: me,
                by: other,
                at: Utc::now(),
            },
        );
        assert_eq!(admit(&mut rooms, me, &joined), Admit::Joined);
        assert_eq!(admit(&mut rooms, me, &renamed), Admit::Deliver);
        let other_left = frame(
            room,
            FrameBody::MemberLeft {
                user_id: other,
                new_owner: None,
                at: Utc::now(),
            },
        );
        assert_eq!(admit(&mut rooms, me, &other_left), Admit::Deliver);
        let kicked = frame(
            room,
            FrameBody::MemberKicked {
                user_id: me,
                by: other,
                at: Utc::now(),
            },
        );
        assert_eq!(admit(&mut rooms, me, &kicked), Admit::Left);
        assert_eq!(admit(&mut rooms, me, &renamed), Admit::Skip);
    }
}
