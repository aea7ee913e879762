//! `cotalk`: the command-line entry point. Parses the configuration, calls the
//! library, reports errors. Everything else lives in the crates.

use anyhow::Result;

/// mimalloc instead of the system allocator: under load glibc malloc took a
/// quarter of the server's CPU (arena locking and consolidation across the
/// runtime's threads), and it kept freed memory that mimalloc returns.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use cotalk::config::{Config, ServeArgs};

#[derive(Parser)]
#[command(name = "cotalk", version, about = "Event-sourced CQRS chat backend")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and run background work for the chosen role.
    Serve(ServeArgs),
    /// Create (if missing) and migrate the event-log and read databases.
    Migrate,
    /// Projection status, and rebuilds from the log.
    Projections {
        #[command(subcommand)]
        command: cotalk::projections::ProjectionsCommand,
    },
    /// Write a demo (users, rooms, Korean and English conversations) once;
    /// running it again writes nothing.
    Seed(cotalk::seed::SeedArgs),
    /// Measure the hot paths next to their ceilings and baselines.
    Bench {
        #[command(flatten)]
        common: cotalk::bench::Common,
        #[command(subcommand)]
        part: cotalk::bench::BenchCommand,
    },
}

/// mimalloc asks for transparent huge pages on its arenas; each fresh 2 MiB
/// page is zeroed by the kernel on first touch, and under the e2e load that
/// zeroing (`clear_page_erms`) was 8–10% of the server's CPU (perf). With
/// THP off for this process only small pages are faulted in.
fn disable_transparent_huge_pages() {
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "could not disable transparent huge pages");
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    cotalk::telemetry::init();
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cotalk::serve::run(cli.config, args).await,
        Command::Migrate => cotalk::serve::migrate(&cli.config).await,
        Command::Projections { command } => cotalk::projections::run(&cli.config, command).await,
        Command::Seed(args) => {
            let outcome = cotalk::seed::run(&cli.config, &args).await?;
            println!("{}", cotalk::seed::describe(&outcome));
            Ok(())
        }
        Command::Bench { common, part } => cotalk::bench::run(&cli.config, &common, part).await,
    }
}
