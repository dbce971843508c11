//! `theater-supervisor`: run supervision trees of WebAssembly component actors.

use clap::Parser;
use theater_supervisor::commands::{RunCommand, VerifyCommand};

/// Supervision for WebAssembly component actors (theater:simple).
#[derive(Parser, Debug)]
#[command(version, about)]
enum Cli {
    /// Run a root actor from its manifest and print every actor's log lines.
    Run(RunCommand),
    /// Verify every event chain in a file written by `run --events`.
    Verify(VerifyCommand),
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
    };
    std::process::exit(code);
}
