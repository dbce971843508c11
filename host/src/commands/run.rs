//! `theater-supervisor run MANIFEST`: run a root actor and its tree, printing every log line.

use super::data;
use crate::store::{Durability, SqliteStore, StoreOptions};
use crate::{ActorSystem, LogLine, RootOutcome, SystemConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs the root actor of MANIFEST until it shuts down, fails, or Ctrl-C stops the tree. Every
/// actor's chain, status and last state are kept in the event store of the data directory.
#[derive(clap::Parser, Debug)]
pub struct RunCommand {
    /// The root actor's manifest (TOML); not with `--resume`.
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub manifest: Option<PathBuf>,
    /// When the run ends, write every actor's event chain to this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Data directory of the event store (SQLite, `events.db`). Default: `$THEATER_DATA_DIR`,
    /// else `$XDG_DATA_HOME/theater-supervisor`, else `~/.local/share/theater-supervisor`.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Bring back the tree that was running when the host last stopped (same ids, last stored
    /// states) instead of starting a new root.
    #[arg(long)]
    pub resume: bool,
    /// fsync every commit (survives power loss, slower); default: commits survive the host
    /// process dying, not the machine.
    #[arg(long)]
    pub fsync: bool,
    /// Keep nothing on disk (no event store).
    #[arg(long, conflicts_with_all = ["data", "resume", "fsync", "store_stall_ms"])]
    pub no_store: bool,
    /// How long a failing event store (a full disk, a busy database) may keep retrying before
    /// the host gives up and stops every actor; meanwhile supervisor operations wait.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub store_stall_ms: u64,
}

/// First 8 characters of an id, as printed in log lines.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl RunCommand {
    /// Runs; returns the process exit status (0 when the root called `runtime.shutdown`).
    pub async fn exec(self) -> anyhow::Result<i32> {
        // Installed before anything starts: a Ctrl-C during the root's start is kept and acted
        // on once it is up (the default action would kill the host mid-start).
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        // A path the run could not write at its end is better told now.
        if let Some(path) = &self.events {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    anyhow::anyhow!("cannot write the events file {}: {e}", path.display())
                })?;
        }
        let sink: crate::LogSink = Arc::new(|l: &LogLine| {
            println!("[{} {}] {}", l.actor_name, short(&l.actor_id), l.message);
        });
        let store = if self.no_store {
            None
        } else {
            let dir = data::dir_or_default(self.data.as_deref());
            let durability = if self.fsync {
                Durability::Fsync
            } else {
                Durability::Process
            };
            let store = Arc::new(SqliteStore::open_with(
                &dir,
                StoreOptions {
                    durability,
                    stall_timeout: std::time::Duration::from_millis(self.store_stall_ms),
                },
            )?);
            eprintln!("event store: {}", store.path().display());
            Some(store)
        };
        let system = ActorSystem::new(SystemConfig {
            log_sink: Some(sink),
            storage: store.clone().map(|s| s as Arc<dyn crate::store::Storage>),
            ..SystemConfig::default()
        })?;
        let started = match &self.manifest {
            Some(m) => system.start_root(m).await.map_err(|e| e.to_string()),
            None => match system.resume().await {
                Ok(report) => {
                    eprintln!(
                        "resumed {} actors: {}",
                        report.resumed.len(),
                        report.resumed.join(" ")
                    );
                    for (id, why) in &report.failed {
                        eprintln!("not resumed: {id}: {why}");
                    }
                    report.root.ok_or_else(|| match report.failed.first() {
                        Some((id, why)) => format!(
                            "nothing resumed: the stored tree could not be brought back ({id}: {why})"
                        ),
                        None => {
                            "nothing to resume: no root actor was running when the host stopped"
                                .to_string()
                        }
                    })
                }
                Err(e) => Err(e.to_string()),
            },
        };
        let root = match started {
            Ok(id) => id,
            Err(e) => {
                eprintln!("error: the root actor failed to start: {e}");
                self.write_events(&system)?;
                return Ok(2);
            }
        };
        tracing::info!(%root, "root actor started");
        let outcome = tokio::select! {
            o = system.wait_root() => o,
            _ = interrupt.recv() => {
                eprintln!("interrupted: stopping the actor tree");
                system.shutdown().await;
                system.wait_root().await
            }
        };
        // Whatever else is still running (actors started outside the root's tree) stops too.
        system.shutdown().await;
        self.write_events(&system)?;
        drop(system);
        if let Some(store) = store {
            store.close();
        }
        Ok(match outcome {
            RootOutcome::Shutdown(data) => {
                if let Some(d) = data {
                    println!("root shut down with data: {}", String::from_utf8_lossy(&d));
                }
                0
            }
            RootOutcome::Failed(reason) => {
                eprintln!("error: the root actor failed: {reason}");
                1
            }
            RootOutcome::Stopped => 130,
            RootOutcome::StoreFailed(why) => {
                eprintln!(
                    "error: the event store failed, so every actor was stopped (nothing more could be recorded): {why}"
                );
                3
            }
        })
    }

    fn write_events(&self, system: &ActorSystem) -> anyhow::Result<()> {
        if let Some(path) = &self.events {
            let file = system.export_events();
            let json = serde_json::to_vec_pretty(&file)?;
            std::fs::write(path, json)
                .map_err(|e| anyhow::anyhow!("cannot write events to {}: {e}", path.display()))?;
            eprintln!(
                "wrote {} actors' event chains to {}",
                file.actors.len(),
                path.display()
            );
        }
        Ok(())
    }
}
