//! Helpers for the end-to-end tests: fixtures (manifests in a temporary directory pointing at the
//! guest components built by `just guests`) and a driver for the `supervisor-parent` test actor.

pub mod shell;

use std::path::{Path, PathBuf};
use std::time::Duration;
use theater_supervisor::{ActorId, ActorSystem, SystemConfig};

/// Field separator of the `supervisor-parent` request protocol (ASCII unit separator).
pub const SEP: char = '\u{1f}';

/// Repository root.
pub fn repo_root() -> PathBuf {
    // `cargo test` sets CARGO_MANIFEST_DIR at run time too; prefer it over the compile-time
    // value: with a `CARGO_TARGET_DIR` shared by two checkouts, cargo may reuse this library
    // compiled in the other checkout (same relative path, same sources), baking in its path.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent().expect("tests/ has a parent").to_path_buf()
}

/// Path of a built guest component, e.g. `component("child")`.
pub fn component(name: &str) -> PathBuf {
    let p = repo_root()
        .join("target/actors")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "guest component {} is missing: run `just guests` (or `just test`, which builds them) first",
        p.display()
    );
    p
}

/// A temporary directory of manifests.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// A fresh, empty directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write fixture");
        p
    }

    /// Writes a manifest for guest `component` with the given handler types (`runtime` is
    /// always added) and extra TOML lines for the supervisor handler.
    pub fn manifest(&self, rel: &str, component_name: &str, handlers: &[&str]) -> PathBuf {
        self.manifest_with(rel, component_name, handlers, "", "")
    }

    /// Like [`Fixture::manifest`] with extra top-level TOML and extra supervisor-handler TOML.
    pub fn manifest_with(
        &self,
        rel: &str,
        component_name: &str,
        handlers: &[&str],
        top: &str,
        supervisor_extra: &str,
    ) -> PathBuf {
        let text = manifest_text(
            rel,
            &component(component_name),
            handlers,
            top,
            supervisor_extra,
        );
        self.write(rel, text)
    }
}

/// Manifest TOML for a component at an absolute path.
pub fn manifest_text(
    name: &str,
    component: &Path,
    handlers: &[&str],
    top: &str,
    supervisor_extra: &str,
) -> String {
    let name = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    let mut t = format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"{}\"\n{top}\n[[handler]]\ntype = \"runtime\"\n",
        component.display()
    );
    for h in handlers {
        t.push_str(&format!("[[handler]]\ntype = \"{h}\"\n"));
        if *h == "supervisor" {
            t.push_str(supervisor_extra);
            t.push('\n');
        }
    }
    t
}

/// A running system whose root is a `supervisor-parent` actor.
pub struct Harness {
    /// The system (shared, so tasks of a test can wait on requests to it).
    pub system: std::sync::Arc<ActorSystem>,
    /// The root parent's id.
    pub root: ActorId,
    /// The fixture directory (kept alive for the test).
    pub fx: Fixture,
}

impl Harness {
    /// Starts a `supervisor-parent` root at `parent.toml` in a fresh fixture, with the usual
    /// child manifests next to it: child, counter, trapper, init-fail, quitter, looper,
    /// spawner (spawns child + counter in init), supervisor-parent as `sub-parent.toml`, peer
    /// (channels and outstanding requests).
    pub async fn start() -> Self {
        Self::start_with(SystemConfig::default(), "").await
    }

    /// Same, with a system config and extra supervisor-handler TOML for the root.
    pub async fn start_with(config: SystemConfig, root_supervisor_extra: &str) -> Self {
        let fx = Fixture::new();
        let all = ["supervisor", "message-server"];
        let msg = ["message-server"];
        fx.manifest_with(
            "parent.toml",
            "supervisor-parent",
            &all,
            "",
            root_supervisor_extra,
        );
        fx.manifest("sub-parent.toml", "supervisor-parent", &all);
        fx.manifest("child.toml", "child", &msg);
        fx.manifest("counter.toml", "counter", &msg);
        fx.manifest("trapper.toml", "trapper", &msg);
        fx.manifest("init-fail.toml", "init-fail", &[]);
        fx.manifest("quitter.toml", "quitter", &msg);
        fx.manifest("looper.toml", "looper", &msg);
        fx.manifest("spawner.toml", "spawner", &all);
        fx.manifest("plain-parent.toml", "plain-parent", &all);
        fx.manifest("peer.toml", "peer", &msg);
        let system = std::sync::Arc::new(ActorSystem::new(config).expect("engine"));
        let root = system
            .start_root(fx.dir().join("parent.toml"))
            .await
            .expect("root parent starts");
        Self { system, root, fx }
    }

    /// Sends a protocol command (fields joined by [`SEP`]) to the root parent; returns the reply.
    pub async fn cmd(&self, fields: &[&str]) -> String {
        cmd(&self.system, &self.root, fields).await
    }

