//! `theater-bench`: measures the supervision host on real components and, in the same run, the
//! raw-wasmtime baselines the targets are expressed against. Prints a table and writes
//! `target/bench/results.json` (one record per figure: name, unit, value, p50, p99, n).
//!
//! Run with `just bench` (release build). `--quick` shrinks every N for a smoke run.

mod concurrent;
mod failover;
mod http;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use theater_bench::rss_kib;
use theater_supervisor::chain::Chain;
use theater_supervisor::metrics::{Op, OpTimings};
use theater_supervisor::store::{Durability, SqliteStore, Storage};
use theater_supervisor::{ActorSystem, Allocator, SystemConfig, engine_config};
use wasmtime::component::{Component, ComponentExportIndex, Linker};
use wasmtime::{Engine, Store};

mod channels;

#[derive(Parser, Debug)]
#[command(about = "Benchmarks of theater-supervisor against raw wasmtime")]
struct Args {
    /// Small N everywhere (a smoke run, figures not meaningful).
    #[arg(long)]
    quick: bool,
    /// Skip the 100,000-children scale run.
    #[arg(long)]
    skip_100k: bool,
    /// Where results.json goes.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Only the HTTP figures (supervised http-server vs plain wasmtime-wasi-http).
    #[arg(long)]
    only_http: bool,
    /// Only spawn without and with the event stores, and the concurrent parents.
    #[arg(long)]
    only_store: bool,
}

/// One printed and recorded figure.
#[derive(Serialize, Debug, Clone)]
struct Figure {
    name: String,
    unit: String,
    value: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    n: usize,
    target: Option<String>,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

/// Latency figure in µs from nanosecond samples.
fn latency(name: &str, mut ns: Vec<u64>, target: Option<&str>) -> Figure {
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64;
    Figure {
        name: name.into(),
        unit: "µs".into(),
        value: mean / 1e3,
        p50: Some(pct(&ns, 0.5) / 1e3),
        p99: Some(pct(&ns, 0.99) / 1e3),
        n: ns.len(),
        target: target.map(str::to_string),
    }
}

fn scalar(name: &str, unit: &str, value: f64, n: usize, target: Option<&str>) -> Figure {
    Figure {
        name: name.into(),
        unit: unit.into(),
        value,
        p50: None,
        p99: None,
        n,
        target: target.map(str::to_string),
    }
}

fn progress(msg: &str) {
    eprintln!("==> {msg}");
}

/// Every live instance costs a few memory mappings (its pooled stack with a guard page, its
/// linear memory slot), so 100,000 instances need more than Linux's default 65,530
/// (`vm.max_map_count`). Raise it when allowed (root), else say what limits the run.
fn ensure_map_count(want: u64) -> Result<()> {
    let path = "/proc/sys/vm/max_map_count";
    let now: u64 = std::fs::read_to_string(path)?.trim().parse()?;
    if now >= want {
        return Ok(());
    }
    std::fs::write(path, want.to_string()).with_context(|| {
        format!("vm.max_map_count is {now}; 100,000 instances need about {want} (run `sysctl -w vm.max_map_count={want}` as root)")
    })?;
    progress(&format!("raised vm.max_map_count from {now} to {want}"));
    Ok(())
}

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(root: &Path) -> Result<Self> {
        let dir = root.join("target/bench/fixture");
        std::fs::create_dir_all(&dir)?;
        let actors = root.join("target/actors");
        for name in ["minimal", "bench-parent"] {
            let c = actors.join(format!("{name}.wasm"));
            if !c.exists() {
                bail!("{} is missing: run `just guests` first", c.display());
            }
        }
        let manifest = |name: &str, comp: &Path, sup: bool| {
            let mut t = format!(
                "name = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"runtime\"\n[[handler]]\ntype = \"message-server\"\n",
                comp.display()
            );
            if sup {
                t.push_str("[[handler]]\ntype = \"supervisor\"\nmax_children = 200000\n");
            }
            t
        };
        std::fs::write(
            dir.join("bench-parent.toml"),
            manifest("bench-parent", &actors.join("bench-parent.wasm"), true),
        )?;
        std::fs::write(
            dir.join("minimal.toml"),
            manifest("minimal", &actors.join("minimal.wasm"), false),
        )?;
        Ok(Self { dir })
    }

