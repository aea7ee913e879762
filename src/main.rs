//! `cotalk`: the command-line entry point. Parses the configuration, sets up
//! logging, calls the library, reports errors. Everything else lives in the
//! crates (`cotalk::cli` holds the commands).

use anyhow::Result;
use clap::Parser;

/// mimalloc instead of the system allocator: under load glibc malloc took a
/// quarter of the server's CPU (arena locking and consolidation across the
/// runtime's threads), and it kept freed memory that mimalloc returns.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // A bad option ends here, with clap's message naming it.
    let cli = cotalk::cli::Cli::parse();
    cotalk::telemetry::init(&cli.log);
    disable_transparent_huge_pages();
    cli.run().await
}
