//! Ctrl-C (SIGINT) and SIGTERM for `run`: either stops the actor tree gracefully (children
//! first, newest first, each in-flight call given its shutdown timeout), prints one line per
//! actor stopped and a summary; `run` then writes `--events` and exits (130 after SIGINT, 143
//! after SIGTERM). A second signal while the tree stops exits at once.

use super::printable::{escaped, short};
use crate::{ActorInfo, ActorSystem};
use std::collections::HashMap;
use std::time::Instant;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signal that asked `run` to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, systemd, docker stop).
    Terminate,
}

impl StopSignal {
    /// `run`'s exit status after this signal: 128 + the signal number, as a shell reports it.
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }

    fn says(self) -> &'static str {
        match self {
            Self::Interrupt => "interrupted (SIGINT)",
            Self::Terminate => "terminated (SIGTERM)",
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment this is made (a signal before the root is up is
/// kept and acted on once it is).
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Replaces the default actions (die at once) of SIGINT and SIGTERM.
    pub(crate) fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal.
    pub(crate) async fn next(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }
}

/// How one actor ended while the tree was stopped.
#[derive(Debug, PartialEq, Eq)]
enum How {
    /// Its in-flight call (if any) finished within the shutdown timeout.
    Graceful,
    /// Its in-flight call ran past the shutdown timeout and was killed.
    Killed { after_ms: u64 },
    /// It failed while stopping.
    Failed(String),
    /// It had ended on its own (failure, exit) before the stop reached it.
    EndedBefore,
    /// Still not terminal (should not happen after a finished shutdown).
    StillRunning,
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Graceful => f.write_str("graceful"),
            Self::Killed { after_ms } => {
                write!(f, "killed after the shutdown timeout ({after_ms} ms)")
            }
            Self::Failed(e) => write!(f, "failed while stopping: {}", escaped(e)),
            Self::EndedBefore => f.write_str("had already ended"),
            Self::StillRunning => f.write_str("still running"),
        }
    }
}

/// Stops every running actor after `first`, printing (on stderr) what it stops and how each
/// actor ended. A second signal meanwhile exits the process at once.
pub(crate) async fn stop_tree(system: &ActorSystem, first: StopSignal, signals: &mut Signals) {
    let actors = system.actors();
    let order = stop_order(&actors);
    eprintln!(
        "{}: stopping the actor tree ({} running; Ctrl-C again to exit without waiting)",
        first.says(),
        order.len()
    );
    let started = Instant::now();
    tokio::select! {
        () = system.shutdown() => {}
        second = signals.next() => {
            eprintln!("{}: exiting without waiting for the tree to stop", second.says());
            std::process::exit(second.exit_code());
        }
    }
    let took = started.elapsed();
    let (mut graceful, mut killed, mut other) = (0, 0, 0);
    for actor in &order {
        let how = how_it_ended(system, &actor.id);
        match how {
            How::Graceful => graceful += 1,
            How::Killed { .. } => killed += 1,
            _ => other += 1,
        }
        eprintln!(
            "stopped {} {}: {how}",
            escaped(&actor.name),
            short(&actor.id)
        );
    }
    let others = if other > 0 {
        format!(", {other} otherwise (see above)")
    } else {
        String::new()
    };
    let n = order.len();
    eprintln!(
        "stopped {n} actor{} in {} ms: {graceful} graceful, {killed} killed after the shutdown timeout{others}",
        if n == 1 { "" } else { "s" },
        took.as_millis()
    );
}

/// The running actors in the order a shutdown stops them: each root in start order, and under
/// every actor its children newest first, each child's own children before the child.
fn stop_order(actors: &[ActorInfo]) -> Vec<&ActorInfo> {
    let running: HashMap<&str, &ActorInfo> = actors
        .iter()
        .filter(|a| !a.status.is_terminal())
        .map(|a| (a.id.as_str(), a))
        .collect();
    fn visit<'a>(
        a: &'a ActorInfo,
        running: &HashMap<&str, &'a ActorInfo>,
        out: &mut Vec<&'a ActorInfo>,
    ) {
        for c in a.children.iter().rev() {
            if let Some(child) = running.get(c.as_str()) {
                visit(child, running, out);
            }
        }
        out.push(a);
    }
    let mut out = Vec::with_capacity(running.len());
    for a in actors
        .iter()
        .filter(|a| a.parent.is_none() && !a.status.is_terminal())
    {
        visit(a, &running, &mut out);
    }
    out
}

/// From the newest events of an actor's chain (back to its last start): its last stop, and
/// whether its in-flight call was killed or it failed meanwhile.
fn how_it_ended(system: &ActorSystem, id: &str) -> How {
    let chain = system.chain(id).unwrap_or_default();
    let (mut killed, mut failed) = (None, None);
    for event in chain.iter().rev() {
        match event.event_type.as_str() {
            "lifecycle.killed" => killed = Some(field_u64(&event.data, "after_ms").unwrap_or(0)),
            "lifecycle.failed" => {
                failed = Some(field_str(&event.data, "error").unwrap_or_default())
            }
            "lifecycle.stopping" => {
                return match (failed, killed) {
                    (Some(error), _) => How::Failed(error),
                    (None, Some(after_ms)) => How::Killed { after_ms },
                    (None, None) => How::Graceful,
                };
            }
            "lifecycle.start" | "lifecycle.restart" => break,
            _ => {}
        }
    }
    match system.actor(id).map(|a| a.status) {
        Some(s) if s.is_terminal() => How::EndedBefore,
        _ => How::StillRunning,
    }
}

fn field_u64(data: &[u8], key: &str) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(data)
        .ok()?
        .get(key)?
        .as_u64()
}

fn field_str(data: &[u8], key: &str) -> Option<String> {
    Some(
        serde_json::from_slice::<serde_json::Value>(data)
            .ok()?
            .get(key)?
            .as_str()?
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActorStatus;

    fn actor(id: &str, parent: Option<&str>, children: &[&str]) -> ActorInfo {
        ActorInfo {
            id: id.into(),
            name: id.into(),
            parent: parent.map(Into::into),
            status: ActorStatus::Running,
            children: children.iter().map(|c| c.to_string()).collect(),
            restarts: 0,
        }
    }

    #[test]
    fn the_order_is_children_newest_first_then_the_parent() {
        let mut done = actor("done", None, &[]);
        done.status = ActorStatus::Stopped;
        let actors = [
            actor("root", None, &["a", "b"]),
            actor("a", Some("root"), &["a1", "a2"]),
            actor("b", Some("root"), &[]),
            actor("a1", Some("a"), &[]),
            actor("a2", Some("a"), &[]),
            done,
            actor("other-root", None, &[]),
        ];
        let order: Vec<&str> = stop_order(&actors).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(order, ["b", "a2", "a1", "a", "root", "other-root"]);
    }
}