    /// A copy of the minimal component with a custom section that makes its bytes (and hash)
    /// new, plus a manifest for it: a component this host has never seen.
    fn unseen_minimal(&self, root: &Path, tag: &str) -> Result<PathBuf> {
        let mut bytes = std::fs::read(root.join("target/actors/minimal.wasm"))?;
        // Custom section (id 0): name length + name + payload.
        let name = b"bench-unique";
        let payload = format!("{tag}-{:?}", Instant::now());
        let size = 1 + name.len() + payload.len();
        assert!(size < 128);
        bytes.extend([0u8, size as u8, name.len() as u8]);
        bytes.extend(name);
        bytes.extend(payload.as_bytes());
        let comp = self.dir.join(format!("unseen-{tag}.wasm"));
        std::fs::write(&comp, bytes)?;
        let m = self.dir.join(format!("unseen-{tag}.toml"));
        std::fs::write(
            &m,
            format!(
                "name = \"unseen\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n",
                comp.display()
            ),
        )?;
        Ok(m)
    }
}

/// A system with timings on, rooted at a bench-parent.
struct Bench {
    system: ActorSystem,
    root: String,
    timings: Arc<OpTimings>,
}

impl Bench {
    async fn start(fx: &Fixture, allocator: Allocator, cache_dir: Option<PathBuf>) -> Result<Self> {
        Self::start_with(fx, allocator, cache_dir, None).await
    }

    async fn start_with(
        fx: &Fixture,
        allocator: Allocator,
        cache_dir: Option<PathBuf>,
        storage: Option<Arc<dyn Storage>>,
    ) -> Result<Self> {
        let timings = Arc::new(OpTimings::default());
        let system = ActorSystem::new(SystemConfig {
            timings: Some(timings.clone()),
            allocator,
            cache_dir,
            storage,
            call_timeout: Duration::from_secs(3600),
            inherit_stdio: false,
            max_actors: 1_000_000,
            ..SystemConfig::default()
        })?;
        let root = system.start_root(fx.dir.join("bench-parent.toml")).await?;
        Ok(Self {
            system,
            root,
            timings,
        })
    }

    async fn cmd(&self, msg: &str) -> Result<String> {
        self.cmd_to(&self.root, msg).await
    }

    async fn cmd_to(&self, id: &str, msg: &str) -> Result<String> {
        let r = self.system.request(id, msg.as_bytes().to_vec()).await?;
        let r = String::from_utf8_lossy(&r).into_owned();
        if !r.starts_with("ok") {
            bail!("`{msg}` failed: {r}");
        }
        Ok(r)
    }
}

fn pooled(instances: u32) -> Allocator {
    Allocator::Pooling {
        max_instances: instances,
        max_memory_bytes: 16 << 20,
        max_concurrent_calls: 1_000,
    }
}

/// Raw wasmtime: the same engine configuration, `InstancePre` of the same component, no host.
struct Raw {
    engine: Engine,
    pre: wasmtime::component::InstancePre<()>,
    init: ComponentExportIndex,
    request: ComponentExportIndex,
}

type InitFn = wasmtime::component::TypedFunc<
    (Option<Vec<u8>>, (String,)),
    (Result<(Option<Vec<u8>>,), String>,),
>;
type RequestFn = wasmtime::component::TypedFunc<
    (Option<Vec<u8>>, (String, Vec<u8>)),
    (Result<(Option<Vec<u8>>, (Option<Vec<u8>>,)), String>,),
>;

