//! Spawns per second with 1, 4 and 16 parents spawning at once, without a store and with each
//! durable store: concurrent spawns share the store's commits (group commit), so the per-spawn
//! cost on a store should approach the no-store figure as concurrency rises.

use super::{Bench, Figure, Fixture, pooled, progress, scalar};
use anyhow::{Result, bail};
use std::sync::Arc;
use std::time::Instant;
use theater_bench::{postgres_cpu_us, self_cpu_us};
use theater_supervisor::store::Storage;
use tokio::task::JoinSet;

/// Parent counts measured.
const PARENTS: [usize; 3] = [1, 4, 16];

/// Per-spawn wall time (µs) for each entry of [`PARENTS`], `total` spawns split over the
/// parents, on `storage` (`label` names it); pushes a spawns/s figure per parent count.
pub async fn spawns(
    fx: &Fixture,
    storage: Option<Arc<dyn Storage>>,
    label: &str,
    total: usize,
    figs: &mut Vec<Figure>,
) -> Result<Vec<f64>> {
    let b = Arc::new(Bench::start_with(fx, pooled(4_000), None, storage).await?);
    let mut per_spawn = Vec::new();
    for p in PARENTS {
        progress(&format!(
            "concurrent spawns ({label}): {p} parents spawning {total} children together"
        ));
        b.cmd(&format!("spawn-n {p} bench-parent.toml")).await?;
        let parents = b
            .system
            .actor(&b.root)
            .map(|a| a.children)
            .unwrap_or_default();
        if parents.len() != p {
            bail!("expected {p} parents, the root has {}", parents.len());
        }
        // Warm-up: one spawn each (compiles nothing new, fills the pool's slots).
        for id in &parents {
            b.cmd_to(id, "spawn-n 1 minimal.toml").await?;
        }
        let each = total / p;
        let (host0, pg0) = (self_cpu_us(), postgres_cpu_us());
        let t0 = Instant::now();
        let mut set = JoinSet::new();
        for id in parents {
            let b = b.clone();
            set.spawn(async move { b.cmd_to(&id, &format!("spawn-n {each} minimal.toml")).await });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        let wall = t0.elapsed();
        let n = each * p;
        let (host_cpu, pg_cpu) = (self_cpu_us() - host0, postgres_cpu_us() - pg0);
        figs.push(scalar(
            &format!("spawns per second, {p} parents at once ({label})"),
            "1/s",
            n as f64 / wall.as_secs_f64(),
            n,
            None,
        ));
        if p == 16 {
            // Host and a local server share this machine's cores: their CPU per spawn over
            // the cores is what the wall time per spawn cannot go below.
            figs.push(scalar(
                &format!("CPU per spawn, 16 parents ({label}): this host process"),
                "µs",
                host_cpu as f64 / n as f64,
                n,
                None,
            ));
            if pg_cpu > 0 {
                figs.push(scalar(
                    &format!("CPU per spawn, 16 parents ({label}): local PostgreSQL server"),
                    "µs",
                    pg_cpu as f64 / n as f64,
                    n,
                    None,
                ));
            }
        }
        per_spawn.push(wall.as_secs_f64() * 1e6 / n as f64);
        b.cmd("stop-all").await?;
    }
    Ok(per_spawn)
}
