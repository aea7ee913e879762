//! Publishing live frames (see [`domain::frame`]) once the `redis`
//! projection has applied them, for `GET /v1/stream`; and the
//! `notification` frames of the `history` projection, on each recipient's
//! own subject, once it has committed them.
//!
//! The projection calls [`FramePublisher::publish`] after each successful
//! `MULTI`/`EXEC`, so a frame is never seen before a read at its position can
//! see the change. Frames go out on NATS core (at most once, no storage): a
//! subscriber that loses some notices the hole in the publisher's `seq` and
//! its clients resume from the frames the projection also stored in Redis.
//!
//! One publisher is shared by every generation a projector process runs: it
//! remembers the highest position it published (starting from the first
//! checkpoint it is shown), so a generation being rebuilt beside the current
//! one, or a projection re-applying the log after Redis lost its data, does
//! not push old events to clients again.

use crate::bus;
use crate::error::Result;
use domain::event::{DomainEvent, StoredEvent, UserEvent};
use domain::frame::{Frame, FrameBatch};
use domain::notification::{NotificationBatch, NotificationFrame, NotificationsCovered};
use domain::UserId;
use readmodel::live::{BlocksNotice, VisibilityNotice};
use readmodel::subjects;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::warn;

/// Messages waiting to be handed to NATS. Publishing never waits for NATS:
/// when it is slow or down and this fills up, messages are dropped (their
/// `seq` still counts, so subscribers see the hole) and the projection goes on.
const QUEUE: usize = 8192;

/// Largest message of room frames. NATS refuses a payload over the server's
/// `max_payload` (1 MiB by default), and a batch of a few thousand posts
/// encodes to more: such a batch goes out as several messages in position
/// order, each within this.
const MAX_MESSAGE: usize = 256 * 1024;

/// Publishes frames on `{ns}.frames.rooms` (notifications on each user's
/// subject). Cheap to clone.
#[derive(Clone)]
pub struct FramePublisher {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    id: uuid::Uuid,
    /// The last `seq` used, with the queue: both under one lock so messages
    /// enter the queue (and leave for NATS) in `seq` order.
    queue: Mutex<(u64, mpsc::Sender<(String, bytes::Bytes)>)>,
    /// Highest position published (or shown as already applied).
    published: AtomicI64,
    /// The same for `notification` frames (another projection publishes
    /// them, at the same positions as room frames).
    notified: AtomicI64,
}

