//! What this process's relay published lately, decoded: the projections
//! running beside it take their events from here instead of parsing the
//! same JSON again, once each.
//!
//! The relay reads a page of the log (decoded events), encodes it as
//! chunks and publishes them; every projection then receives each chunk
//! and, without this, decodes it: with the three projections of a node
//! that runs them all, four decodes of every event where one is needed.
//! The relay now keeps each chunk's body with the events it encoded, and a
//! consumer whose message carries exactly those bytes takes the events.
//!
//! Byte equality is the rule, not the positions: a chunk with the same
//! bounds could have been published by another relay from another read,
//! and only the very same body is known to decode to the very same events
//! (the envelope round-trips, see [`crate::envelope`]). Comparing costs a
//! `memcmp` of the body, a small fraction of parsing it.
//!
//! The store is bounded by bytes of bodies ([`Published::new`]); what it
//! dropped, or never held (a chunk of another process's relay), is decoded
//! as before. Nothing depends on a hit, only the work.

use bytes::Bytes;
use domain::event::StoredEvent;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Most bytes of chunk bodies kept by default: about two seconds of posts
/// at ten thousand a second.
pub const DEFAULT_CAPACITY: usize = 8 << 20;

/// The chunks a relay published lately, decoded; cheap to clone (shared).
#[derive(Clone)]
pub struct Published {
    inner: Arc<Mutex<Store>>,
}

struct Store {
    capacity: usize,
    bytes: usize,
    /// By the chunk's last position: the first is the oldest (a chunk
    /// republished after a lost stream is older by position and goes first,
    /// which only costs a decode).
    chunks: BTreeMap<i64, Chunk>,
}

struct Chunk {
    body: Bytes,
    events: Arc<[StoredEvent]>,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Published")
            .field("chunks", &store.chunks.len())
            .field("bytes", &store.bytes)
            .field("capacity", &store.capacity)
            .finish()
    }
}

impl Default for Published {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Published {
    /// A store keeping at most `capacity` bytes of bodies (0: keeps nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Store {
                capacity,
                bytes: 0,
                chunks: BTreeMap::new(),
            })),
        }
    }

    /// Remember that `body` (a chunk ending at position `last`) encodes
    /// `events`, dropping the oldest chunks beyond the capacity.
    pub fn put(&self, last: i64, body: Bytes, events: Arc<[StoredEvent]>) {
        let mut store = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if body.len() > store.capacity {
            return;
        }
        store.bytes += body.len();
        if let Some(old) = store.chunks.insert(last, Chunk { body, events }) {
            store.bytes -= old.body.len();
        }
        while store.bytes > store.capacity {
            let Some((_, oldest)) = store.chunks.pop_first() else {
                break;
            };
            store.bytes -= oldest.body.len();
        }
    }

    /// The events of a received message ending at `last` whose body is
    /// `payload`, if this store holds that very body.
    pub fn get(&self, last: i64, payload: &[u8]) -> Option<Arc<[StoredEvent]>> {
        let store = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let chunk = store.chunks.get(&last)?;
        (chunk.body.as_ref() == payload).then(|| chunk.events.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::renamed;

    fn chunk(first: i64, last: i64) -> (Bytes, Arc<[StoredEvent]>) {
        let events: Vec<StoredEvent> = (first..=last).map(renamed).collect();
        let mut chunks = crate::envelope::encode_chunks(&events, usize::MAX);
        (chunks.remove(0).body.into(), events.into())
    }

    #[test]
    fn gives_the_events_only_for_the_very_same_body() {
        let published = Published::default();
        let (body, events) = chunk(1, 3);
        published.put(3, body.clone(), events.clone());
        let got = published.get(3, &body).expect("same body");
        assert!(Arc::ptr_eq(&got, &events));
        // Same bounds, other bytes (another relay's read of the same
        // positions): decoded by the caller instead.
        let (other, _) = chunk(1, 3);
        assert_ne!(other, body);
        assert!(published.get(3, &other).is_none());
        assert!(published.get(4, &body).is_none());
    }

    #[test]
    fn keeps_at_most_its_capacity_dropping_the_oldest() {
        let (a, ea) = chunk(1, 2);
        let (b, eb) = chunk(3, 4);
        let (c, ec) = chunk(5, 6);
        let published = Published::new(a.len() + b.len() + c.len() - 1);
        published.put(2, a.clone(), ea);
        published.put(4, b.clone(), eb);
        published.put(6, c.clone(), ec);
        assert!(published.get(2, &a).is_none(), "the oldest went");
        assert!(published.get(4, &b).is_some());
        assert!(published.get(6, &c).is_some());
        let store = published.inner.lock().unwrap();
        assert_eq!(store.bytes, b.len() + c.len());
        assert_eq!(store.chunks.len(), 2);
    }

    #[test]
    fn a_republished_chunk_replaces_the_one_with_its_bounds() {
        let published = Published::default();
        let (a, ea) = chunk(1, 2);
        let (b, eb) = chunk(1, 2);
        published.put(2, a.clone(), ea);
        published.put(2, b.clone(), eb);
        assert!(published.get(2, &a).is_none());
        assert!(published.get(2, &b).is_some());
        let store = published.inner.lock().unwrap();
        assert_eq!(store.bytes, b.len());
        assert_eq!(store.chunks.len(), 1);
    }

    #[test]
    fn keeps_nothing_larger_than_itself() {
        let published = Published::new(0);
        let (a, ea) = chunk(1, 2);
        published.put(2, a.clone(), ea);
        assert!(published.get(2, &a).is_none());
    }
}
