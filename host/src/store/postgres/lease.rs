//! Tree leases: which host owns which root tree, under which epoch.
//!
//! A lease row (`leases`: root id, owner host id, epoch, expiry, ended) is created with epoch 1 in
//! the transaction that stores a new root actor. The owner renews it well inside its length
//! ([`super::PostgresOptions::renew_every`], a third of the lease by default). Once it has expired,
//! any host may take it over: the epoch grows by one and the new owner resumes the tree. Every row
//! a host writes carries the epoch it holds and the database refuses rows with an older one (see
//! [`super::schema`]), so the old owner's writes stop at the take-over; it learns it lost the
//! tree from a refused write or a renewal that matched no row ([`LeaseLost`]).
//!
//! Expiry is measured on the database's clock (`now()`), so hosts' clocks do not matter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One tree's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The tree's root actor id.
    pub root: String,
    /// Host id of the owner.
    pub owner: String,
    /// Grows by one on every change of owner (1 for the host that started the tree).
    pub epoch: i64,
    /// Milliseconds until it expires (negative: expired that long ago), on the database's clock.
    pub expires_in_ms: i64,
    /// The tree ended (its root stopped or failed): nobody takes it over.
    pub ended: bool,
}

/// This host lost a tree: stop its copy at once, write nothing more for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseLost {
    /// The tree's root actor id.
    pub root: String,
    /// The epoch this host held.
    pub epoch: i64,
    /// Why, for the log: who owns it now, or why renewal failed.
    pub why: String,
}

/// A lease this host holds.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub epoch: i64,
    /// The lease row exists (the transaction that created it, or a take-over, committed).
    pub confirmed: bool,
    /// When the last successful renewal (or the take-over) started, on this host's clock.
    pub renewed: Instant,
}

/// Which tree each known actor belongs to, and the leases held: decides the root and epoch every
/// write carries.
#[derive(Default)]
pub(super) struct Routing {
    pub tree_of: HashMap<String, String>,
    pub held: HashMap<String, Held>,
}

/// Routing plus the channel that reports lost leases.
pub(super) struct Leases {
    pub routing: Mutex<Routing>,
    pub lost: tokio::sync::broadcast::Sender<LeaseLost>,
}

impl Leases {
    pub fn new() -> Self {
        Self {
            routing: Mutex::new(Routing::default()),
            lost: tokio::sync::broadcast::channel(256).0,
        }
    }

    pub fn routing(&self) -> std::sync::MutexGuard<'_, Routing> {
        self.routing.lock().expect("lease routing")
    }

    /// Forgets the lease of `root` if this host still holds it at `epoch` (or any epoch when
    /// `None`) and reports it lost. Writes for the tree are refused from now on.
    pub fn lose(&self, root: &str, epoch: Option<i64>, why: String) {
        let held = {
            let mut r = self.routing();
            match r.held.get(root) {
                Some(h) if epoch.is_none_or(|e| e == h.epoch) => {
                    let e = h.epoch;
                    r.held.remove(root);
                    Some(e)
                }
                _ => None,
            }
        };
        if let Some(epoch) = held {
            tracing::warn!(%root, epoch, %why, "lease lost: this host no longer owns the tree");
            let _ = self.lost.send(LeaseLost {
                root: root.to_string(),
                epoch,
                why,
            });
        }
    }
}

/// The default host id: the machine's hostname and this process's id (`web1-4711`).
pub fn default_host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "host".into());
    format!("{name}-{}", std::process::id())
}

/// Renews every confirmed lease this host holds, once; reports the ones that matched no row
/// (taken over) and, when the database cannot be reached, the ones not renewed for longer than
/// the lease.
pub(super) async fn renew_once(
    pool: &deadpool_postgres::Pool,
    leases: &Leases,
    host: &str,
    length: Duration,
) {
    let (roots, epochs): (Vec<String>, Vec<i64>) = leases
        .routing()
        .held
        .iter()
        .filter(|(_, h)| h.confirmed)
        .map(|(r, h)| (r.clone(), h.epoch))
        .unzip();
    if roots.is_empty() {
        return;
    }
    let started = Instant::now();
    let result = async {
        let client = pool.get().await.map_err(|e| e.to_string())?;
        let renewed = client
            .query(
                "UPDATE leases l SET expires_at = now() + $3 * interval '1 millisecond'
                   FROM unnest($1::text[], $2::int8[]) AS h(root, epoch)
                  WHERE l.root = h.root AND l.epoch = h.epoch AND l.owner = $4
                  RETURNING l.root",
                &[&roots, &epochs, &(length.as_millis() as f64), &host],
            )
            .await
            .map_err(|e| super::describe(&e))?;
        let renewed: std::collections::HashSet<String> =
            renewed.iter().map(|r| r.get::<_, String>(0)).collect();
        let mut lost = Vec::new();
        for (root, epoch) in roots.iter().zip(&epochs) {
            if !renewed.contains(root) {
                let now = client
                    .query_opt("SELECT owner, epoch FROM leases WHERE root = $1", &[root])
                    .await
                    .map_err(|e| super::describe(&e))?;
                let why = match now {
                    Some(row) => format!(
                        "taken over by host {} (epoch {})",
                        row.get::<_, String>(0),
                        row.get::<_, i64>(1)
                    ),
                    None => "its lease row is gone".to_string(),
                };
                lost.push((root.clone(), *epoch, why));
            }
        }
        Ok::<_, String>(lost)
    }
    .await;
    match result {
        Ok(lost) => {
            {
                let mut r = leases.routing();
                for (root, epoch) in roots.iter().zip(&epochs) {
                    if let Some(h) = r.held.get_mut(root)
                        && h.epoch == *epoch
                    {
                        h.renewed = started;
                    }
                }
            }
            for (root, epoch, why) in lost {
                leases.lose(&root, Some(epoch), why);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot renew leases");
            let overdue: Vec<(String, i64)> = leases
                .routing()
                .held
                .iter()
                .filter(|(_, h)| h.confirmed && h.renewed.elapsed() > length)
                .map(|(r, h)| (r.clone(), h.epoch))
                .collect();
            for (root, epoch) in overdue {
                leases.lose(
                    &root,
                    Some(epoch),
                    format!(
                        "its lease could not be renewed for longer than its length ({} ms): {e}",
                        length.as_millis()
                    ),
                );
            }
        }
    }
}
