//! The `cotalk` binary's library: configuration, process wiring per role, and
//! the operational commands (migrate, projections, seed, bench).
//!
//! - [`bench`]: `cotalk bench`, measurements next to their ceilings.
//! - [`cli`]: the command line: every command and its options, and what each runs.
//! - [`config`]: the typed configuration (flags and `COTALK_*` variables).
//! - [`serve`]: the parts a role runs (commands, projectors, queries, streams,
//!   web, ops), each with its routes, readiness checks and tasks, served until
//!   SIGTERM / Ctrl-C.
//! - [`projections`]: `cotalk projections status|replay`.
//! - [`scheduler`]: the meet-up reminder scheduler (durable timers derived
//!   from the log; one active node at a time, by lease).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
//! - [`ops_status`]: `GET /ops/status`, the operator page's data (admin token).
//! - [`admin`]: the admin token's check (`/ops/status`, `/metrics`).
//! - [`server`]: the HTTP server (accept loop, connection timeouts and caps,
//!   default response headers, request log span with credentials redacted).
//! - [`seed`]: `cotalk seed`, a demo of Korean and English conversations
//!   (`seed_bulk`: the generated users, rooms and messages it can add).
//! - [`web`]: the embedded web client (`/`) and operator page (`/ops`).
//! - [`telemetry`]: logging setup.

pub mod admin;
pub mod bench;
pub mod cli;
pub mod config;
pub mod ops;
pub mod ops_status;
pub mod pii;
pub mod projections;
pub mod scheduler;
pub mod seed;
mod seed_bulk;
pub mod serve;
pub mod server;
pub mod telemetry;
pub mod web;
