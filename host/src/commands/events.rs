//! `theater-supervisor events [--data DIR | --store URL] ACTOR [--json]`: print one stored
//! actor's chain.

use super::{data, store_select};
use crate::events_file::{ActorEvents, EventsFile};
use std::path::PathBuf;
use store_select::ReadStore;

/// Prints one actor's stored event chain, oldest first.
#[derive(clap::Parser, Debug)]
pub struct EventsCommand {
    /// Data directory of `run --data` (default: see `run --help`).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Read the PostgreSQL event store at this URL instead of a data directory
    /// (postgres://user@host:port/dbname; `?schema=NAME` picks the schema, default `theater`).
    #[arg(long, value_name = "URL", conflicts_with = "data", value_parser = store_select::parse_store_url)]
    pub store: Option<String>,
    /// Actor id, or a unique prefix of it.
    pub actor: String,
    /// Print the chain as JSON (the `--events` file format, with this one actor).
    #[arg(long)]
    pub json: bool,
}

impl EventsCommand {
    /// Prints the chain; returns 0.
    pub fn exec(self) -> anyhow::Result<i32> {
        let store = ReadStore::open(self.data.as_deref(), self.store.as_deref())?;
        let actor = data::find_actor(&store, &self.actor)?;
        let events = store.events(&actor.id, 0)?;
        if self.json {
            let file = EventsFile::new(vec![ActorEvents::new(
                &actor.id,
                &actor.name,
                actor.parent.as_deref(),
                actor.status,
                &events,
            )]);
            println!("{}", serde_json::to_string_pretty(&file)?);
            return Ok(0);
        }
        println!(
            "{} {} ({:?}, {} events{})",
            actor.name,
            actor.id,
            actor.status,
            events.len(),
            actor
                .parent
                .as_deref()
                .map(|p| format!(", parent {p}"))
                .unwrap_or_default()
        );
        for (i, e) in events.iter().enumerate() {
            println!(
                "{i:>6}  {}  {:<28} {}  {}",
                format_millis(e.timestamp),
                e.event_type,
                &hex::encode(e.hash)[..12],
                e.description.as_deref().unwrap_or("")
            );
            if !e.data.is_empty() && e.data != b"{}" {
                println!("        {}", String::from_utf8_lossy(&e.data));
            }
        }
        Ok(0)
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix-epoch millisecond timestamp.
fn format_millis(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}
