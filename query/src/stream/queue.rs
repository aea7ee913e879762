//! A connection's queue of outgoing frames: bounded, filled by the hub
//! without waiting, drained by the connection's task.
//!
//! Why not tokio's `mpsc`: its channel allocates its state and a first
//! block of 32 slots up front, about 1.5 KiB per connection before any
//! frame, and keeps the blocks a burst needed. Most connections are idle
//! most of the time (issue 20: memory per idle WebSocket), so this queue
//! allocates nothing until a frame comes, and gives back what a burst grew
//! once it is drained.
//!
//! The semantics are the channel's: [`Sender`]s are counted; when the last
//! one goes, [`Receiver::recv`] returns what is left, then `None`. When the
//! receiver goes, sending fails with [`SendError::Closed`] and what was queued
//! is dropped.

use super::Text;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Capacity a drained queue may keep; more (left by a burst) is freed.
const KEEP: usize = 16;

struct Shared {
    state: Mutex<State>,
    /// Woken when the queue stops being empty, and when the last sender goes.
    ready: Notify,
}

struct State {
    frames: VecDeque<Text>,
    limit: usize,
    senders: usize,
    receiving: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data, valid whatever a panicking holder did.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn pop(&mut self) -> Option<Text> {
        let text = self.frames.pop_front();
        if self.frames.is_empty() && self.frames.capacity() > KEEP {
            self.frames = VecDeque::new();
        }
        text
    }
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The queue holds its limit already: the client is too slow.
    Full,
    /// The connection is ending.
    Closed,
}

/// The hub's end of a queue.
pub(crate) struct Sender(Arc<Shared>);

/// The connection's end of a queue.
pub(crate) struct Receiver(Arc<Shared>);

/// A queue that holds at most `limit` frames (at least one).
pub(crate) fn channel(limit: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            limit: limit.max(1),
            senders: 1,
            receiving: true,
        }),
        ready: Notify::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    /// Queue `text` unless the queue is full or its receiver gone.
    pub(crate) fn try_send(&self, text: Text) -> Result<(), SendError> {
        let mut state = self.0.lock();
        if !state.receiving {
            return Err(SendError::Closed);
        }
        if state.frames.len() >= state.limit {
            return Err(SendError::Full);
        }
        let was_empty = state.frames.is_empty();
        state.frames.push_back(text);
        drop(state);
        // A receiver finds a non-empty queue without waiting: only the
        // first frame after it emptied the queue needs to wake it.
        if was_empty {
            self.0.ready.notify_one();
        }
        Ok(())
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Self(self.0.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            self.0.ready.notify_one();
        }
    }
}

impl Receiver {
    /// The next frame; `None` once every sender is gone and the queue is
    /// empty. Cancel-safe: a frame is taken only when it is returned.
    pub(crate) async fn recv(&mut self) -> Option<Text> {
        loop {
            {
                let mut state = self.0.lock();
                if let Some(text) = state.pop() {
                    return Some(text);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            // A wake-up sent between the check and here is kept as a
            // permit by `notify_one`, so none is lost.
            self.0.ready.notified().await;
        }
    }

    /// The next frame if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Text> {
        self.0.lock().pop()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiving = false;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(i: usize) -> Text {
        Text::from(format!("frame {i}"))
    }

    #[tokio::test]
    async fn frames_come_out_in_order_then_the_end_after_the_last_sender() {
        let (tx, mut rx) = channel(8);
        let other = tx.clone();
        tx.try_send(text(1)).unwrap();
        other.try_send(text(2)).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(text(1)));
        drop(other);
        assert_eq!(rx.recv().await, Some(text(2)), "what was queued drains");
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_gone_receiver_closes() {
        let (tx, rx) = channel(2);
        tx.try_send(text(1)).unwrap();
        tx.try_send(text(2)).unwrap();
        assert_eq!(tx.try_send(text(3)), Err(SendError::Full));
        drop(rx);
        assert_eq!(tx.try_send(text(4)), Err(SendError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_frame_and_by_the_end() {
        let (tx, mut rx) = channel(4);
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await;
            (first, rx.recv().await)
        });
        tokio::task::yield_now().await;
        tx.try_send(text(1)).unwrap();
        drop(tx);
        assert_eq!(waiting.await.unwrap(), (Some(text(1)), None));
    }

    #[tokio::test]
    async fn a_drained_queue_gives_back_what_a_burst_grew() {
        let (tx, mut rx) = channel(1024);
        assert_eq!(tx.0.lock().frames.capacity(), 0, "nothing before a frame");
        for i in 0..1000 {
            tx.try_send(text(i)).unwrap();
        }
        assert!(tx.0.lock().frames.capacity() >= 1000);
        let mut got = 0;
        while rx.try_recv().is_some() {
            got += 1;
        }
        assert_eq!(got, 1000);
        assert!(tx.0.lock().frames.capacity() <= KEEP);
    }
}
