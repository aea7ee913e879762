//! The `cotalk` binary's library: configuration, process wiring per role, and
//! the operational commands (migrate, projections, seed, bench).
//!
//! - [`bench`]: `cotalk bench`, measurements next to their ceilings.
//! - [`config`]: the typed configuration (flags and `COTALK_*` variables).
//! - [`serve`]: builds the HTTP app and background tasks for a role, and runs them
//!   until SIGTERM / Ctrl-C.
//! - [`projections`]: `cotalk projections status|replay`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
//! - [`telemetry`]: logging setup.

pub mod bench;
pub mod config;
pub mod ops;
pub mod projections;
pub mod serve;
pub mod telemetry;
