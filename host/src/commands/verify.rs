//! `theater-supervisor verify FILE`: check every chain of an `--events` file.

use crate::events_file::EventsFile;
use std::path::PathBuf;

/// Verifies every actor's chain in an events file written by `run --events`.
#[derive(clap::Parser, Debug)]
pub struct VerifyCommand {
    /// The events file (JSON).
    pub file: PathBuf,
}

impl VerifyCommand {
    /// Prints one line per actor; returns 0 when every chain verifies, 1 otherwise.
    pub fn exec(self) -> anyhow::Result<i32> {
        let text = std::fs::read(&self.file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", self.file.display()))?;
        let file: EventsFile = serde_json::from_slice(&text)
            .map_err(|e| anyhow::anyhow!("{} is not an events file: {e}", self.file.display()))?;
        let problems = file.verify();
        let events: usize = file.actors.iter().map(|a| a.events.len()).sum();
        if problems.is_empty() {
            println!(
                "ok: {} actors, {events} events, every chain verifies",
                file.actors.len()
            );
            Ok(0)
        } else {
            for p in &problems {
                println!("BROKEN {p}");
            }
            println!(
                "{} of {} actors have a broken chain",
                problems.len(),
                file.actors.len()
            );
            Ok(1)
        }
    }
}
