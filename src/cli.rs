//! The `cotalk` command line: every command and option, parsed by clap from
//! flags and `COTALK_*` environment variables, and what each command runs.

use crate::config::{Config, LogArgs, ServeArgs};
use anyhow::Result;
use clap::{Parser, Subcommand};

/// `cotalk`: options shared by every command, and the command.
#[derive(Debug, Parser)]
#[command(name = "cotalk", version, about = "Event-sourced CQRS chat backend")]
pub struct Cli {
    /// Connections and names.
    #[command(flatten)]
    pub config: Config,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `cotalk`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and run background work for the chosen role.
    Serve(ServeArgs),
    /// Create (if missing) and migrate the event-log and read databases.
    Migrate,
    /// Projection status, and rebuilds from the log.
    Projections {
        /// `status` or `replay`.
        #[command(subcommand)]
        command: crate::projections::ProjectionsCommand,
    },
    /// Personal-data maintenance (`encrypt-legacy`).
    Pii {
        /// What to do.
        #[command(subcommand)]
        command: crate::pii::PiiCommand,
    },
    /// Write a demo (users, rooms, Korean and English conversations) once;
    /// running it again writes nothing.
    Seed(crate::seed::SeedArgs),
    /// Measure the hot paths next to their ceilings and baselines.
    Bench {
        /// Options of every part.
        #[command(flatten)]
        common: crate::bench::Common,
        /// Which part.
        #[command(subcommand)]
        part: crate::bench::BenchCommand,
    },
}

impl Cli {
    /// Run the command.
    pub async fn run(self) -> Result<()> {
        let config = self.config;
        // A malformed URL is reported where it is first used; a namespace
        // that cannot live on a Redis Cluster is refused before anything runs.
        if let Ok(target) = readmodel::RedisTarget::open(&config.redis_url) {
            target
                .check_namespace(&config.namespace)
                .map_err(anyhow::Error::msg)?;
        }
        match self.command {
            Command::Serve(args) => crate::serve::run(config, args).await,
            Command::Migrate => crate::serve::migrate(&config).await,
            Command::Projections { command } => crate::projections::run(&config, command).await,
            Command::Pii { command } => crate::pii::run(&config, command).await,
            Command::Seed(args) => {
                let outcome = crate::seed::run(&config, &args).await?;
                println!("{}", crate::seed::describe(&outcome));
                Ok(())
            }
            Command::Bench { common, part } => crate::bench::run(&config, &common, part).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::collections::BTreeSet;

    /// Every environment variable an option of any command reads.
    fn env_names(command: &clap::Command, names: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                names.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            env_names(sub, names);
        }
    }

    /// The variables named in the first column of README.md's configuration
    /// table (`` `COTALK_X` ``, several per row allowed).
    fn readme_table() -> BTreeSet<String> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README.md has a Configuration section");
        section
            .lines()
            .filter_map(|line| line.strip_prefix('|'))
            .filter_map(|row| row.split('|').next())
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .map(|name| name.split('=').next().unwrap_or(name).to_owned())
            .filter(|name| name.starts_with("COTALK_") || name == "RUST_LOG")
            .collect()
    }

    #[test]
    fn the_readme_lists_every_option_and_nothing_else() {
        let mut options = BTreeSet::new();
        env_names(&Cli::command(), &mut options);
        assert!(options.contains("COTALK_LISTEN"), "{options:?}");
        let table = readme_table();
        let missing: Vec<_> = options.difference(&table).collect();
        assert!(missing.is_empty(), "not in README.md's table: {missing:?}");
        let unknown: Vec<_> = table.difference(&options).collect();
        assert!(
            unknown.is_empty(),
            "in README.md's table, not an option: {unknown:?}"
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_bad_log_option_stops_start_up() {
        for (flag, value) in [("--log-json", "maybe"), ("--log-filter", "projector=loud")] {
            let arg = format!("{flag}={value}");
            let e = Cli::try_parse_from(["cotalk", &arg, "migrate"])
                .err()
                .unwrap_or_else(|| panic!("{arg} was accepted"));
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{arg}");
            assert!(e.to_string().contains(flag), "{e}");
        }
        let cli = Cli::try_parse_from(["cotalk", "migrate", "--log-json", "--log-filter", "debug"])
            .unwrap();
        assert!(cli.log.log_json);
        assert_eq!(cli.log.log_filter.as_deref(), Some("debug"));
    }
}
