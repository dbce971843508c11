//! `theater-supervisor`: run supervision trees of WebAssembly component actors.

use clap::Parser;
use theater_supervisor::commands::{EventsCommand, RunCommand, TreeCommand, VerifyCommand};

/// Supervision for WebAssembly component actors (theater:simple).
#[derive(Parser, Debug)]
#[command(version, about)]
enum Cli {
    /// Run a root actor from its manifest and print every actor's log lines.
    Run(RunCommand),
    /// Verify every event chain in a file written by `run --events` or in a data directory.
    Verify(VerifyCommand),
    /// Print one actor's stored event chain (human form or `--json`).
    Events(EventsCommand),
    /// Show the stored supervision trees with each actor's status.
    Tree(TreeCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("THEATER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match Cli::parse() {
        Cli::Run(c) => c.exec().await?,
        Cli::Verify(c) => c.exec()?,
        Cli::Events(c) => c.exec()?,
        Cli::Tree(c) => c.exec()?,
    };
    std::process::exit(code);
}
