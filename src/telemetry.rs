//! Logging: the filter of `--log-filter` / `RUST_LOG` or else
//! [`DEFAULT_FILTER`], plain text on stderr, JSON lines with `--log-json` /
//! `COTALK_LOG_JSON`.

use crate::config::LogArgs;
use tracing_subscriber::EnvFilter;

/// The filter when none is given: cotalk's own crates at `info`, everything
/// else at `warn`. A newcomer's console shows what cotalk does; tantivy
/// writes seven `info` lines at every index commit (every 200 ms under
/// load) and async_nats its connection chatter, which a filter opens again
/// when wanted (`RUST_LOG=warn,tantivy=info`).
pub const DEFAULT_FILTER: &str = "warn,cotalk=info,command=info,projector=info,query=info,\
     search=info,api=info,eventlog=info,readmodel=info,domain=info,lease=info";

/// The filter `args` ask for. A given filter was checked when the options
/// were parsed ([`crate::config::log_filter`]); were it bad anyway, the
/// default applies rather than no logging.
pub fn filter(args: &LogArgs) -> EnvFilter {
    let directives = args.log_filter.as_deref().unwrap_or(DEFAULT_FILTER);
    EnvFilter::builder()
        .parse(directives)
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Install the global subscriber (once; later calls do nothing).
pub fn init(args: &LogArgs) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(args))
        .with_writer(std::io::stderr);
    let _ = if args.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    /// Evaluate `probe` (made of `tracing::enabled!`) under `filter`.
    fn under(filter: EnvFilter, probe: impl FnOnce() -> bool) -> bool {
        let subscriber = tracing_subscriber::registry().with(filter);
        tracing::subscriber::with_default(subscriber, probe)
    }

    fn with_filter(directives: Option<&str>) -> EnvFilter {
        filter(&LogArgs {
            log_filter: directives.map(str::to_owned),
            log_json: false,
        })
    }

    #[test]
    fn the_default_shows_cotalk_at_info_and_dependencies_at_warn() {
        let on = |probe: fn() -> bool| under(with_filter(None), probe);
        assert!(on(
            || tracing::enabled!(target: "cotalk::serve", Level::INFO)
        ));
        assert!(on(|| tracing::enabled!(target: "cotalk", Level::INFO)));
        assert!(on(
            || tracing::enabled!(target: "projector::runtime", Level::INFO)
        ));
        assert!(on(
            || tracing::enabled!(target: "command::repository", Level::INFO)
        ));
        assert!(on(
            || tracing::enabled!(target: "query::stream", Level::INFO)
        ));
        assert!(on(
            || tracing::enabled!(target: "search::indexer", Level::INFO)
        ));
        assert!(on(|| tracing::enabled!(target: "api", Level::INFO)));
        assert!(on(|| tracing::enabled!(target: "domain", Level::INFO)));
        assert!(on(|| tracing::enabled!(target: "eventlog", Level::INFO)));
        assert!(on(|| tracing::enabled!(target: "readmodel", Level::INFO)));
        assert!(!on(|| tracing::enabled!(target: "projector", Level::DEBUG)));
        assert!(!on(
            || tracing::enabled!(target: "tantivy::indexer", Level::INFO)
        ));
        assert!(on(
            || tracing::enabled!(target: "tantivy::indexer", Level::WARN)
        ));
        assert!(!on(|| tracing::enabled!(target: "async_nats", Level::INFO)));
        assert!(on(|| tracing::enabled!(target: "async_nats", Level::WARN)));
        assert!(!on(
            || tracing::enabled!(target: "sqlx::query", Level::INFO)
        ));
        assert!(on(
            || tracing::enabled!(target: "tower_http::trace", Level::ERROR)
        ));
    }

    #[test]
    fn a_given_filter_opens_any_crate() {
        let given = |probe: fn() -> bool| under(with_filter(Some("warn,tantivy=info")), probe);
        assert!(given(
            || tracing::enabled!(target: "tantivy::indexer", Level::INFO)
        ));
        assert!(!given(
            || tracing::enabled!(target: "projector", Level::INFO)
        ));
        let debug = |probe: fn() -> bool| under(with_filter(Some("debug")), probe);
        assert!(debug(
            || tracing::enabled!(target: "async_nats", Level::DEBUG)
        ));
    }
}
