//! `theater-supervisor run MANIFEST`: run a root actor and its tree, printing every log line.

use super::data;
use super::printable::{escaped, short};
use super::signals::{self, Signals};
use super::store_select::{self, HostStore};
use crate::store::{Durability, PostgresOptions, PostgresStore, SqliteStore, StoreOptions};
use crate::{ActorSystem, LogLine, RootOutcome, SystemConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs the root actor of MANIFEST until it shuts down, fails, or Ctrl-C stops the tree. Every
/// actor's chain, status and last state are kept in the event store of the data directory.
#[derive(clap::Parser, Debug)]
pub struct RunCommand {
    /// The root actor's manifest (TOML); not with `--resume` or `--standby`.
    #[arg(required_unless_present_any = ["resume", "standby"], conflicts_with_all = ["resume", "standby"])]
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
    #[arg(long, conflicts_with_all = ["data", "resume", "fsync", "store_stall_ms", "store"])]
    pub no_store: bool,
    /// How long a failing event store (a full disk, a busy database) may keep retrying before
    /// the host gives up and stops every actor; meanwhile supervisor operations wait.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub store_stall_ms: u64,
    // Many hosts (CONTRACT §9): a shared PostgreSQL store, leases, standbys.
    /// Keep the event store in the PostgreSQL database at this URL, shared with other hosts,
    /// instead of a data directory (postgres://user@host:port/dbname; `?schema=NAME` picks the
    /// schema, default `theater`). Each tree is owned by one host under a lease.
    #[arg(long, value_name = "URL", conflicts_with_all = ["data", "fsync"], value_parser = store_select::parse_store_url)]
    pub store: Option<String>,
    /// This host's id: the owner of its trees' leases, recorded in every `lifecycle.start`
    /// event. Default with `--store`: hostname-pid.
    #[arg(long, value_name = "NAME")]
    pub host_id: Option<String>,
    /// Length of the tree leases this host takes and renews (with `--store`); a host that
    /// cannot renew for this long loses its trees to another host.
    #[arg(long, value_name = "MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub lease_ms: u64,
    /// Start no root: watch the leases of the store and take over (and resume, as `--resume`
    /// does) every tree whose lease expires, until Ctrl-C.
    #[arg(long, requires = "store")]
    pub standby: bool,
}

impl RunCommand {
    /// Runs; returns the process exit status (0 when the root called `runtime.shutdown`).
    pub async fn exec(self) -> anyhow::Result<i32> {
        // Installed before anything starts: a Ctrl-C or SIGTERM during the root's start is
        // kept and acted on once it is up (the default action would kill the host mid-start).
        let mut signals = Signals::install()?;
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
        // Names and messages are the actors' text: escaped, so each log line stays one line.
        let sink: crate::LogSink = Arc::new(|l: &LogLine| {
            println!(
                "[{} {}] {}",
                escaped(&l.actor_name),
                short(&l.actor_id),
                escaped(&l.message)
            );
        });
        let store = self.open_store()?;
        if let Some(store) = &store {
            eprintln!("event store: {}", store.describe());
        }
        let pg = match &store {
            Some(HostStore::Postgres(p)) => Some(p.clone()),
            _ => None,
        };
        let system = ActorSystem::new(SystemConfig {
            log_sink: Some(sink),
            storage: store.as_ref().map(HostStore::storage),
            host_id: pg
                .as_ref()
                .map(|p| p.host_id().to_string())
                .or(self.host_id.clone()),
            ..SystemConfig::default()
        })?;
        if let Some(pg) = &pg
            && self.standby
        {
            eprintln!(
                "standby: host {} watches the leases of {}",
                pg.host_id(),
                pg.target()
            );
            tokio::select! {
                _ = crate::cluster::take_part(&system, pg.clone(), print_cluster_event) => {}
                _ = signals.next() => eprintln!("stopping the trees this host runs"),
            }
            system.shutdown().await;
            self.write_events(&system)?;
            drop(system);
            pg.close();
            return Ok(130);
        }
        let started = match (&self.manifest, &pg) {
            (Some(m), _) => system.start_root(m).await.map_err(|e| e.to_string()),
            (None, Some(pg)) => resume_shared(&system, pg).await,
            (None, None) => match system.resume().await {
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
        let take_part = async {
            match &pg {
                Some(pg) => {
                    crate::cluster::take_part(&system, pg.clone(), print_cluster_event).await
                }
                None => std::future::pending().await,
            }
        };
        let mut stopped_by = None;
        let outcome = tokio::select! {
            o = system.wait_root() => o,
            _ = take_part => unreachable!("take_part runs until cancelled"),
            signal = signals.next() => {
                stopped_by = Some(signal);
                signals::stop_tree(&system, signal, &mut signals).await;
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
                    println!(
                        "root shut down with data: {}",
                        escaped(&String::from_utf8_lossy(&d))
                    );
                }
                0
            }
            RootOutcome::Failed(reason) => {
                eprintln!("error: the root actor failed: {}", escaped(&reason));
                1
            }
            RootOutcome::Stopped => stopped_by.map_or(130, |s| s.exit_code()),
            RootOutcome::LeaseLost(why) => {
                eprintln!(
                    "error: another host took this tree over, so this host dropped its copy (nothing more was written here): {why}"
                );
                4
            }
            RootOutcome::StoreFailed(why) => {
                eprintln!(
                    "error: the event store failed, so every actor was stopped (nothing more could be recorded): {why}"
                );
                3
            }
        })
    }

    /// The store of `--data` (default) or `--store`; `None` with `--no-store`.
    fn open_store(&self) -> anyhow::Result<Option<HostStore>> {
        if self.no_store {
            return Ok(None);
        }
        let stall_timeout = std::time::Duration::from_millis(self.store_stall_ms);
        if let Some(url) = &self.store {
            let mut options = PostgresOptions {
                lease: std::time::Duration::from_millis(self.lease_ms),
                stall_timeout,
                ..PostgresOptions::default()
            };
            if let Some(id) = &self.host_id {
                options.host_id = id.clone();
            }
            return Ok(Some(HostStore::Postgres(Arc::new(PostgresStore::open(
                url, options,
            )?))));
        }
        let dir = data::dir_or_default(self.data.as_deref());
        let durability = if self.fsync {
            Durability::Fsync
        } else {
            Durability::Process
        };
        Ok(Some(HostStore::Sqlite(Arc::new(SqliteStore::open_with(
            &dir,
            StoreOptions {
                durability,
                stall_timeout,
            },
        )?))))
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

/// `run --store URL --resume`: takes over every tree whose lease expired and resumes it; the
/// first one's root is the run's root.
async fn resume_shared(system: &ActorSystem, pg: &Arc<PostgresStore>) -> Result<String, String> {
    let mut root = None;
    for e in crate::cluster::take_over_expired(system, pg).await {
        if let crate::cluster::ClusterEvent::TookOver { root: r, .. } = &e
            && root.is_none()
        {
            root = Some(r.clone());
        }
        print_cluster_event(e);
    }
    root.ok_or_else(|| {
        let s = pg.clone();
        let live = s
            .leases()
            .map(|l| l.iter().filter(|l| !l.ended).count())
            .unwrap_or(0);
        if live > 0 {
            format!("nothing to resume: the {live} live trees in the store are owned by hosts whose leases have not expired (`theater-supervisor tree --store URL` shows them)")
        } else {
            "nothing to resume: no tree in the store was running".to_string()
        }
    })
}

/// Prints what the host did as a member of the hosts sharing the store.
fn print_cluster_event(e: crate::cluster::ClusterEvent) {
    use crate::cluster::ClusterEvent;
    match e {
        ClusterEvent::Lost { root, why, actors } => eprintln!(
            "lease lost: tree {root} belongs to another host now ({why}); dropped this host's copy ({actors} actors), nothing more written here"
        ),
        ClusterEvent::TookOver {
            root,
            from,
            epoch,
            resumed,
            failed,
            expired_ms,
            took,
        } => {
            eprintln!(
                "took over tree {root} from host {from} (epoch {epoch}, lease expired {expired_ms} ms ago): resumed {resumed} actors in {} ms",
                took.as_millis()
            );
            for (id, why) in failed {
                eprintln!("not resumed: {id}: {why}");
            }
        }
        ClusterEvent::Error(e) => eprintln!("error: {e}"),
    }
}
