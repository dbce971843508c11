//! `theater-supervisor verify FILE` / `verify --data DIR`: check every chain of an `--events`
//! file or of a data directory's event store.

use super::store_select::{self, ReadStore};
use crate::events_file::EventsFile;
use std::path::PathBuf;

/// Verifies every actor's chain in an events file written by `run --events`, or in the event
/// store of a data directory written by `run --data`.
#[derive(clap::Parser, Debug)]
pub struct VerifyCommand {
    /// The events file (JSON).
    #[arg(required_unless_present_any = ["data", "store"], conflicts_with_all = ["data", "store"])]
    pub file: Option<PathBuf>,
    /// Verify the event store of this data directory instead.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Read the PostgreSQL event store at this URL instead of a data directory
    /// (postgres://user@host:port/dbname; `?schema=NAME` picks the schema, default `theater`).
    #[arg(long, value_name = "URL", conflicts_with = "data", value_parser = store_select::parse_store_url)]
    pub store: Option<String>,
}

impl VerifyCommand {
    /// Prints one line per actor; returns 0 when every chain verifies, 1 otherwise.
    pub fn exec(self) -> anyhow::Result<i32> {
        match &self.file {
            Some(file) => Self::file(file.clone()),
            None => Self::stored(&ReadStore::open(
                self.data.as_deref(),
                self.store.as_deref(),
            )?),
        }
    }

    fn stored(store: &ReadStore) -> anyhow::Result<i32> {
        let actors = store.actors()?;
        let mut problems = Vec::new();
        let mut events = 0usize;
        for a in &actors {
            match store.stored_events(&a.id) {
                Ok(rows) => {
                    events += rows.len();
                    let found = theater_core::diagnose::diagnose(&rows);
                    if !found.is_empty() {
                        let list: Vec<String> = found.iter().map(ToString::to_string).collect();
                        problems.push(format!("{} ({}): {}", a.id, a.name, list.join("; ")));
                    }
                }
                Err(e) => problems.push(format!("{} ({}): cannot read: {e}", a.id, a.name)),
            }
        }
        Self::report(&problems, actors.len(), events, 0)
    }

    fn report(
        problems: &[String],
        actors: usize,
        events: usize,
        dropped: u64,
    ) -> anyhow::Result<i32> {
        if problems.is_empty() {
            println!("ok: {actors} actors, {events} events, every chain verifies");
            if dropped > 0 {
                println!(
                    "note: {dropped} more ended actors are not in this file: the host had dropped their records from memory (SystemConfig::retain_stopped); with an event store their chains are in it (`verify --data DIR`), without one they are lost"
                );
            }
            Ok(0)
        } else {
            for p in problems {
                println!("BROKEN {p}");
            }
            println!("{} of {actors} actors have a broken chain", problems.len());
            Ok(1)
        }
    }

    fn file(file: PathBuf) -> anyhow::Result<i32> {
        let text = std::fs::read(&file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let file: EventsFile = serde_json::from_slice(&text)
            .map_err(|e| anyhow::anyhow!("{} is not an events file: {e}", file.display()))?;
        let problems = file.verify();
        let events: usize = file.actors.iter().map(|a| a.events.len()).sum();
        Self::report(&problems, file.actors.len(), events, file.dropped_actors)
    }
}
