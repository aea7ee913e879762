//! A connection's initial state, read from the `redis` projection: the
//! user's rooms and the checkpoint they hold, and with `after=` the frames
//! missed since then, replayed from the frame windows the projection keeps.
//!
//! The replay is a view of now ([`super::view`]). Each read is one
//! transaction holding the user's rooms, their membership frames and the
//! window of each of those rooms, at one checkpoint `C`: the frames above
//! `after` of every room the user is a member of at `C`, and of the rooms
//! they left or were kicked from only that departure, merged in position
//! order, each message as it reads at `C`. Live frames then start above
//! `C`. A room whose window no longer reaches back to `after` (full, and its
//! oldest frame too recent) gets a `resync_required` frame instead; a user
//! whose membership window does not reach back gets one `resync_required`
//! with `room_id: null` (a departure may be missing).

use super::blocks::Blocks;
use super::{view, Text};
use crate::failure::{unavailable, Fail};
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use domain::{MessageId, RoomId, UserId};
use readmodel::frames::{self, Window};
use readmodel::rooms;
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
    pub replay: Vec<Text>,
    /// Taken before the read: frames the hub received earlier are at or
    /// below `baseline`.
    pub since: Instant,
    /// The user's blocks at `baseline` (issue 16).
    pub blocks: Blocks,
    /// Messages the replay withheld (a blocked user's).
    pub withheld: HashSet<MessageId>,
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
            blocks: first.blocks,
            withheld: HashSet::new(),
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

struct Read {
    rooms: HashSet<RoomId>,
    blocks: Blocks,
    user: Window,
    windows: HashMap<RoomId, Window>,
}

impl Read {
    /// Rooms whose windows a resume needs: the user's rooms now.
    fn concerned(&self) -> BTreeSet<RoomId> {
        self.rooms.iter().copied().collect()
    }
}

async fn read(
    snap: &mut Snapshot<'_>,
    me: UserId,
    after: Option<i64>,
    rooms: &BTreeSet<RoomId>,
) -> Result<Read, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            rooms::queue_list(pipe, keys, me);
            Blocks::queue(pipe, keys, me);
            if let Some(after) = after {
                frames::queue_user_window(pipe, keys, me, after);
                for room in rooms {
                    frames::queue_room_window(pipe, keys, *room, after);
                }
            }
        })
        .await?;
    let mut read = Read {
        rooms: rooms::take_list(&mut values)?.into_iter().collect(),
        blocks: Blocks::take(&mut values)?,
        user: Window::default(),
        windows: HashMap::new(),
    };
    if after.is_some() {
        read.user = frames::take_user_window(&mut values)?;
        for room in rooms {
            read.windows
                .insert(*room, frames::take_room_window(&mut values)?);
        }
    }
    Ok(read)
}

fn resync(room: Option<RoomId>, position: i64) -> Text {
    let frame = serde_json::json!({
        "type": "resync_required",
        "room_id": room,
        "position": position,
    });
    Text::from(frame.to_string())
}

/// The frames a connection of `me` missed between `after` and `checkpoint`.
fn replay(me: UserId, after: i64, checkpoint: i64, read: Read, since: Instant) -> Loaded {
    let mut loaded = Loaded {
        rooms: read.rooms,
        baseline: checkpoint,
        replay: Vec::new(),
        since,
        blocks: read.blocks,
        withheld: HashSet::new(),
    };
    if read.user.full_from.is_some_and(|oldest| oldest > after + 1) {
        loaded.replay.push(resync(None, checkpoint));
        return loaded;
    }
    let mut frames = read.user.frames;
    let mut stale = Vec::new();
    for (room, window) in read.windows {
        if !loaded.rooms.contains(&room) {
            // Left between the reads that chose the windows.
            continue;
        }
        if window.full_from.is_some_and(|oldest| oldest > after + 1) {
            stale.push(room);
            continue;
        }
        frames.extend(window.frames);
    }
    // A stale room is reloaded whole: none of its frames, not even the
    // user's own membership ones.
    frames.retain(|(f, _)| !stale.contains(&f.room_id));
    // A blocked user's frames (position order: a message's posted frame
    // before what follows it).
    frames.sort_by_key(|(f, _)| f.position);
    let (blocks, withheld) = (&loaded.blocks, &mut loaded.withheld);
    frames.retain(|(f, _)| !blocks.withholds(f, withheld));
    loaded.replay = view::replay(me, &loaded.rooms, frames);
    stale.sort();
    for room in stale {
        loaded.replay.push(resync(Some(room), checkpoint));
    }
    loaded
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
