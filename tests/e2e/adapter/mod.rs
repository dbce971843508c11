//! The guest adapter (`theater:supervision`) on the real host: components composed by
//! `just compose` (the wac CLI plugs `target/adapter/supervision-adapter.wasm` into
//! `test-supervisor`), supervising `example-worker` counters.
//!
//! A `test-supervisor` is configured by its init state (see
//! `guest-adapter/test-supervisor/src/lib.rs`) and records every child event with the adapter's
//! report (`event error b restarted:b`), which the tests poll.

mod backoff;
mod composition;
mod escalation;
mod restart_modes;
mod restart_types;
mod strategies;

use std::path::PathBuf;
use theater_supervisor::{ActorId, ActorSystem, SystemConfig};
use theater_supervisor_e2e::{Fixture, manifest_text, repo_root, wait_until};

/// A composed component built by `just compose`, e.g. `composed("test-supervisor")`.
pub fn composed(name: &str) -> PathBuf {
    built("target/compose", name, "just compose")
}

/// An adapter-workspace component (not composed) built by `just compose`.
pub fn adapter_component(name: &str) -> PathBuf {
    built("target/adapter", name, "just compose")
}

fn built(dir: &str, name: &str, recipe: &str) -> PathBuf {
    let p = repo_root().join(dir).join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "component {} is missing: run `{recipe}` (or `just test`, which runs it) first",
        p.display()
    );
    p
}

/// One child of a `which` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub id: String,
    pub status: String,
    pub restarts: u32,
}

/// A fixture directory with `worker.toml` (example-worker) and supervisors written by
/// [`Tree::supervisor`], and a system to run them on.
pub struct Tree {
    pub system: ActorSystem,
    pub fx: Fixture,
}

impl Tree {
    pub fn new() -> Self {
        Self::with_config(SystemConfig::default())
    }

    pub fn with_config(config: SystemConfig) -> Self {
        let fx = Fixture::new();
        let worker = adapter_component("example-worker");
        fx.write("worker.toml", manifest_text("worker", &worker, &[], "", ""));
        Self {
            system: ActorSystem::new(config).expect("engine"),
            fx,
        }
    }

    /// Writes `<name>.toml`, a composed test-supervisor whose init state is `config`.
    pub fn supervisor(&self, name: &str, config: &str) {
        self.supervisor_component(name, config, &composed("test-supervisor"));
    }

    /// Like [`Tree::supervisor`] with another composed component.
    pub fn supervisor_component(&self, name: &str, config: &str, component: &std::path::Path) {
        self.fx.write(&format!("{name}.cfg"), config);
        let top = format!("init_state = \"{name}.cfg\"");
        let text = manifest_text(name, component, &["supervisor", "message-server"], &top, "");
        self.fx.write(&format!("{name}.toml"), text);
    }

    /// Starts `<name>.toml` as a root.
    pub async fn start(&self, name: &str) -> ActorId {
        self.system
            .start_root(self.fx.dir().join(format!("{name}.toml")))
            .await
            .unwrap_or_else(|e| panic!("supervisor {name} does not start: {e}"))
    }

    /// A request to a test-supervisor; the reply text.
    pub async fn req(&self, sup: &str, msg: &str) -> String {
        match self.system.request(sup, msg.as_bytes().to_vec()).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("request-failed {e}"),
        }
    }

    /// `which`, parsed.
    pub async fn which(&self, sup: &str) -> Vec<Child> {
        let r = self.req(sup, "which").await;
        let body = r
            .strip_prefix("ok")
            .unwrap_or_else(|| panic!("which failed: {r}"));
        body.trim_start()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                Child {
                    name: w[0].into(),
                    id: w[1].into(),
                    status: w[2].into(),
                    restarts: w[3].parse().expect("restarts"),
                }
            })
            .collect()
    }

    /// One child of `which` by name.
    pub async fn child(&self, sup: &str, name: &str) -> Child {
        let all = self.which(sup).await;
        all.iter()
            .find(|c| c.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no child {name} in {all:#?}"))
    }

    /// The supervisor's event records (`event <kind> <child> <action>`).
    pub async fn events(&self, sup: &str) -> Vec<String> {
        let r = self.req(sup, "events").await;
        let body = r
            .strip_prefix("ok")
            .unwrap_or_else(|| panic!("events failed: {r}"));
        body.trim_start()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Polls until the supervisor has recorded `line` `n` times in all; returns the records.
    pub async fn wait_event(&self, sup: &str, line: &str, n: usize) -> Vec<String> {
        let mut last = Vec::new();
        for _ in 0..2000 {
            last = self.events(sup).await;
            if last.iter().filter(|l| *l == line).count() >= n {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("event `{line}` (x{n}) never recorded; events: {last:#?}");
    }

    /// Sends a message straight to a child (by the id the supervisor reports).
    pub async fn send_to_child(&self, sup: &str, name: &str, msg: &str) {
        let c = self.child(sup, name).await;
        self.system
            .send(&c.id, msg.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("send {msg} to {name}: {e}"));
    }

    /// Event types of an actor's chain.
    pub fn chain_types(&self, id: &str) -> Vec<String> {
        theater_supervisor_e2e::event_types(&self.system, id)
    }

    /// The children an actor stopped with `stop-child`, in order (from its chain).
    pub fn stops_by(&self, id: &str) -> Vec<String> {
        self.system
            .chain(id)
            .expect("chain")
            .iter()
            .filter(|e| e.event_type == "supervisor.stop-child")
            .map(|e| {
                let v: serde_json::Value = serde_json::from_slice(&e.data).expect("json");
                v["child"].as_str().expect("child").to_string()
            })
            .collect()
    }

    /// Waits until an actor reached a status.
    pub async fn wait_status(&self, id: &str, status: theater_supervisor::ActorStatus) {
        wait_until(&format!("{id} to be {status:?}"), || {
            self.system.actor(id).is_some_and(|a| a.status == status)
        })
        .await;
    }
}

/// A child line of a test-supervisor config.
pub fn child(name: &str, opts: &str) -> String {
    format!("child {name} worker.toml {opts}\n")
}