impl Raw {
    fn new(component_path: &Path, allocator: &Allocator) -> wasmtime::Result<Self> {
        let engine = Engine::new(&engine_config(allocator, None)?)?;
        let component = Component::from_file(&engine, component_path)?;
        let mut linker: Linker<()> = Linker::new(&engine);
        linker.define_unknown_imports_as_traps(&component)?;
        let pre = linker.instantiate_pre(&component)?;
        let actor = component
            .get_export_index(None, "theater:simple/actor")
            .ok_or_else(|| wasmtime::format_err!("no actor export"))?;
        let init = component
            .get_export_index(Some(&actor), "init")
            .ok_or_else(|| wasmtime::format_err!("no init"))?;
        let client = component
            .get_export_index(None, "theater:simple/message-server-client")
            .ok_or_else(|| wasmtime::format_err!("no client export"))?;
        let request = component
            .get_export_index(Some(&client), "handle-request")
            .ok_or_else(|| wasmtime::format_err!("no handle-request"))?;
        Ok(Self {
            engine,
            pre,
            init,
            request,
        })
    }

    fn store(&self) -> Store<()> {
        let mut store = Store::new(&self.engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }

    /// Instantiate + init, keeping every instance alive (like live children).
    async fn spawn_n(&self, n: usize) -> wasmtime::Result<Vec<u64>> {
        let mut keep = Vec::with_capacity(n);
        let mut ns = Vec::with_capacity(n);
        for i in 0..n {
            let t0 = Instant::now();
            let mut store = self.store();
            let instance = self.pre.instantiate_async(&mut store).await?;
            let init: InitFn = instance.get_typed_func(&mut store, self.init)?;
            let (r,) = init
                .call_async(&mut store, (None, (format!("raw-{i}"),)))
                .await?;
            r.map_err(wasmtime::Error::msg)?;
            ns.push(t0.elapsed().as_nanos() as u64);
            keep.push(store);
        }
        Ok(ns)
    }

    /// handle-request calls on one instance.
    async fn calls(&self, n: usize) -> wasmtime::Result<Vec<u64>> {
        let mut store = self.store();
        let instance = self.pre.instantiate_async(&mut store).await?;
        let mut ns = Vec::with_capacity(n);
        let mut state = None;
        let f: RequestFn = instance.get_typed_func(&mut store, self.request)?;
        for _ in 0..n {
            let t0 = Instant::now();
            let (r,) = f
                .call_async(&mut store, (state.take(), ("req".into(), b"ping".to_vec())))
                .await?;
            let (s, _) = r.map_err(wasmtime::Error::msg)?;
            state = s;
            ns.push(t0.elapsed().as_nanos() as u64);
        }
        Ok(ns)
    }
}

/// wasmtime's error type is not anyhow's: convert at the boundary.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

fn p50(f: &Figure) -> f64 {
    f.p50.unwrap_or(f.value)
}

async fn scale_run(fx: &Fixture, n: u32, figs: &mut Vec<Figure>) -> Result<f64> {
    progress(&format!("scale: {n} live children under one parent"));
    let b = Bench::start(fx, pooled(n + 100), None).await?;
    // Warm the component cache so the first spawn's compile is not counted.
    b.cmd("spawn-n 1 minimal.toml").await?;
    b.cmd("stop-all").await?;
    b.timings.take(Op::Spawn);
    b.timings.take(Op::StopChild);
    let rss0 = rss_kib();
    let t0 = Instant::now();
    b.cmd(&format!("spawn-n {n} minimal.toml")).await?;
    let spawn_all = t0.elapsed();
    let rss1 = rss_kib();
    let per_spawn = latency(
        &format!("scale {n}: per-spawn"),
        b.timings.take(Op::Spawn),
        None,
    );
    let per_child = (rss1.saturating_sub(rss0)) as f64 / n as f64;
    let t1 = Instant::now();
    b.cmd("stop-all").await?;
    let stop_all = t1.elapsed();
    b.system.shutdown().await;
    let p = p50(&per_spawn);
    figs.push(per_spawn);
    figs.push(scalar(
        &format!("scale {n}: time to spawn all"),
        "ms",
        spawn_all.as_secs_f64() * 1e3,
        n as usize,
        None,
    ));
    figs.push(scalar(
        &format!("scale {n}: RSS per live idle child"),
        "KiB",
        per_child,
        n as usize,
        (n >= 10_000).then_some("≤ 64 KiB"),
    ));
    figs.push(scalar(
        &format!("scale {n}: time to stop all"),
        "ms",
        stop_all.as_secs_f64() * 1e3,
        n as usize,
        None,
    ));
    Ok(p)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let root = std::env::current_dir()?;
    let fx = Fixture::new(&root)?;
    let q = |full: usize, quick: usize| if args.quick { quick } else { full };
    let mut figs: Vec<Figure> = Vec::new();
    let n_spawn = q(1000, 50);
    if args.only_http {
        http::run(&root, &fx.dir, args.quick, &mut figs).await?;
        return report(&figs, &args.out);
    }
    let map_count_ok = match ensure_map_count(1 << 20) {
        Ok(()) => true,
        Err(e) => {
            progress(&format!("warning: {e:#}"));
            false
        }
    };

    // --- spawn vs raw instantiate + init -------------------------------------------------
    progress(&format!(
        "raw baseline: InstancePre::instantiate_async + init, {n_spawn} instances"
    ));
    let raw = Raw::new(&root.join("target/actors/minimal.wasm"), &pooled(2_000)).map_err(wt)?;
    raw.spawn_n(50).await.map_err(wt)?; // warm-up
    let raw_spawn = latency(
        "raw wasmtime instantiate + init",
        raw.spawn_n(n_spawn).await.map_err(wt)?,
        None,
    );
    progress(&format!(
        "spawn: a parent spawns {n_spawn} minimal children"
    ));
    let b = Bench::start(&fx, pooled(2_000), None).await?;
    b.cmd("spawn-n 50 minimal.toml").await?; // warm-up (compiles once)
    b.cmd("stop-all").await?;
    b.timings.take(Op::Spawn);
    b.timings.take(Op::StopChild);
    let t0 = Instant::now();
    b.cmd(&format!("spawn-n {n_spawn} minimal.toml")).await?;
    let wall = t0.elapsed();
    let spawn = latency(
        "spawn (supervised, init included)",
        b.timings.take(Op::Spawn),
        Some("p50 ≤ 50 µs, ≤ 3× raw"),
    );
    let ratio = p50(&spawn) / p50(&raw_spawn);
    let spawn_p50 = p50(&spawn);
    figs.push(spawn);
    figs.push(raw_spawn);
    figs.push(scalar(
        "spawn ratio supervised / raw (p50)",
        "×",
        ratio,
        n_spawn,
        Some("≤ 3×"),
    ));
    figs.push(scalar(
        "spawns per second (one parent)",
        "1/s",
        n_spawn as f64 / wall.as_secs_f64(),
        n_spawn,
        None,
    ));

    progress("spawn with the durable event store (a commit before each spawn returns)");
    let data = root.join("target/bench/store");
    let _ = std::fs::remove_dir_all(&data);
    let store = Arc::new(SqliteStore::open(&data, Durability::Process)?);
    let sb = Bench::start_with(
        &fx,
        pooled(2_000),
        None,
        Some(store.clone() as Arc<dyn Storage>),
    )
    .await?;
    sb.cmd("spawn-n 50 minimal.toml").await?;
    sb.cmd("stop-all").await?;
    sb.timings.take(Op::Spawn);
    let n_stored = n_spawn.min(1_000);
    sb.cmd(&format!("spawn-n {n_stored} minimal.toml")).await?;
    let stored = latency(
        "spawn with the event store (durable on return)",
        sb.timings.take(Op::Spawn),
        None,
    );
    figs.push(scalar(
        "spawn ratio with store / without (p50)",
        "×",
        p50(&stored) / spawn_p50,
        n_stored,
        None,
    ));
    figs.push(stored);
    sb.cmd("stop-all").await?;
    drop(sb);
    store.close();

    // The same on a PostgreSQL store (`just bench` starts a private cluster).
    match std::env::var("THEATER_BENCH_PG_URL") {
        Ok(url) if !url.is_empty() => {
            progress("spawn with the PostgreSQL event store (a commit before each spawn returns)");
            let url = format!("{url}?schema=bench_{}", std::process::id());
            let pg = Arc::new(theater_supervisor::store::PostgresStore::open(
                &url,
                theater_supervisor::store::PostgresOptions::default(),
            )?);
            let pb = Bench::start_with(
                &fx,
                pooled(2_000),
                None,
                Some(pg.clone() as Arc<dyn Storage>),
            )
            .await?;
            pb.cmd("spawn-n 50 minimal.toml").await?;
            pb.cmd("stop-all").await?;
            pb.timings.take(Op::Spawn);
            let commits = pg.commits();
            pb.cmd(&format!("spawn-n {n_stored} minimal.toml")).await?;
            figs.push(scalar(
                "PostgreSQL transactions per spawn (one parent)",
                "",
                (pg.commits() - commits) as f64 / n_stored as f64,
                n_stored,
                None,
            ));
            let on_pg = latency(
                "spawn with the PostgreSQL store (durable on return)",
                pb.timings.take(Op::Spawn),
                None,
            );
            figs.push(scalar(
                "spawn ratio with PostgreSQL store / without (p50)",
                "×",
                p50(&on_pg) / spawn_p50,
                n_stored,
                None,
            ));
            figs.push(on_pg);
            pb.cmd("stop-all").await?;
            drop(pb);
            pg.close();
        }
        _ => println!(
            "skipped: spawn with the PostgreSQL store (THEATER_BENCH_PG_URL is not set; `just bench` starts a cluster)"
        ),
    }

    // --- concurrent parents: group commit --------------------------------------------
    let total = q(1_600, 64);
    let free = concurrent::spawns(&fx, None, "no store", total, &mut figs).await?;
    let data = root.join("target/bench/store-concurrent");
    let _ = std::fs::remove_dir_all(&data);
    let sqlite = Arc::new(SqliteStore::open(&data, Durability::Process)?);
    let on_sqlite = concurrent::spawns(
        &fx,
        Some(sqlite.clone() as Arc<dyn Storage>),
        "SQLite store",
        total,
        &mut figs,
    )
    .await?;
    sqlite.close();
    figs.push(scalar(
        "per-spawn cost, 16 parents: SQLite store / no store",
        "×",
        on_sqlite[2] / free[2],
        total,
        None,
    ));
    if let Ok(url) = std::env::var("THEATER_BENCH_PG_URL")
        && !url.is_empty()
    {
        let url = format!("{url}?schema=bench_conc_{}", std::process::id());
        let pg = Arc::new(theater_supervisor::store::PostgresStore::open(
            &url,
            theater_supervisor::store::PostgresOptions::default(),
        )?);
        let on_pg = concurrent::spawns(
            &fx,
            Some(pg.clone() as Arc<dyn Storage>),
            "PostgreSQL store",
            total,
            &mut figs,
        )
        .await?;
        pg.close();
        for (i, p) in [1, 4, 16].iter().enumerate() {
            figs.push(scalar(
                &format!("per-spawn cost, {p} parents: PostgreSQL store / no store"),
                "×",
                on_pg[i] / free[i],
                total,
                if *p == 16 { Some("≤ 2×") } else { None },
            ));
        }
    }
    // --- failover between two hosts on PostgreSQL --------------------------------------
    if let Ok(url) = std::env::var("THEATER_BENCH_PG_URL")
        && !url.is_empty()
    {
        let (root, rounds) = (root.clone(), q(3, 1));
        figs = tokio::task::spawn_blocking(move || {
            failover::run(&root, &url, rounds, &mut figs).map(|()| figs)
        })
        .await??;
    } else {
        println!(
            "skipped: failover (THEATER_BENCH_PG_URL is not set; `just bench` starts a cluster)"
        );
    }
    if args.only_store {
        return report(&figs, &args.out);
    }

    // --- restart and stop --------------------------------------------------------------
    progress("restart-child and stop-child");
    b.cmd(&format!("restart-n {} ", q(1000, 50))).await?;
    let restart = latency(
        "restart-child",
        b.timings.take(Op::RestartChild),
        Some("p50 ≤ 2× spawn p50"),
    );
    let restart_ratio = p50(&restart) / spawn_p50;
    figs.push(restart);
    figs.push(scalar(
        "restart ratio restart / spawn (p50)",
        "×",
        restart_ratio,
        0,
        Some("≤ 2×"),
    ));
    b.cmd(&format!("stop-n {}", q(1000, 50))).await?;
    figs.push(latency("stop-child", b.timings.take(Op::StopChild), None));
    b.cmd("stop-all").await?;

    // --- crash to callback -------------------------------------------------------------
    let n_crash = q(1000, 20);
    progress(&format!("crash-to-callback: {n_crash} crashes"));
    b.timings.take(Op::CrashToCallback);
    b.cmd(&format!("crash-n {n_crash} minimal.toml")).await?;
    loop {
        let left = b.cmd("crashes-left").await?;
        if left == "ok 0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    figs.push(latency(
        "crash-to-callback",
        b.timings.take(Op::CrashToCallback),
        Some("p50 ≤ 100 µs"),
    ));
    b.cmd("stop-all").await?;
    b.timings.take(Op::RestartChild);

