//! `cotalk pii`: personal-data maintenance (issue 18, ARCHITECTURE.md
//! "Personal data").

use crate::config::Config;
use crate::serve::lazy_pool;
use anyhow::{Context, Result};
use clap::Subcommand;

/// `cotalk pii` subcommands.
#[derive(Debug, Subcommand)]
pub enum PiiCommand {
    /// Seal, in place, the plain personal fields of events written before
    /// issue 18 and replace plain usernames in `credentials` by their keyed
    /// hash. Idempotent; safe while servers run.
    EncryptLegacy {
        /// Log positions (and credentials rows) per transaction.
        #[arg(long, default_value_t = 5_000)]
        batch: i64,
    },
}

/// Run a `cotalk pii` command.
pub async fn run(config: &Config, command: PiiCommand) -> Result<()> {
    match command {
        PiiCommand::EncryptLegacy { batch } => {
            let pool = lazy_pool(&config.database_url, 2)?;
            let pii = config.pii().context("load the master key")?;
            let report = eventlog::pii_legacy::encrypt_legacy(&pool, &pii, batch)
                .await
                .context("seal legacy personal fields")?;
            println!(
                "sealed {} events, created {} data keys, hashed {} usernames in credentials",
                report.events, report.keys_created, report.credentials
            );
            println!(
                "older copies still hold the plain fields: the JetStream stream (delete it \
                 with `nats stream rm <namespace>-events`; the relay recreates it from the \
                 sealed log) and backups taken before this run (replace them, see docs/API.md \
                 \"cotalk pii encrypt-legacy\")"
            );
            Ok(())
        }
    }
}
