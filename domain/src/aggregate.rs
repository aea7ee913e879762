//! The aggregate contract: `decide` turns a command into events against the
//! current state (or refuses it), `evolve` folds one event into the state. Both
//! are pure, so the command side can cache state and replay nothing.

use crate::error::DomainError;
use crate::event::{DomainEvent, StreamType};

/// One kind of consistency boundary: a user, a username reservation, a
/// friendship, a room.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The stream type its events are stored under.
    const STREAM_TYPE: StreamType;
    /// What a caller asks of it.
    type Command;
    /// What it records.
    type Event: Clone + std::fmt::Debug + Send + Sync + Into<DomainEvent> + TryFrom<DomainEvent>;

    /// Decide what happens: the events to append, or why not.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, DomainError>;

    /// Fold one event into the state.
    fn evolve(self, event: &Self::Event) -> Self;

    /// Fold a sequence of events, starting from `self`.
    fn evolve_all<'a>(self, events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(self, Self::evolve)
    }
}
