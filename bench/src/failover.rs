//! Failover on a shared PostgreSQL store (CONTRACT §9): two real CLI processes, an owner running
//! a ticking tree and a standby; SIGKILL the owner and time until the tree ticks again on the
//! standby, with the default 5 s lease. The target is lease + 1 s.

use super::{Figure, progress, scalar};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The default lease of `run --store postgres://...` (CONTRACT §9).
const LEASE_MS: u64 = 5_000;

/// Kill-to-tick times (ms) for `rounds` failovers, each on a fresh schema of `url`; pushes
/// the median and the worst as figures. Skipped (with a line saying why) without the CLI's
/// release build.
pub fn run(root: &Path, url: &str, rounds: usize, figs: &mut Vec<Figure>) -> Result<()> {
    let cli = root.join("target/release/theater-supervisor");
    if !cli.exists() {
        println!(
            "skipped: failover ({} is missing; `just bench` builds it)",
            cli.display()
        );
        return Ok(());
    }
    let dir = root.join("target/bench/failover");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let actors = root.join("target/actors");
    let manifest = |name: &str, handlers: &[&str], top: &str| -> Result<PathBuf> {
        let mut t = format!(
            "name = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"{}\"\n{top}\n[[handler]]\ntype = \"runtime\"\n",
            actors.join(format!("{name}.wasm")).display()
        );
        for h in handlers {
            t.push_str(&format!("[[handler]]\ntype = \"{h}\"\n"));
        }
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, t)?;
        Ok(path)
    };
    manifest("counter", &["message-server"], "")?;
    std::fs::write(dir.join("steady.state"), "fresh counter.toml 3")?;
    let tree = manifest(
        "steady",
        &["supervisor", "message-server"],
        "init_state = \"steady.state\"",
    )?;
    let mut times = Vec::new();
    for round in 0..rounds {
        progress(&format!(
            "failover {}/{rounds}: SIGKILL the owner, time until the tree ticks on the standby",
            round + 1
        ));
        let url = format!("{url}?schema=bench_failover_{}_{round}", std::process::id());
        times.push(once(&cli, &dir, &url, &tree, round)?);
    }
    times.sort_by(f64::total_cmp);
    let target = format!("≤ lease + 1 s ({} ms)", LEASE_MS + 1_000);
    figs.push(scalar(
        "failover, SIGKILL of the owner to the tree ticking on the standby (median, 5 s lease)",
        "ms",
        times[times.len() / 2],
        times.len(),
        Some(&target),
    ));
    figs.push(scalar(
        "failover, the slowest round",
        "ms",
        *times.last().expect("at least one round"),
        times.len(),
        Some(&target),
    ));
    Ok(())
}

/// A CLI process with its output in files; killed when dropped.
struct Host {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Host {
    fn start(cli: &Path, dir: &Path, name: &str, args: &[&str]) -> Result<Self> {
        let (out, err) = (
            dir.join(format!("{name}.out")),
            dir.join(format!("{name}.err")),
        );
        let child = Command::new(cli)
            .args(args)
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", cli.display()))?;
        Ok(Self { child, out, err })
    }

    /// The actors' log messages so far (`[name id] message`).
    fn messages(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("] ").map(|(_, m)| m.to_string()))
            .collect()
    }

    /// Polls until `pred` holds for the messages (60 s at most).
    fn wait(&mut self, what: &str, pred: impl Fn(&[String]) -> bool) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if pred(&self.messages()) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the host exited ({status}) while waiting for {what}: {}",
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("timed out waiting for {what}")
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()?
            .success();
        if !ok {
            bail!("kill -{sig} {} failed", self.child.id());
        }
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ticks(m: &[String]) -> usize {
    m.iter().filter(|l| l.starts_with("tick ")).count()
}

/// One failover: the owner runs the tree, the standby waits; returns kill-to-tick in ms.
fn once(cli: &Path, dir: &Path, url: &str, tree: &Path, round: usize) -> Result<f64> {
    let lease = LEASE_MS.to_string();
    let common = |id: String| {
        vec![
            "run".to_string(),
            "--store".into(),
            url.to_string(),
            "--host-id".into(),
            id,
            "--lease-ms".into(),
            lease.clone(),
        ]
    };
    let mut a_args = common(format!("bench-a-{round}"));
    a_args.push(tree.display().to_string());
    let mut b_args = common(format!("bench-b-{round}"));
    b_args.push("--standby".into());
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let b_args: Vec<&str> = b_args.iter().map(String::as_str).collect();
    let mut a = Host::start(cli, dir, &format!("owner-{round}"), &a_args)?;
    let mut b = Host::start(cli, dir, &format!("standby-{round}"), &b_args)?;
    a.wait("the tree ticking on the owner", |m| ticks(m) >= 20)?;
    a.signal("KILL")?;
    let killed = Instant::now();
    let _ = a.child.wait();
    b.wait("the tree resumed on the standby", |m| {
        m.iter().any(|l| l.starts_with("resumed at tick"))
    })?;
    let from = ticks(&b.messages());
    b.wait("a tick on the standby", |m| ticks(m) > from)?;
    let took = killed.elapsed();
    b.signal("INT")?;
    let start = Instant::now();
    while b.child.try_wait()?.is_none() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(took.as_secs_f64() * 1e3)
}
