//! A connection's initial state, read from the `redis` projection: the
//! user's rooms and the checkpoint they hold, and with `after=` the frames
//! missed since then, replayed from the frame windows the projection keeps.
//!
//! Replay is exact. Each read is one transaction holding the rooms, the
//! user's membership frames and the windows of every room concerned, at one
//! checkpoint `C`. The rooms the user was in at `after` are today's rooms
//! with the membership changes since `after` undone; the windows' frames
//! above `after` are merged in position order and run through the same
//! membership rules as live frames (a room joined since is followed from
//! its join, a room left is followed up to the leave). Live frames then
//! start above `C`. A room whose window no longer reaches back to `after`
//! (full, and its oldest frame too recent) gets a `resync_required` frame
//! instead; a user whose membership window does not reach back gets one
//! `resync_required` with `room_id: null`.

use super::{admit, Admit};
use crate::failure::{unavailable, Fail};
use crate::snapshot::{consistent, decode, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use axum::extract::ws::Utf8Bytes;
use domain::frame::Frame;
use domain::views::{FRAMES_LEN, USER_FRAMES_LEN};
use domain::{RoomId, UserId};
use redis::Pipeline;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// How long a resume waits for the projection to reach `after`.
const WAIT: Duration = Duration::from_secs(2);
/// Reads before giving up when memberships keep changing under them.
const MAX_ROUNDS: usize = 4;

/// What a connection starts from.
pub(crate) struct Loaded {
    /// The user's rooms at `baseline`.
    pub rooms: HashSet<RoomId>,
    /// The checkpoint the state was read at: live frames start above it.
    pub baseline: i64,
    /// Frames to send first (missed ones, `resync_required`).
    pub replay: Vec<Utf8Bytes>,
    /// Taken before the read: frames the hub received earlier are at or
    /// below `baseline`.
    pub since: Instant,
}

/// Read the initial state of a connection of `me`, replaying from `after`.
pub(crate) async fn load(
    state: &QueryState,
    me: UserId,
    after: Option<i64>,
) -> Result<Loaded, Fail> {
    let since = Instant::now();
    let bound = Bound {
        position: after.unwrap_or(0),
        deadline: Instant::now() + WAIT,
    };
    let mut snap = Snapshot::begin(state, bound);
    let first = consistent!(snap, read(&mut snap, me, after, &BTreeSet::new()));
    let Some(after) = after else {
        return Ok(Loaded {
            rooms: first.rooms,
            baseline: snap.position(),
            replay: Vec::new(),
            since,
        });
    };
    let mut rooms = first.concerned();
    for _ in 0..MAX_ROUNDS {
        // A fresh snapshot: its position is exactly this read's checkpoint.
        let mut snap = Snapshot::begin(state, bound);
        let got = consistent!(snap, read(&mut snap, me, Some(after), &rooms));
        let concerned = got.concerned();
        if concerned.is_subset(&rooms) {
            return Ok(replay(me, after, snap.position(), got, since));
        }
        rooms.extend(concerned);
    }
    Err(unavailable("stream resume", "memberships keep changing").into())
}

/// The frames of one window above `after`, and its oldest position when it
/// is full (older frames were dropped).
#[derive(Default)]
struct Window {
    frames: Vec<(Frame, String)>,
    full_from: Option<i64>,
}

struct Read {
    rooms: HashSet<RoomId>,
    user: Window,
    windows: HashMap<RoomId, Window>,
}

impl Read {
    /// Rooms whose frames a resume may need: today's, and every room the
    /// user joined or left since `after`.
    fn concerned(&self) -> BTreeSet<RoomId> {
        let mut rooms: BTreeSet<RoomId> = self.rooms.iter().copied().collect();
        rooms.extend(self.user.frames.iter().map(|(f, _)| f.room_id));
        rooms
    }
}

fn window(pipe: &mut Pipeline, key: String, after: i64) {
    pipe.zrangebyscore(&key, format!("({after}"), "+inf")
        .zcard(&key)
        .zrange_withscores(&key, 0, 0);
}

fn take_window(values: &mut crate::snapshot::Values, len: usize) -> Result<Window, Interrupt> {
    let raw: Vec<String> = values.next()?;
    let card: usize = values.next()?;
    let oldest: Vec<(String, f64)> = values.next()?;
    let frames = raw
        .into_iter()
        .map(|text| decode::<Frame>(&text).map(|f| (f, text)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Window {
        frames,
        full_from: oldest
            .first()
            .filter(|_| card >= len)
            .map(|(_, score)| *score as i64),
    })
}

async fn read(
    snap: &mut Snapshot<'_>,
    me: UserId,
    after: Option<i64>,
    rooms: &BTreeSet<RoomId>,
) -> Result<Read, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            pipe.zrange(keys.rooms_of(me), 0, -1);
            if let Some(after) = after {
                window(pipe, keys.user_frames(me), after);
                for room in rooms {
                    window(pipe, keys.frames(*room), after);
                }
            }
        })
        .await?;
    let ids: Vec<String> = values.next()?;
    let mut read = Read {
        rooms: ids.iter().filter_map(|s| s.parse().ok()).collect(),
        user: Window::default(),
        windows: HashMap::new(),
    };
    if after.is_some() {
        read.user = take_window(&mut values, USER_FRAMES_LEN)?;
        for room in rooms {
            read.windows
                .insert(*room, take_window(&mut values, FRAMES_LEN)?);
        }
    }
    Ok(read)
}

fn resync(room: Option<RoomId>, position: i64) -> Utf8Bytes {
    let frame = serde_json::json!({
        "type": "resync_required",
        "room_id": room,
        "position": position,
    });
    Utf8Bytes::from(frame.to_string())
}

/// The frames a connection of `me` missed between `after` and `checkpoint`.
fn replay(me: UserId, after: i64, checkpoint: i64, read: Read, since: Instant) -> Loaded {
    let mut loaded = Loaded {
        rooms: read.rooms.clone(),
        baseline: checkpoint,
        replay: Vec::new(),
        since,
    };
    if read.user.full_from.is_some_and(|oldest| oldest > after + 1) {
        loaded.replay.push(resync(None, checkpoint));
        return loaded;
    }
    // Undo, newest first, the membership changes since `after`.
    let mut then = read.rooms.clone();
    for (f, _) in read.user.frames.iter().rev() {
        if f.left() == Some(me) {
            then.insert(f.room_id);
        } else if f.joined().contains(&me) {
            then.remove(&f.room_id);
        }
    }
    // Where each room's needed frames start: just above `after`, or at the
    // first join since.
    let mut need: HashMap<RoomId, i64> = then.iter().map(|r| (*r, after + 1)).collect();
    for (f, _) in &read.user.frames {
        if f.joined().contains(&me) {
            need.entry(f.room_id).or_insert(f.position);
        }
    }
    let mut merged = Vec::new();
    let mut stale = Vec::new();
    for (room, window) in read.windows {
        let Some(from) = need.get(&room) else {
            continue;
        };
        if window.full_from.is_some_and(|oldest| oldest > *from) {
            stale.push(room);
            continue;
        }
        merged.extend(window.frames);
    }
    merged.sort_by_key(|(f, _)| f.position);
    merged.dedup_by_key(|(f, _)| f.position);
    for (frame, text) in merged {
        if admit(&mut then, me, &frame) != Admit::Skip {
            loaded.replay.push(Utf8Bytes::from(text));
        }
    }
    stale.sort();
    for room in stale {
        loaded.replay.push(resync(Some(room), checkpoint));
    }
    loaded
}