    // --- request round trip ------------------------------------------------------------
    let n_req = q(10_000, 200);
    progress(&format!(
        "request round trip: {n_req} requests parent -> child -> parent"
    ));
    b.cmd("spawn-n 1 minimal.toml").await?;
    let kid = b.system.actor(&b.root).context("root")?.children[0].clone();
    b.cmd(&format!("request-n 100 {kid}")).await?;
    b.timings.take(Op::Request);
    b.cmd(&format!("request-n {n_req} {kid}")).await?;
    let req = latency(
        "request round trip (supervised)",
        b.timings.take(Op::Request),
        Some("≤ 5× raw call"),
    );
    let raw_call = latency(
        "raw component call (handle-request)",
        raw.calls(n_req).await.map_err(wt)?,
        None,
    );
    let req_ratio = p50(&req) / p50(&raw_call);
    let req_us = (req.value, p50(&req));
    figs.push(req);
    figs.push(raw_call);
    figs.push(scalar(
        "request ratio supervised / raw call (p50)",
        "×",
        req_ratio,
        n_req,
        Some("≤ 5×"),
    ));
    figs.extend(
        channels::figures(&b, &fx.dir, &root, req_us, q(20_000, 200), q(5_000, 100)).await?,
    );

    // --- event chain -------------------------------------------------------------------
    progress("event chain: recording cost and get-child-events on a 10,000-event chain");
    let mut chain = Chain::default();
    let n_ev = q(100_000, 1000);
    let t0 = Instant::now();
    for i in 0..n_ev {
        let data = theater_supervisor::chain::EventData::new()
            .str("function", "handle-send")
            .u64("n", i as u64)
            .finish();
        chain.append("call.start", data, Some("calling handle-send".into()));
    }
    figs.push(scalar(
        "record one event (data + SHA-256 + append)",
        "ns",
        t0.elapsed().as_nanos() as f64 / n_ev as f64,
        n_ev,
        None,
    ));
    // A fresh child whose chain grows to ~10,000 events (two per handled message).
    b.cmd("spawn-n 1 minimal.toml").await?;
    let long = b.system.actor(&b.root).context("root")?.children[1].clone();
    for _ in 0..q(4_998, 100) {
        b.cmd(&format!("send {long} x")).await?;
    }
    // Wait for the last message to be handled.
    while b.system.chain(&long).map(|c| c.len()).unwrap_or(0) < q(10_000, 204) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = b.system.chain(&long).map(|c| c.len()).unwrap_or(0);
    b.timings.take(Op::GetChildEvents);
    for _ in 0..20 {
        b.cmd(&format!("events {long}")).await?;
    }
    figs.push(latency(
        &format!("get-child-events ({events}-event chain)"),
        b.timings.take(Op::GetChildEvents),
        None,
    ));
    drop(b);

