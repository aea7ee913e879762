//! The bodies of cotalk's HTTP API as types: what the routes parse and
//! answer, and what clients send and read. The server (`command`, `query`,
//! `api`) and the typed client (`testkit::client`, used by the tests,
//! `cotalk seed` and `cotalk bench`) both use these, so a field renamed on
//! one side cannot go unnoticed on the other. The crate knows nothing of
//! HTTP frameworks or stores; its schemas (utoipa) are the ones
//! `/openapi.json` documents.
//!
//! - [`commands`]: request bodies of the command routes and their answers.
//! - [`meetups`]: meet-up command bodies and answers, and query answers.
//! - [`positioned`]: [`Positioned`], a command answer with the log position
//!   of its last event.
//! - [`queries`]: answers of the query routes ([`messenger`]: their parts of issue 15).
//! - [`people`]: bodies of the people routes (roles, invites, blocks, mutes, user search).
//! - [`notifications`]: the notification feed and marking it read.
//! - [`ops`]: answers of the operational routes (`/healthz`, `/readyz`).
//! - [`problem`]: [`Problem`], the `application/problem+json` body of every error.

pub mod attachments;
pub mod commands;
pub mod meetups;
pub mod messenger;
pub mod notifications;
pub mod ops;
pub mod people;
pub mod positioned;
pub mod problem;
pub mod queries;
pub mod sessions;

pub use positioned::{Positioned, PositionedBody};
pub use problem::Problem;