    /// `spawn` through the root parent; panics unless it succeeded; returns the child id.
    pub async fn spawn(&self, manifest: &str, init: Option<&str>) -> String {
        let mut f = vec!["spawn", manifest];
        f.extend(init);
        let r = self.cmd(&f).await;
        r.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("spawn {manifest} failed: {r}"))
            .to_string()
    }

    /// The root parent's callback records.
    pub async fn callbacks(&self) -> Vec<String> {
        callbacks(&self.system, &self.root).await
    }

    /// Waits (polling) until a callback record satisfies `pred`; panics after 20 s.
    pub async fn wait_callback(&self, what: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
        wait_callback(&self.system, &self.root, what, pred).await
    }

    /// Event types of an actor's chain.
    pub fn event_types(&self, id: &str) -> Vec<String> {
        event_types(&self.system, id)
    }
}

/// Sends a space-separated request to any actor (a `peer`, a `child`); returns the reply text
/// or `request-failed <error>`.
pub async fn ask(system: &ActorSystem, id: &str, msg: &str) -> String {
    match system.request(id, msg.as_bytes().to_vec()).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("request-failed {e}"),
    }
}

/// A `peer`'s log lines (`open <id> <initial>`, `msg <id> <text>`, `close <id>`,
/// `req <request-id> <tag>`), read through its mailbox (after everything queued before).
pub async fn peer_log(system: &ActorSystem, id: &str) -> Vec<String> {
    let r = ask(system, id, "log").await;
    let body = r
        .strip_prefix("ok")
        .unwrap_or_else(|| panic!("log of peer {id} failed: {r}"));
    body.trim_start_matches(' ')
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A `peer`'s outstanding request ids (`list-outstanding-requests`), oldest first.
pub async fn outstanding(system: &ActorSystem, id: &str) -> Vec<String> {
    let r = ask(system, id, "pending").await;
    let body = r
        .strip_prefix("ok")
        .unwrap_or_else(|| panic!("pending of peer {id} failed: {r}"));
    body.trim_start_matches(' ')
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Polls until `peer` has `n` outstanding requests (20 s at most); returns their ids.
pub async fn wait_outstanding(system: &ActorSystem, id: &str, n: usize) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..2000 {
        last = outstanding(system, id).await;
        if last.len() == n {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("peer {id} never had {n} outstanding requests: {last:?}");
}

/// Sends a protocol command to any `supervisor-parent` actor.
pub async fn cmd(system: &ActorSystem, id: &str, fields: &[&str]) -> String {
    let msg = fields.join(&SEP.to_string());
    match system.request(id, msg.into_bytes()).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("request-failed {e}"),
    }
}

/// A `supervisor-parent`'s callback records.
pub async fn callbacks(system: &ActorSystem, id: &str) -> Vec<String> {
    let r = cmd(system, id, &["callbacks"]).await;
    let body = r
        .strip_prefix("ok")
        .unwrap_or_else(|| panic!("callbacks failed: {r}"));
    body.trim_start_matches(' ')
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Polls a parent's callback records until one satisfies `pred` (20 s at most: a generous bound
/// for a loaded machine, not a timing assertion).
pub async fn wait_callback(
    system: &ActorSystem,
    id: &str,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..2000 {
        last = callbacks(system, id).await;
        if last.iter().any(|l| pred(l)) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no callback matching {what} arrived; callbacks so far: {last:#?}");
}

/// Polls until `pred` holds (20 s at most).
pub async fn wait_until(what: &str, mut pred: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if pred() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Event types of an actor's chain.
pub fn event_types(system: &ActorSystem, id: &str) -> Vec<String> {
    system
        .chain(id)
        .unwrap_or_else(|| panic!("no chain for {id}"))
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

/// True once an actor's chain shows that a call of `function` (e.g. `handle-send`) started.
pub fn call_started(system: &ActorSystem, id: &str, function: &str) -> bool {
    let needle = format!("\"function\":\"{function}\"");
    system
        .chain(id)
        .unwrap_or_default()
        .iter()
        .any(|e| e.event_type == "call.start" && String::from_utf8_lossy(&e.data).contains(&needle))
}

/// The `theater-supervisor` binary, built once per test run.
pub fn cli_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // Built once per test run, even if a binary exists: with a shared `CARGO_TARGET_DIR`
            // (a build cache, a second worktree) the one there may come from other sources.
            // `--workspace --lib`, not `-p theater-supervisor`: the same features and units as
            // `cargo test --workspace` (with tests/Cargo.toml's `regex-syntax`), so this finds
            // the CLI that run built rather than building wasmtime-wasi and its dependents again.
            // Not `--tests`: that would relink the test binaries running now whenever cargo
            // finds them stale, and a running test that re-executes itself
            // (faults::sigstop_host_helper) then finds no binary.
            let ok = std::process::Command::new(env!("CARGO"))
                .args([
                    "build",
                    "-q",
                    "--workspace",
                    "--lib",
                    "--bin",
                    "theater-supervisor",
                ])
                .current_dir(repo_root())
                .status()
                .expect("cargo build")
                .success();
            assert!(ok, "building the CLI failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .map_or_else(|| repo_root().join("target"), |t| repo_root().join(t));
            target.join("debug/theater-supervisor")
        })
        .clone()
}

/// A small xorshift generator for the randomized fault tests, replayable from its seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the environment variable `var` when it holds a number, else from the clock;
    /// returns the seed too, for the test to print.
    pub fn from_env(var: &str) -> (Self, u64) {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        (Self(seed), seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