impl std::fmt::Debug for FramePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePublisher")
            .field("namespace", &self.inner.namespace)
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl FramePublisher {
    /// A publisher on an existing NATS client; its sending task ends when
    /// the last clone is dropped. Needs a Tokio runtime.
    pub fn new(client: async_nats::Client, namespace: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<(String, bytes::Bytes)>(QUEUE);
        tokio::spawn(async move {
            while let Some((subject, payload)) = rx.recv().await {
                if let Err(e) = client.publish(subject, payload).await {
                    warn!(error = %e, "cannot publish frames");
                }
            }
        });
        Self {
            inner: Arc::new(Inner {
                namespace: namespace.to_owned(),
                id: uuid::Uuid::now_v7(),
                queue: Mutex::new((0, tx)),
                published: AtomicI64::new(0),
                notified: AtomicI64::new(0),
            }),
        }
    }

    /// A publisher with its own NATS connection (retried in the background,
    /// so this returns at once even while NATS is down).
    pub async fn connect(nats_url: &str, namespace: &str) -> Result<Self> {
        Ok(Self::new(bus::connect(nats_url).await?, namespace))
    }

    /// Everything at or below `position` is already applied: never publish it.
    pub fn observe(&self, position: i64) {
        self.inner.published.fetch_max(position, Ordering::SeqCst);
    }

    /// Notifications at or below `position` are already applied: never
    /// publish them.
    pub fn observe_notified(&self, position: i64) {
        self.inner.notified.fetch_max(position, Ordering::SeqCst);
    }

    /// Publish the `notification` frames of one committed batch, which took
    /// the `history` projection from checkpoint `after` to `upto`, one
    /// message per recipient on their own subject, skipping what was
    /// already published; then what the batch covers
    /// ([`NotificationsCovered`], also for a batch without notifications),
    /// so that query nodes can tell a batch whose notifications were never
    /// published (see [`Self::publish`]). Never waits or fails.
    pub fn publish_notifications(
        &self,
        after: i64,
        upto: i64,
        created: Vec<crate::history_projection::Created>,
    ) {
        let Some(floor) = advance(&self.inner.notified, upto) else {
            return;
        };
        let mut by_user: BTreeMap<UserId, Vec<NotificationFrame>> = BTreeMap::new();
        for c in created.into_iter().filter(|c| c.frame.position > floor) {
            by_user.entry(c.user).or_default().push(c.frame);
        }
        let namespace = &self.inner.namespace;
        let messages = by_user
            .into_iter()
            .map(Notified::Frames)
            .chain(std::iter::once(Notified::Covered { after, upto }));
        self.send(messages, |publisher, seq, message| match message {
            Notified::Frames((user_id, frames)) => {
                let batch = NotificationBatch {
                    publisher,
                    seq,
                    user_id,
                    frames,
                };
                (
                    subjects::user_frames(namespace, user_id),
                    serde_json::to_vec(&batch),
                )
            }
            Notified::Covered { after, upto } => {
                let covered = NotificationsCovered {
                    publisher,
                    seq,
                    after,
                    upto,
                };
                (subjects::notified(namespace), serde_json::to_vec(&covered))
            }
        });
    }

    /// Queue one message per item, each with the next `seq`.
    fn send<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        encode: impl Fn(uuid::Uuid, u64, T) -> (String, serde_json::Result<Vec<u8>>),
    ) {
        let Ok(mut queue) = self.inner.queue.lock() else {
            return;
        };
        let (seq, tx) = &mut *queue;
        for item in items {
            *seq += 1;
            let (subject, payload) = encode(self.inner.id, *seq, item);
            let payload = match payload {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "cannot encode frames");
                    continue;
                }
            };
            if tx.try_send((subject, payload.into())).is_err() {
                metrics::counter!("cotalk_frames_dropped_total").increment(1);
            } else {
                metrics::counter!("cotalk_frames_published_total").increment(1);
            }
        }
    }

    /// Tell query nodes about the blocks and presence visibility an
    /// applied batch changed (`readmodel::live::BlocksNotice` and
    /// `VisibilityNotice`, issue 16), so that connections of those users
    /// re-read their blocks and friends learn what they may see. Call
    /// before [`Self::publish`] (which moves the floor): only events not
    /// published before count. Never waits.
    pub fn publish_people(&self, events: &[StoredEvent]) {
        let floor = self.inner.published.load(Ordering::SeqCst);
        let namespace = &self.inner.namespace;
        let mut users = Vec::new();
        let mut position = 0;
        let mut notices = Vec::new();
        for e in events.iter().filter(|e| e.position > floor) {
            let DomainEvent::User(event) = &e.event else {
                continue;
            };
            match event {
                UserEvent::Blocked(b) => users.extend([b.user_id, b.blocked]),
                UserEvent::Unblocked(b) => users.extend([b.user_id, b.blocked]),
                UserEvent::PresenceVisibilityChanged(v) => {
                    let notice = VisibilityNotice {
                        user_id: v.user_id,
                        position: e.position,
                    };
                    notices.push((
                        readmodel::live::visibility_subject(namespace),
                        to_json(&notice),
                    ));
                    continue;
                }
                _ => continue,
            }
            position = e.position;
        }
        if !users.is_empty() {
            users.sort();
            users.dedup();
            let notice = BlocksNotice { users, position };
            notices.push((readmodel::live::blocks_subject(namespace), to_json(&notice)));
        }
        if let Ok(queue) = self.inner.queue.lock() {
            for (subject, payload) in notices {
                if let Some(payload) = payload {
                    let _ = queue.1.try_send((subject, payload.into()));
                }
            }
        }
    }

    /// Publish the frames of one applied batch, which took the projection
    /// from checkpoint `after` to `upto`, skipping what was already
    /// published, in position order: all rooms together (a message per
    /// room would let a connection in two rooms see a later position of one
    /// before an earlier one of the other, and a client resuming from the
    /// later one would never get the earlier), in one message or, past
    /// [`MAX_MESSAGE`], several chained ones. A batch without frames is
    /// published too, so subscribers can tell a lost message from a quiet
    /// one by [`FrameBatch::after`]. Never waits and never
    /// fails: the batch is applied whatever happens here, and subscribers
    /// detect a lost message by its `seq` or its `after`.
    pub fn publish(&self, after: i64, upto: i64, frames: Vec<Frame>) {
        let Some(floor) = advance(&self.inner.published, upto) else {
            return;
        };
        // `after` as it is, also above `floor`: then a batch before this one
        // was applied and never published (its apply failed after the
        // commit), and subscribers must see that gap, not a claim over it.
        let fresh = frames.into_iter().filter(|f| f.position > floor);
        let subject = subjects::room_frames(&self.inner.namespace);
        self.send(chunks(after, upto, fresh), |publisher, seq, chunk| {
            (subject.clone(), chunk.encode(publisher, seq))
        });
    }
}

/// Raise the high-water mark `mark` to `upto`: the mark before, under which
/// everything was published already, or `None` when that covers `upto` too
/// (nothing of the batch is new).
fn advance(mark: &AtomicI64, upto: i64) -> Option<i64> {
    let floor = mark.fetch_max(upto, Ordering::SeqCst);
    (upto > floor).then_some(floor)
}

