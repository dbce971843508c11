//! `theater-soak` (`just soak`): spawn / crash / restart / stop cycles on a host with a durable
//! event store, printing the resident set size every batch. Fails when RSS at the end is more
//! than `--max-growth` percent above RSS after the first batch (a leak).

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use theater_bench::rss_kib;
use theater_supervisor::store::{Durability, SqliteStore, Storage};
use theater_supervisor::{ActorSystem, SystemConfig};

#[derive(Parser, Debug)]
#[command(about = "Soak test: spawn / crash / restart / stop cycles, RSS at intervals")]
struct Args {
    /// Cycles in total.
    #[arg(long, default_value_t = 100_000)]
    cycles: u32,
    /// Cycles per batch (RSS is printed after each).
    #[arg(long, default_value_t = 10_000)]
    every: u32,
    /// Largest allowed growth of RSS from the end of the first batch to the end, in percent.
    #[arg(long, default_value_t = 10.0)]
    max_growth: f64,
    /// Run without an event store (to compare cycle rates; the root's chain then grows in
    /// memory, so RSS grows by design and no leak check is made).
    #[arg(long)]
    no_store: bool,
    /// Working directory (manifests, event store).
    #[arg(long, default_value = "target/soak")]
    dir: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.every == 0 || args.cycles < args.every {
        bail!("--every must be between 1 and --cycles");
    }
    let actors = std::env::current_dir()?.join("target/actors");
    for name in ["minimal", "bench-parent"] {
        let c = actors.join(format!("{name}.wasm"));
        if !c.exists() {
            bail!("{} is missing: run `just guests` first", c.display());
        }
    }
    let data = args.dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&args.dir)?;
    let manifest = |name: &str, sup: bool| {
        let mut t = format!(
            "name = \"{name}\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n",
            actors.join(format!("{name}.wasm")).display()
        );
        if sup {
            t.push_str("[[handler]]\ntype = \"supervisor\"\nmax_children = 16\n");
        }
        t
    };
    std::fs::write(
        args.dir.join("bench-parent.toml"),
        manifest("bench-parent", true),
    )?;
    std::fs::write(args.dir.join("minimal.toml"), manifest("minimal", false))?;
    let store = Arc::new(SqliteStore::open(&data, Durability::Process)?);
    let system = ActorSystem::new(SystemConfig {
        storage: (!args.no_store).then(|| store.clone() as Arc<dyn Storage>),
        inherit_stdio: false,
        ..SystemConfig::default()
    })?;
    let root = system
        .start_root(args.dir.join("bench-parent.toml"))
        .await
        .context("starting the soak root")?;
    let ask = |msg: String| {
        let system = &system;
        let root = root.clone();
        async move {
            let r = system.request(&root, msg.into_bytes()).await?;
            Ok::<_, anyhow::Error>(String::from_utf8_lossy(&r).into_owned())
        }
    };
    eprintln!(
        "==> {} spawn / crash / restart / stop cycles, RSS every {} ({})",
        args.cycles,
        args.every,
        if args.no_store {
            "no event store".to_string()
        } else {
            format!("event store {}", store.path().display())
        }
    );
    println!(
        "{:>9}  {:>10}  {:>9}  {:>12}",
        "cycles", "RSS (KiB)", "seconds", "cycles/s"
    );
    let start = Instant::now();
    let mut first = None;
    let mut last = 0;
    let mut done = 0u32;
    while done < args.cycles {
        let n = args.every.min(args.cycles - done);
        let batch = Instant::now();
        let r = ask(format!("cycle-n {n} minimal.toml")).await?;
        if !r.starts_with("ok") {
            bail!("cycle-n failed: {r}");
        }
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let left = ask("cycles-left".into()).await?;
            if left == "ok 0" {
                break;
            }
            if batch.elapsed() > Duration::from_secs(600) {
                bail!("a batch of {n} cycles did not finish in 10 minutes ({left} left)");
            }
        }
        done += n;
        let rss = rss_kib();
        first.get_or_insert(rss);
        last = rss;
        println!(
            "{done:>9}  {rss:>10}  {:>9.1}  {:>12.0}",
            start.elapsed().as_secs_f64(),
            n as f64 / batch.elapsed().as_secs_f64()
        );
    }
    let count = ask("count".into()).await?;
    system.shutdown().await;
    drop(system);
    store.close();
    // Every stored chain is complete (from event 0 on) and verifies.
    let stored_actors = store.actors()?;
    let stored = stored_actors.len();
    let mut events = 0u64;
    for a in &stored_actors {
        let chain = store.events(&a.id, 0)?;
        theater_supervisor::chain::verify(&chain, None)
            .map_err(|e| anyhow::anyhow!("stored chain of {} does not verify: {e}", a.id))?;
        if chain
            .first()
            .is_none_or(|e| e.event_type != "lifecycle.start")
        {
            bail!(
                "stored chain of {} does not begin with lifecycle.start",
                a.id
            );
        }
        events += chain.len() as u64;
    }
    if stored != args.cycles as usize + 1 {
        bail!(
            "{stored} actors stored, expected {} (the root and one per cycle)",
            args.cycles + 1
        );
    }
    println!("every stored chain verifies: {stored} actors, {events} events");
    let first = first.unwrap_or(last);
    let growth = (last as f64 - first as f64) / first as f64 * 100.0;
    let db = std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "RSS after the first {}: {first} KiB; at the end: {last} KiB ({growth:+.1}%, limit +{}%)",
        args.every, args.max_growth
    );
    println!(
        "live children at the end: {}; actors stored: {stored}; event store {:.1} MiB",
        count.trim_start_matches("ok "),
        db as f64 / (1 << 20) as f64
    );
    println!(
        "cycle rate: {:.0} cycles/s overall",
        done as f64 / start.elapsed().as_secs_f64()
    );
    if args.no_store {
        println!("(no event store: RSS growth is expected, no leak check)");
        return Ok(());
    }
    if growth > args.max_growth {
        bail!("RSS grew {growth:.1}% (> {}%): a leak", args.max_growth);
    }
    println!("ok: no leak");
    Ok(())
}
