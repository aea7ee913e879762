//! Fuzz targets of cotalk (`cargo +nightly fuzz run <target>`).
//!
//! - [`targets`]: the target bodies, [`targets::query_parser`] and
//!   [`targets::event_decode`], also replayed by tests/fuzz_smoke.rs.

pub mod targets;
