//! `theater-supervisor run MANIFEST`: run a root actor and its tree, printing every log line.

use crate::{ActorSystem, LogLine, RootOutcome, SystemConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs the root actor of MANIFEST until it shuts down, fails, or Ctrl-C stops the tree.
#[derive(clap::Parser, Debug)]
pub struct RunCommand {
    /// The root actor's manifest (TOML).
    pub manifest: PathBuf,
    /// When the run ends, write every actor's event chain to this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

/// First 8 characters of an id, as printed in log lines.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl RunCommand {
    /// Runs; returns the process exit status (0 when the root called `runtime.shutdown`).
    pub async fn exec(self) -> anyhow::Result<i32> {
        let sink: crate::LogSink = Arc::new(|l: &LogLine| {
            println!("[{} {}] {}", l.actor_name, short(&l.actor_id), l.message);
        });
        let system = ActorSystem::new(SystemConfig {
            log_sink: Some(sink),
            ..SystemConfig::default()
        })?;
        let root = match system.start_root(&self.manifest).await {
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
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: stopping the actor tree");
                system.shutdown().await;
                system.wait_root().await
            }
        };
        // Whatever else is still running (actors started outside the root's tree) stops too.
        system.shutdown().await;
        self.write_events(&system)?;
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
