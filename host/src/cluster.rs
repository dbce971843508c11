//! Taking part in a group of hosts that share one PostgreSQL event store (CONTRACT §9): a tree
//! whose lease this host lost is dropped here at once, and a tree whose lease expired (its owner
//! was killed, paused or cut off) is taken over and resumed here, as `run --resume` does.

use crate::ActorSystem;
use crate::store::PostgresStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something [`take_part`] did, for the host's log.
#[derive(Debug, Clone)]
pub enum ClusterEvent {
    /// Another host owns the tree now; this host dropped its copy.
    Lost {
        /// The tree's root id.
        root: String,
        /// Why (who owns it now).
        why: String,
        /// Actors dropped.
        actors: usize,
    },
    /// This host took an expired lease over and resumed the tree.
    TookOver {
        /// The tree's root id.
        root: String,
        /// The previous owner.
        from: String,
        /// The new epoch.
        epoch: i64,
        /// Actors brought back.
        resumed: usize,
        /// Actors that could not be brought back, with why.
        failed: Vec<(String, String)>,
        /// How long the lease had been expired when it was taken (ms, the database's clock).
        expired_ms: i64,
        /// How long taking it over and resuming it took here.
        took: Duration,
    },
    /// A take-over or resume failed.
    Error(String),
}

/// How often expired leases are looked for: a tenth of the lease, at least every 250 ms.
pub fn scan_interval(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(20), Duration::from_millis(250))
}

/// Runs until cancelled (drop the future): drops the trees whose lease this host loses and
/// takes over and resumes the trees whose lease expired. `report` hears each step.
pub async fn take_part(
    system: &ActorSystem,
    store: Arc<PostgresStore>,
    report: impl Fn(ClusterEvent),
) {
    let mut lost = store.lost_leases();
    let mut tick = tokio::time::interval(scan_interval(store.lease_length()));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            l = lost.recv() => match l {
                Ok(l) => {
                    let actors = system.abandon_tree(&l.root, &l.why);
                    report(ClusterEvent::Lost { root: l.root, why: l.why, actors });
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    report(ClusterEvent::Error(format!("{n} lost-lease reports were missed")));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            },
            _ = tick.tick() => {
                for e in take_over_expired(system, &store).await {
                    report(e);
                }
            }
        }
    }
}

/// Takes over every expired lease of a live tree this host does not hold, and resumes each.
pub async fn take_over_expired(
    system: &ActorSystem,
    store: &Arc<PostgresStore>,
) -> Vec<ClusterEvent> {
    let s = store.clone();
    let leases = match tokio::task::spawn_blocking(move || s.leases()).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return vec![ClusterEvent::Error(format!("cannot read the leases: {e}"))],
        Err(e) => return vec![ClusterEvent::Error(e.to_string())],
    };
    let held: std::collections::HashSet<String> =
        store.held().into_iter().map(|(r, _)| r).collect();
    let mut out = Vec::new();
    for l in leases {
        if l.ended || l.expires_in_ms >= 0 || held.contains(&l.root) {
            continue;
        }
        let started = Instant::now();
        let (s, root) = (store.clone(), l.root.clone());
        let epoch = match tokio::task::spawn_blocking(move || s.take_over(&root)).await {
            Ok(Ok(Some(e))) => e,
            Ok(Ok(None)) => continue, // another host was quicker, or it was renewed
            Ok(Err(e)) => {
                out.push(ClusterEvent::Error(format!(
                    "cannot take tree {} over: {e}",
                    l.root
                )));
                continue;
            }
            Err(e) => {
                out.push(ClusterEvent::Error(e.to_string()));
                continue;
            }
        };
        match system.resume_tree(&l.root).await {
            Ok(r) => out.push(ClusterEvent::TookOver {
                root: l.root,
                from: l.owner,
                epoch,
                resumed: r.resumed.len(),
                failed: r.failed,
                expired_ms: -l.expires_in_ms,
                took: started.elapsed(),
            }),
            Err(e) => out.push(ClusterEvent::Error(format!(
                "took tree {} over (epoch {epoch}) but could not resume it: {e}",
                l.root
            ))),
        }
    }
    out
}