    // --- cold start ----------------------------------------------------------------------
    progress("cold start: a never-seen component, then a host restart with a warm disk cache");
    let cache = root.join("target/bench/cache");
    let _ = std::fs::remove_dir_all(&cache);
    let unseen = fx.unseen_minimal(&root, "cold")?;
    let b = Bench::start(&fx, pooled(1000), Some(cache.clone())).await?;
    b.timings.take(Op::Spawn);
    b.cmd(&format!("spawn-n 1 {}", unseen.display())).await?;
    figs.push(latency(
        "cold start: first spawn, never-seen component",
        b.timings.take(Op::Spawn),
        None,
    ));
    drop(b);
    // The disk cache writes in the background: give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = Bench::start(&fx, pooled(1000), Some(cache.clone())).await?;
    b.timings.take(Op::Spawn);
    b.cmd(&format!("spawn-n 1 {}", unseen.display())).await?;
    figs.push(latency(
        "cold start: first spawn after host restart, warm disk cache",
        b.timings.take(Op::Spawn),
        Some("≤ 5 ms"),
    ));
    drop(b);

    // --- scale -----------------------------------------------------------------------------
    let mut per_spawn = Vec::new();
    for n in [q(100, 20), q(1000, 50), q(10_000, 200)] {
        per_spawn.push(scale_run(&fx, n as u32, &mut figs).await?);
    }
    figs.push(scalar(
        "per-spawn p50 at 10,000 / at 100",
        "×",
        per_spawn[2] / per_spawn[0],
        0,
        Some("≤ 1.5×"),
    ));
    if !args.skip_100k && !args.quick {
        if map_count_ok {
            scale_run(&fx, 100_000, &mut figs).await?;
        } else {
            progress("skipping 100,000 children: vm.max_map_count is too low (see above)");
        }
    }
    progress("scale: 10,000 children as a three-level tree (10 parents × 1,000)");
    {
        let b = Bench::start(&fx, pooled(11_000), None).await?;
        let (mids, leaves) = (10, q(1000, 20));
        let rss0 = rss_kib();
        let t0 = Instant::now();
        b.cmd(&format!("spawn-n {mids} bench-parent.toml")).await?;
        for mid in b.system.actor(&b.root).context("root")?.children {
            b.cmd_to(&mid, &format!("spawn-n {leaves} minimal.toml"))
                .await?;
        }
        let spawn_all = t0.elapsed();
        let total = mids * leaves + mids;
        let per_child = (rss_kib().saturating_sub(rss0)) as f64 / total as f64;
        let t1 = Instant::now();
        b.cmd("stop-all").await?;
        figs.push(scalar(
            "tree 3 levels: time to spawn all",
            "ms",
            spawn_all.as_secs_f64() * 1e3,
            total,
            None,
        ));
        figs.push(scalar(
            "tree 3 levels: RSS per live idle child",
            "KiB",
            per_child,
            total,
            None,
        ));
        figs.push(scalar(
            "tree 3 levels: time to stop all",
            "ms",
            t1.elapsed().as_secs_f64() * 1e3,
            total,
            None,
        ));
    }

    // --- HTTP ----------------------------------------------------------------------------
    http::run(&root, &fx.dir, args.quick, &mut figs).await?;

    report(&figs, &args.out)
}

/// Prints the table and writes `results.json`.
fn report(figs: &[Figure], out: &Path) -> Result<()> {
    println!(
        "\n{:<58} {:>12} {:>10} {:>10} {:>8}  target",
        "figure", "value", "p50", "p99", "n"
    );
    for f in figs {
        let fmt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        println!(
            "{:<58} {:>8.1} {:<3} {:>10} {:>10} {:>8}  {}",
            f.name,
            f.value,
            f.unit,
            fmt(f.p50),
            fmt(f.p99),
            f.n,
            f.target.as_deref().unwrap_or("")
        );
    }
    std::fs::create_dir_all(out)?;
    let path = out.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(figs)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
