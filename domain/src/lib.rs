//! The pure core of cotalk: typed ids, parsed values, commands, events and
//! aggregates. Nothing here does IO, awaits, reads a clock or makes random ids:
//! time and new ids arrive with each command, so every rule is a plain function
//! that tests can drive directly.
//!
//! - [`ids`]: typed UUID ids (`UserId`, `RoomId`, …) and deterministic stream ids.
//! - [`values`]: parsed value types (`Username`, `MessageBody`, …); once built, valid.
//! - [`error`]: [`DomainError`], each variant with a stable API `code`.
//! - [`aggregate`]: the [`Aggregate`] trait (`decide` / `evolve`).
//! - [`user`], [`username`], [`friendship`], [`room`]: the aggregates.
//! - [`meetup`]: meet-ups (issue 17): the aggregate, its room's creation and
//!   membership, and the reminder schedule with deterministic event ids.
//! - [`reaction`], [`attachment`]: what a message carries beside its text
//!   (one-emoji reactions, attachment metadata and the per-message limits).
//! - [`unread`]: the unread "1" (`unread_by`) as a pure function of the
//!   members' join points and read markers.
//! - [`event`]: the versioned event contract ([`DomainEvent`]), its stable type
//!   names and explicit upcasting of older schema versions.
//! - [`views`]: the shapes of read models, shared by the projector (which
//!   writes them) and the query side (which reads them); where they are
//!   stored is the `readmodel` crate's.
//! - [`frame`]: live frames pushed to room members (`GET /v1/stream`) and
//!   their batch shape.

pub mod aggregate;
pub mod attachment;
pub mod error;
pub mod event;
pub mod frame;
pub mod friendship;
pub mod hangul;
pub mod ids;
pub mod invite;
pub mod meetup;
pub mod notification;
pub mod pii;
pub mod reaction;
pub mod room;
pub mod unread;
pub mod user;
pub mod username;
pub mod values;
pub mod views;
pub mod views_people;

pub use aggregate::Aggregate;
pub use error::DomainError;
pub use event::{DecodeError, DomainEvent, EventMetadata, StoredEvent, StreamType};
pub use ids::{AttachmentId, EventId, InviteId, MeetupId, MessageId, RoomId, StreamId, UserId};