/// One message of a batch of notifications.
enum Notified {
    /// One recipient's.
    Frames((UserId, Vec<NotificationFrame>)),
    /// What the batch covers, last.
    Covered { after: i64, upto: i64 },
}

/// Part of a batch's frames that fits one message: the positions it
/// covers, and its frames' JSON, comma-separated, each encoded once.
struct Chunk {
    after: i64,
    upto: i64,
    frames: Vec<u8>,
}

impl Chunk {
    fn new(after: i64, upto: i64) -> Self {
        Self {
            after,
            upto,
            frames: Vec::new(),
        }
    }

    /// This chunk as a [`FrameBatch`]'s JSON: the batch without frames
    /// encoded by serde, its empty list (`[]}` at the end, `frames` being
    /// the last field) filled with the frames as encoded.
    fn encode(self, publisher: uuid::Uuid, seq: u64) -> serde_json::Result<Vec<u8>> {
        let head = FrameBatch {
            publisher,
            seq,
            after: self.after,
            upto: self.upto,
            frames: Vec::new(),
        };
        let mut out = Vec::with_capacity(self.frames.len() + 128);
        serde_json::to_writer(&mut out, &head)?;
        debug_assert!(out.ends_with(b"[]}"));
        out.truncate(out.len() - 2);
        out.extend_from_slice(&self.frames);
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

/// `frames` (in position order) cut into chunks of at most [`MAX_MESSAGE`]
/// bytes of frames, chained: the first covers from `after`, each next one
/// from where the previous ended, the last up to `upto`. Always at least one
/// (a batch without frames still says what it covers).
fn chunks(after: i64, upto: i64, frames: impl Iterator<Item = Frame>) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut open = Chunk::new(after, upto);
    let (mut json, mut last) = (Vec::new(), after);
    for frame in frames {
        json.clear();
        if let Err(e) = serde_json::to_writer(&mut json, &frame) {
            warn!(error = %e, "cannot encode a frame");
            continue;
        }
        if !open.frames.is_empty() && open.frames.len() + 1 + json.len() > MAX_MESSAGE {
            open.upto = last;
            out.push(std::mem::replace(&mut open, Chunk::new(last, upto)));
        }
        if !open.frames.is_empty() {
            open.frames.push(b',');
        }
        open.frames.extend_from_slice(&json);
        last = frame.position;
    }
    out.push(open);
    out
}

fn to_json(notice: &impl serde::Serialize) -> Option<Vec<u8>> {
    serde_json::to_vec(notice)
        .map_err(|e| warn!(error = %e, "cannot encode a live notice"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::frame::FrameBody;
    use domain::RoomId;

    fn renamed(position: i64, name_len: usize) -> Frame {
        Frame {
            position,
            room_id: RoomId(uuid::Uuid::from_u128(7)),
            body: FrameBody::RoomRenamed {
                name: "가".repeat(name_len),
                by: UserId(uuid::Uuid::from_u128(1)),
                at: chrono::Utc::now(),
            },
        }
    }

    #[test]
    fn a_large_batch_is_cut_into_chained_messages_within_the_limit() {
        // ~1.5 MiB of frames at positions 101..=600, the batch covering (100, 610].
        let frames: Vec<Frame> = (101..=600).map(|p| renamed(p, 1000)).collect();
        let publisher = uuid::Uuid::from_u128(5);
        let decoded: Vec<(usize, FrameBatch)> = chunks(100, 610, frames.clone().into_iter())
            .into_iter()
            .enumerate()
            .map(|(k, c)| {
                let json = c.encode(publisher, k as u64 + 1).unwrap();
                (json.len(), serde_json::from_slice(&json).unwrap())
            })
            .collect();
        assert!(decoded.len() >= 6, "{} messages", decoded.len());
        let mut from = 100;
        for (len, batch) in &decoded {
            assert!(*len <= MAX_MESSAGE + 256, "a message of {len} bytes");
            assert_eq!((batch.publisher, batch.after), (publisher, from));
            assert!(batch
                .frames
                .iter()
                .all(|f| f.position > batch.after && f.position <= batch.upto));
            from = batch.upto;
        }
        assert_eq!(from, 610);
        let got: Vec<Frame> = decoded.into_iter().flat_map(|(_, b)| b.frames).collect();
        assert_eq!(got, frames);
    }

    #[test]
    fn a_batch_without_frames_is_one_message_saying_what_it_covers() {
        let c = chunks(3, 9, std::iter::empty());
        assert_eq!(c.len(), 1);
        let batch: FrameBatch = serde_json::from_slice(
            &c.into_iter()
                .next()
                .unwrap()
                .encode(uuid::Uuid::nil(), 4)
                .unwrap(),
        )
        .unwrap();
        assert_eq!((batch.seq, batch.after, batch.upto), (4, 3, 9));
        assert!(batch.frames.is_empty());
    }
}
