//! Logging: `RUST_LOG`-style filtering (default `info`), plain text on a
//! terminal, JSON lines when `COTALK_LOG_JSON=1`.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber (once; later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("COTALK_LOG_JSON").is_ok_and(|v| v == "1");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
