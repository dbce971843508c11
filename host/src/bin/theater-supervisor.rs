//! `theater-supervisor`: run supervision trees of WebAssembly component actors.

use clap::Parser;
use theater_supervisor::commands::{
    EventsCommand, NewCommand, RunCommand, TreeCommand, VerifyCommand,
};

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
    /// Write a new actor project (crates, manifests, build.sh) from a template.
    New(NewCommand),
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("THEATER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse() {
        Cli::Run(c) => c.exec().await,
        Cli::Verify(c) => c.exec(),
        Cli::Events(c) => c.exec(),
        Cli::Tree(c) => c.exec(),
        Cli::New(c) => c.exec(),
    };
    // One line, the causes after colons; no backtrace even with RUST_BACKTRACE set (an error
    // here is the user's to act on, not a bug report).
    let code = result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        1
    });
    std::process::exit(code);
}
