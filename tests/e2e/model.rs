//! Model-based test: random sequences of supervisor operations run against the real host
//! (`ActorSystem` with a `supervisor-parent` root through [`Harness`]), checked after every step
//! against a small model of the tree (CONTRACT §3-§4, README "Semantics").
//!
//! The model knows every actor ever started (failed starts are never registered), its parent,
//! whether it is live, stopped or failed, its live children in `list-children` order, its state
//! and its restart count, and for every `supervisor-parent` the exact callback records it must
//! hold. After each step the test checks, on the host:
//!
//! - `system.actors()` is exactly the model's actors in creation order, with the right parent,
//!   status, live children (start order) and restart count;
//! - no orphan: a running actor's parent is running, a stopped or failed actor has no running
//!   child, and every running child is listed by its parent;
//! - `list-children` of the root and of every live sub-parent is exactly the model's list;
//! - every failure, exit and external stop was reported exactly once, to the right parent: each
//!   parent's `callbacks` records match the model's list in order, nothing more (records of
//!   parents that have ended are read from their kept last state);
//! - every actor's state (`counter` values, `child` texts) and its chain: the chain verifies, has
//!   one `lifecycle.start` per start, one `lifecycle.restart` per restart, and an ended actor's
//!   chain ends with `lifecycle.stopped` or `lifecycle.failed`.
//!
//! Messaging (CONTRACT §7, [`messaging`]): `peer` actors open, use and close channels and leave
//! requests from the host outstanding, answered or cancelled later; the model tracks the open
//! channels and the waiting requesters, so a live peer's state (its log of channel events) must
//! match exactly, and a requester whose target ends must get `err`.
//!
//! Each case ends by stopping the root from outside: the whole tree must then be down.
//!
//! `PROPTEST_CASES` changes the number of cases (default 32); `THEATER_MODEL_SEED` (a `u64`)
//! replays a run: the seed is printed at the start.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use theater_supervisor::{ActorStatus, ActorSystem, RootOutcome, SystemConfig};
use theater_supervisor_e2e::*;

mod messaging;

/// Deepest level a `supervisor-parent` may be spawned at (root = 0): root, sub, sub-sub.
const MAX_SUB_DEPTH: usize = 2;

/// How long the test waits for asynchronous callbacks before calling them missing.
const SETTLE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Operations (generated)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Child,
    Counter,
    Trapper,
    Quitter,
    /// A `supervisor-parent` (the root is one too).
    Sub,
    /// A `peer`: channels and outstanding requests.
    Peer,
}

impl Kind {
    fn manifest(self) -> &'static str {
        match self {
            Kind::Child => "child.toml",
            Kind::Counter => "counter.toml",
            Kind::Trapper => "trapper.toml",
            Kind::Quitter => "quitter.toml",
            Kind::Sub => "sub-parent.toml",
            Kind::Peer => "peer.toml",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Child => "child",
            Kind::Counter => "counter",
            Kind::Trapper => "trapper",
            Kind::Quitter => "quitter",
            Kind::Sub => "sub-parent",
            Kind::Peer => "peer",
        }
    }

    /// The init bytes `spawn` passes for generated value `n`.
    fn init_text(self, n: u8) -> String {
        match self {
            Kind::Child => format!("s{n}"),
            Kind::Counter => n.to_string(),
            Kind::Trapper => format!("t{n}"),
            Kind::Quitter => format!("q{n}"),
            Kind::Sub => "policy restart".to_string(),
            Kind::Peer => format!("p{n}"),
        }
    }
}

/// How a message reaches its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// `ActorSystem::send`.
    HostSend,
    /// `ActorSystem::request`.
    HostRequest,
    /// The parent's `send` verb (`message-server-host.send` from the parent actor).
    ParentSend,
    /// The parent's `request` verb.
    ParentRequest,
}

impl Route {
    fn of(n: u8) -> Self {
        match n % 4 {
            0 => Route::HostSend,
            1 => Route::HostRequest,
            2 => Route::ParentSend,
            _ => Route::ParentRequest,
        }
    }

    fn is_request(self) -> bool {
        matches!(self, Route::HostRequest | Route::ParentRequest)
    }

    /// The export that handles a message sent this way.
    fn export(self) -> &'static str {
        if self.is_request() {
            "handle-request"
        } else {
            "handle-send"
        }
    }
}

/// One generated step. Indices pick among the actors the model has at that point, so a sequence
/// stays meaningful while proptest shrinks it.
#[derive(Clone, Debug)]
enum Op {
    /// A live supervisor spawns a child (a `sub-parent` only above [`MAX_SUB_DEPTH`]).
    Spawn {
        parent: Index,
        kind: Kind,
        init: Option<u8>,
    },
    /// A live supervisor resumes a counter from a saved value.
    Resume { parent: Index, value: u8 },
    /// A spawn or resume that must fail and leave nothing behind.
    SpawnFails { parent: Index, how: u8 },
    /// `stop-child` of a child (live, or ended: then it must be refused).
    Stop { parent: Index, child: Index },
    /// `restart-child` of a child, live or ended.
    Restart { parent: Index, child: Index },
    /// A live child, trapper or sub-parent traps or returns err.
    Crash { target: Index, how: u8 },
    /// A live child, quitter or sub-parent calls `runtime.shutdown`.
    Exit {
        target: Index,
        data: Option<u8>,
        route: u8,
    },
    /// `ActorSystem::stop_actor` of any non-root actor (ended ones must be refused).
    ExternalStop { target: Index },
    /// Changes a live counter's or child's state.
    Touch { target: Index, value: u8 },
    /// Races two things on one live child, trapper, quitter or sub-parent: a crash (or, for a
    /// quitter, a `runtime.shutdown`) sent to it from the host, and right behind it its
    /// parent's `stop-child`, the host's `stop_actor` or its parent's `restart-child`. Either
    /// may win; the chain tells which, and then exactly one callback must describe it.
    Race { target: Index, how: u8 },
    /// Two live actors, neither an ancestor of the other, trap at the same time: each parent
    /// hears about each exactly once (in whatever order they were handled).
    DoubleCrash { a: Index, b: Index },
    /// Sets a live supervisor's callback policy (`restart` restarts a failed child in
    /// `handle-child-error`).
    Policy { parent: Index, restart: bool },
    /// A channel or out-of-band step between `peer`s ([`messaging::MsgOp`]).
    Msg(messaging::MsgOp),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Child),
        Just(Kind::Counter),
        Just(Kind::Trapper),
        Just(Kind::Quitter),
        Just(Kind::Sub),
        Just(Kind::Peer),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<Index>(), kind(), proptest::option::of(0u8..10))
            .prop_map(|(parent, kind, init)| Op::Spawn { parent, kind, init }),
        1 => (any::<Index>(), 0u8..100).prop_map(|(parent, value)| Op::Resume { parent, value }),
        1 => (any::<Index>(), 0u8..5).prop_map(|(parent, how)| Op::SpawnFails { parent, how }),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(parent, child)| Op::Stop { parent, child }),
        2 => (any::<Index>(), any::<Index>())
            .prop_map(|(parent, child)| Op::Restart { parent, child }),
        3 => (any::<Index>(), 0u8..8).prop_map(|(target, how)| Op::Crash { target, how }),
        2 => (any::<Index>(), proptest::option::of(0u8..10), 0u8..4)
            .prop_map(|(target, data, route)| Op::Exit { target, data, route }),
        2 => any::<Index>().prop_map(|target| Op::ExternalStop { target }),
        1 => (any::<Index>(), 0u8..10).prop_map(|(target, value)| Op::Touch { target, value }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(parent, restart)| Op::Policy { parent, restart }),
        2 => (any::<Index>(), 0u8..12).prop_map(|(target, how)| Op::Race { target, how }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::DoubleCrash { a, b }),
        6 => messaging::op().prop_map(Op::Msg),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Live,
    Stopped,
    Failed,
}

/// A callback record a `supervisor-parent` must hold (see its `on_callback`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rec {
    /// `error <id> internal <data>`, the data containing `needle`.
    Error { id: String, needle: String },
    /// `exit <id> none` / `exit <id> some <data>`.
    Exit { id: String, data: Option<String> },
    /// `external-stop <id>`.
    ExternalStop { id: String },
    /// `restarted <id> ok` (the `restart` policy's reaction to an error).
    Restarted { id: String },
}

impl Rec {
    fn matches(&self, line: &str) -> bool {
        match self {
            Rec::Error { id, needle } => line
                .strip_prefix(&format!("error {id} internal "))
                .is_some_and(|data| data.contains(needle.as_str())),
            Rec::Exit { id, data: None } => line == format!("exit {id} none"),
            Rec::Exit { id, data: Some(d) } => line == format!("exit {id} some {d}"),
            Rec::ExternalStop { id } => line == format!("external-stop {id}"),
            Rec::Restarted { id } => line == format!("restarted {id} ok"),
        }
    }
}

#[derive(Clone, Debug)]
struct Node {
    id: String,
    kind: Kind,
    parent: Option<usize>,
    depth: usize,
    status: Status,
    /// Every child it ever started (they stay its children after they end).
    known: Vec<usize>,
    /// Live children in `list-children` order.
    live: Vec<usize>,
    /// Start bytes (spawn's init bytes or resume's state): what a restart starts from.
    start: Option<String>,
    /// Current (or last) state, for non-supervisors.
    state: Option<String>,
    /// Supervisors: the `restart` policy is on.
    policy_restart: bool,
    /// Supervisors: the callback records, in order.
    records: Vec<Rec>,
    restarts: u32,
}

#[derive(Debug)]
struct Model {
    /// In creation order; `nodes[0]` is the root.
    nodes: Vec<Node>,
    /// Open channels and waiting requesters between peers.
    net: messaging::Net,
}

fn initial_state(kind: Kind, start: &Option<String>) -> Option<String> {
    match kind {
        Kind::Counter => Some(start.clone().unwrap_or_else(|| "0".to_string())),
        Kind::Peer => Some(messaging::PEER_FRESH.to_string()),
        _ => start.clone(),
    }
}

impl Model {
    fn new(root: &str) -> Self {
        Self {
            nodes: vec![Node {
                id: root.to_string(),
                kind: Kind::Sub,
                parent: None,
                depth: 0,
                status: Status::Live,
                known: Vec::new(),
                live: Vec::new(),
                start: None,
                state: None,
                policy_restart: false,
                records: Vec::new(),
                restarts: 0,
            }],
            net: messaging::Net::default(),
        }
    }

    fn label(&self, i: usize) -> String {
        let n = &self.nodes[i];
        if i == 0 {
            "root".to_string()
        } else {
            format!("{}#{i}", n.kind.name())
        }
    }

    /// Replaces every actor id in `text` with its label, for readable failures.
    fn pretty(&self, text: &str) -> String {
        let mut t = text.to_string();
        for i in 0..self.nodes.len() {
            t = t.replace(&self.nodes[i].id, &self.label(i));
        }
        t
    }

    fn live_sups(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].kind == Kind::Sub && self.nodes[i].status == Status::Live)
            .collect()
    }

    fn live_where(&self, pred: impl Fn(&Node) -> bool) -> Vec<usize> {
        (1..self.nodes.len())
            .filter(|&i| self.nodes[i].status == Status::Live && pred(&self.nodes[i]))
            .collect()
    }

    fn add(&mut self, parent: usize, kind: Kind, id: String, start: Option<String>) -> usize {
        let i = self.nodes.len();
        let policy_restart = kind == Kind::Sub && start.as_deref() == Some("policy restart");
        self.nodes.push(Node {
            id,
            kind,
            parent: Some(parent),
            depth: self.nodes[parent].depth + 1,
            status: Status::Live,
            known: Vec::new(),
            live: Vec::new(),
            state: initial_state(kind, &start),
            start,
            policy_restart,
            records: Vec::new(),
            restarts: 0,
        });
        self.nodes[parent].known.push(i);
        self.nodes[parent].live.push(i);
        i
    }

    /// Ends `i` and its live subtree (children newest first); descendants are `stopped`
    /// without any callback. Does not touch the parent's list.
    fn end_subtree(&mut self, i: usize, status: Status) {
        let kids = std::mem::take(&mut self.nodes[i].live);
        for &c in kids.iter().rev() {
            self.end_subtree(c, Status::Stopped);
        }
        if self.nodes[i].status == Status::Live {
            self.peer_gone(i);
        }
        self.nodes[i].status = status;
    }

    /// A live non-root actor ended (stop, external stop, exit, failure): its parent loses it
    /// from its list and gets `rec`; a failure under the `restart` policy is restarted at once.
    fn end(&mut self, i: usize, status: Status, rec: Rec) {
        self.end_subtree(i, status);
        let p = self.nodes[i].parent.expect("not the root");
        self.nodes[p].live.retain(|&c| c != i);
        self.nodes[p].records.push(rec);
        if status == Status::Failed && self.nodes[p].policy_restart {
            self.restart(i);
            let id = self.nodes[i].id.clone();
            self.nodes[p].records.push(Rec::Restarted { id });
        }
    }

    /// `restart-child`: a live child keeps its place (its subtree is stopped, no callbacks), an
    /// ended one is appended; both start again from their start bytes.
    fn restart(&mut self, i: usize) {
        let p = self.nodes[i].parent.expect("not the root");
        if self.nodes[i].status == Status::Live {
            self.peer_gone(i);
            let kids = std::mem::take(&mut self.nodes[i].live);
            for &c in kids.iter().rev() {
                self.end_subtree(c, Status::Stopped);
            }
        } else {
            self.nodes[p].live.push(i);
        }
        let n = &mut self.nodes[i];
        n.status = Status::Live;
        n.restarts += 1;
        n.state = initial_state(n.kind, &n.start);
        n.policy_restart = n.kind == Kind::Sub && n.start.as_deref() == Some("policy restart");
        n.records.clear();
    }

    /// The host's root ended from outside: everything live is stopped.
    fn stop_root(&mut self) {
        self.end_subtree(0, Status::Stopped);
    }
}

// ---------------------------------------------------------------------------------------------
// Running one step on the host
// ---------------------------------------------------------------------------------------------

fn pick(ix: &Index, v: &[usize]) -> Option<usize> {
    (!v.is_empty()).then(|| v[ix.index(v.len())])
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// Sends `msg` to `target` along `route`; returns the reply as text (`sent` for a host send,
/// `ok:<reply>` / `err:<error>` for a host request, the parent's reply for the parent verbs).
async fn deliver(h: &Harness, m: &Model, target: usize, msg: &str, route: Route) -> String {
    let id = &m.nodes[target].id;
    let parent = &m.nodes[m.nodes[target].parent.expect("not the root")].id;
    match route {
        Route::HostSend => match h.system.send(id, msg.as_bytes().to_vec()) {
            Ok(()) => "sent".to_string(),
            Err(e) => format!("send-failed {e}"),
        },
        Route::HostRequest => match h.system.request(id, msg.as_bytes().to_vec()).await {
            Ok(b) => format!("ok:{}", String::from_utf8_lossy(&b)),
            Err(e) => format!("err:{e}"),
        },
        Route::ParentSend => cmd(&h.system, parent, &["send", id, msg]).await,
        Route::ParentRequest => cmd(&h.system, parent, &["request", id, msg]).await,
    }
}

/// Runs one operation on the host and the model; returns what it did (for the failure log),
/// or an error if the host's direct answer was wrong.
async fn apply(h: &Harness, m: &mut Model, op: &Op) -> Result<String, String> {
    match op {
        Op::Spawn { parent, kind, init } => {
            let p = pick(parent, &m.live_sups()).expect("the root is live");
            let kind = if *kind == Kind::Sub && m.nodes[p].depth >= MAX_SUB_DEPTH {
                Kind::Child
            } else {
                *kind
            };
            let start = init.map(|n| kind.init_text(n));
            let mut f = vec!["spawn", kind.manifest()];
            f.extend(start.as_deref());
            let r = cmd(&h.system, &m.nodes[p].id, &f).await;
            let id = r
                .strip_prefix("ok ")
                .ok_or_else(|| format!("spawn {} under {} failed: {r}", kind.name(), m.label(p)))?;
            let i = m.add(p, kind, id.to_string(), start.clone());
            Ok(format!(
                "{} spawns {} (init {start:?})",
                m.label(p),
                m.label(i)
            ))
        }
        Op::Resume { parent, value } => {
            let p = pick(parent, &m.live_sups()).expect("the root is live");
            let v = value.to_string();
            let r = cmd(&h.system, &m.nodes[p].id, &["resume", "counter.toml", &v]).await;
            let id = r
                .strip_prefix("ok ")
                .ok_or_else(|| format!("resume under {} failed: {r}", m.label(p)))?;
            let i = m.add(p, Kind::Counter, id.to_string(), Some(v));
            Ok(format!(
                "{} resumes {} from {value}",
                m.label(p),
                m.label(i)
            ))
        }
        Op::SpawnFails { parent, how } => {
            let p = pick(parent, &m.live_sups()).expect("the root is live");
            let (fields, needle): (&[&str], &str) = match how % 5 {
                0 => (&["spawn", "init-fail.toml"], "init-fail: refusing to start"),
                1 => (
                    &["spawn", "child.toml", "fail-init"],
                    "child refused init state",
                ),
                2 => (&["spawn", "trapper.toml", "trap-in-init"], "trapped"),
                3 => (
                    &["resume", "counter.toml", "not-a-number"],
                    "counter: saved state is not a number",
                ),
                _ => (&["spawn", "missing.toml"], "manifest not found"),
            };
            let r = cmd(&h.system, &m.nodes[p].id, fields).await;
            expect(r.starts_with("err ") && r.contains(needle), || {
                format!(
                    "{fields:?} under {} should fail with {needle:?}: {r}",
                    m.label(p)
                )
            })?;
            Ok(format!("{} {fields:?} fails as expected", m.label(p)))
        }
        Op::Stop { parent, child } => {
            let p = pick(parent, &m.live_sups()).expect("the root is live");
            let Some(c) = pick(child, &m.nodes[p].known) else {
                return Ok(format!("(stop: {} has no children)", m.label(p)));
            };
            let r = cmd(&h.system, &m.nodes[p].id, &["stop", &m.nodes[c].id]).await;
            if m.nodes[c].status == Status::Live {
                expect(r == "ok", || {
                    format!("{} stop {} replied {r}", m.label(p), m.label(c))
                })?;
                let id = m.nodes[c].id.clone();
                m.end(c, Status::Stopped, Rec::Exit { id, data: None });
                Ok(format!("{} stops {}", m.label(p), m.label(c)))
            } else {
                expect(r.starts_with("err ") && r.contains("not running"), || {
                    format!(
                        "{} stop of ended {} should be refused: {r}",
                        m.label(p),
                        m.label(c)
                    )
                })?;
                Ok(format!(
                    "{} stop of ended {} refused",
                    m.label(p),
                    m.label(c)
                ))
            }
        }
        Op::Restart { parent, child } => {
            let p = pick(parent, &m.live_sups()).expect("the root is live");
            let Some(c) = pick(child, &m.nodes[p].known) else {
                return Ok(format!("(restart: {} has no children)", m.label(p)));
            };
            let was = m.nodes[c].status;
            let r = cmd(&h.system, &m.nodes[p].id, &["restart", &m.nodes[c].id]).await;
            expect(r == "ok", || {
                format!(
                    "{} restart {} ({was:?}) replied {r}",
                    m.label(p),
                    m.label(c)
                )
            })?;
            m.restart(c);
            Ok(format!("{} restarts {} ({was:?})", m.label(p), m.label(c)))
        }
        Op::Crash { target, how } => {
            let candidates = m.live_where(|n| {
                matches!(n.kind, Kind::Child | Kind::Trapper | Kind::Sub | Kind::Peer)
            });
            let Some(t) = pick(target, &candidates) else {
                return Ok("(crash: nothing crashable is live)".to_string());
            };
            let route = Route::of(how / 2);
            let trap = how.is_multiple_of(2);
            let (msg, needle) = match (m.nodes[t].kind, trap) {
                (Kind::Child, false) => ("fail", "child failing on purpose".to_string()),
                (Kind::Child, true) => ("trap", format!("{} trapped", route.export())),
                (Kind::Sub, false) => ("fail", "parent failing on purpose".to_string()),
                (Kind::Sub, true) => ("trap", format!("{} trapped", route.export())),
                (Kind::Peer, false) => ("fail", "peer failing on purpose".to_string()),
                (Kind::Peer, true) => ("trap", format!("{} trapped", route.export())),
                _ => ("boom", format!("{} trapped", route.export())),
            };
            let r = deliver(h, m, t, msg, route).await;
            let ok = match route {
                Route::HostSend => r == "sent",
                Route::HostRequest => r.starts_with("err:"),
                Route::ParentSend => r == "ok",
                Route::ParentRequest => r.starts_with("err "),
            };
            expect(ok, || {
                format!("crash {} via {route:?} replied {r}", m.label(t))
            })?;
            let id = m.nodes[t].id.clone();
            let desc = format!("{} crashes ({msg} via {route:?})", m.label(t));
            m.end(t, Status::Failed, Rec::Error { id, needle });
            Ok(desc)
        }
        Op::Exit {
            target,
            data,
            route,
        } => {
            let candidates =
                m.live_where(|n| matches!(n.kind, Kind::Child | Kind::Quitter | Kind::Sub));
            let Some(t) = pick(target, &candidates) else {
                return Ok("(exit: nothing that can exit is live)".to_string());
            };
            let data = data.map(|d| format!("d{d}"));
            let mut route = Route::of(*route);
            let msg = match (m.nodes[t].kind, &data) {
                (Kind::Child, None) => "shutdown".to_string(),
                (Kind::Child, Some(d)) => format!("shutdown {d}"),
                (Kind::Quitter, None) => "quit".to_string(),
                (Kind::Quitter, Some(d)) => format!("quit {d}"),
                (_, None) => "shutdown".to_string(),
                (_, Some(d)) => {
                    // The parent's verbs split on the separator: only the host can pass
                    // a multi-field message to a sub-parent.
                    if route == Route::ParentSend {
                        route = Route::HostSend;
                    } else if route == Route::ParentRequest {
                        route = Route::HostRequest;
                    }
                    format!("shutdown{SEP}{d}")
                }
            };
            let r = deliver(h, m, t, &msg, route).await;
            let ok = match route {
                Route::HostSend => r == "sent",
                Route::HostRequest => r == "ok:ok",
                Route::ParentSend => r == "ok",
                Route::ParentRequest => r == "ok ok",
            };
            expect(ok, || {
                format!("exit {} via {route:?} replied {r}", m.label(t))
            })?;
            let id = m.nodes[t].id.clone();
            let desc = format!("{} exits with {data:?} via {route:?}", m.label(t));
            m.end(t, Status::Stopped, Rec::Exit { id, data });
            Ok(desc)
        }
        Op::ExternalStop { target } => {
            let all: Vec<usize> = (1..m.nodes.len()).collect();
            let Some(t) = pick(target, &all) else {
                return Ok("(external stop: no actor but the root)".to_string());
            };
            let r = h.system.stop_actor(&m.nodes[t].id).await;
            if m.nodes[t].status == Status::Live {
                r.map_err(|e| format!("external stop of {} failed: {e}", m.label(t)))?;
                let id = m.nodes[t].id.clone();
                m.end(t, Status::Stopped, Rec::ExternalStop { id });
                Ok(format!("host stops {}", m.label(t)))
            } else {
                match r {
                    Err(e) if e.to_string().contains("not running") => {}
                    other => {
                        return Err(format!(
                            "external stop of ended {} should be refused: {other:?}",
                            m.label(t)
                        ));
                    }
                }
                Ok(format!("host stop of ended {} refused", m.label(t)))
            }
        }
        Op::Touch { target, value } => {
            let candidates = m.live_where(|n| matches!(n.kind, Kind::Child | Kind::Counter));
            let Some(t) = pick(target, &candidates) else {
                return Ok("(touch: no live child or counter)".to_string());
            };
            let route = if value.is_multiple_of(2) {
                Route::HostRequest
            } else {
                Route::ParentRequest
            };
            let (msg, new, reply) = match m.nodes[t].kind {
                Kind::Counter => {
                    let old: u64 = m.nodes[t]
                        .state
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .expect("a counter's model state is a number");
                    let new = (old + u64::from(*value)).to_string();
                    (format!("add {value}"), new.clone(), new)
                }
                _ => (
                    format!("set v{value}"),
                    format!("v{value}"),
                    "ok".to_string(),
                ),
            };
            let r = deliver(h, m, t, &msg, route).await;
            let want = match route {
                Route::HostRequest => format!("ok:{reply}"),
                _ => format!("ok {reply}"),
            };
            expect(r == want, || {
                format!(
                    "{} {msg:?} via {route:?} replied {r}, expected {want}",
                    m.label(t)
                )
            })?;
            m.nodes[t].state = Some(new);
            Ok(format!("{} {msg}", m.label(t)))
        }
        Op::Race { target, how } => race(h, m, target, *how).await,
        Op::DoubleCrash { a, b } => double_crash(h, m, a, b).await,
        Op::Msg(op) => messaging::apply(h, m, op).await,
        Op::Policy { parent, restart } => {
            let p = pick(parent, &m.live_sups()).expect("the root is live");
            let name = if *restart { "restart" } else { "none" };
            let r = cmd(&h.system, &m.nodes[p].id, &["policy", name]).await;
            expect(r == "ok", || {
                format!("policy {name} on {} replied {r}", m.label(p))
            })?;
            m.nodes[p].policy_restart = *restart;
            Ok(format!("{} policy {name}", m.label(p)))
        }
    }
}

/// The second contender of [`Op::Race`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    ParentStop,
    HostStop,
    ParentRestart,
}

/// `reason` of a `lifecycle.stopped` event (none for other events).
fn stop_reason(e: &theater_supervisor::ChainEvent) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&e.data).ok()?;
    v["reason"].as_str().map(str::to_string)
}

/// See [`Op::Race`]. Parents with the `restart` policy are left out: there a crash that wins
/// is followed by a restart, which the contender may then stop again (a valid history the
/// chain alone does not settle).
async fn race(h: &Harness, m: &mut Model, target: &Index, how: u8) -> Result<String, String> {
    let candidates = m.live_where(|n| {
        matches!(
            n.kind,
            Kind::Child | Kind::Trapper | Kind::Quitter | Kind::Sub
        ) && !m.nodes[n.parent.expect("not the root")].policy_restart
    });
    let Some(t) = pick(target, &candidates) else {
        return Ok("(race: nothing suitable is live)".to_string());
    };
    let contender = match how % 3 {
        0 => Contender::ParentStop,
        1 => Contender::HostStop,
        _ => Contender::ParentRestart,
    };
    let trap = (how / 3).is_multiple_of(2);
    let data = format!("r{how}");
    let (msg, rec_if_first) = {
        let id = m.nodes[t].id.clone();
        match (m.nodes[t].kind, trap) {
            (Kind::Quitter, _) => (
                format!("quit {data}"),
                Rec::Exit {
                    id,
                    data: Some(data.clone()),
                },
            ),
            (Kind::Child, false) => (
                "fail".to_string(),
                Rec::Error {
                    id,
                    needle: "child failing on purpose".into(),
                },
            ),
            (Kind::Sub, false) => (
                "fail".to_string(),
                Rec::Error {
                    id,
                    needle: "parent failing on purpose".into(),
                },
            ),
            (Kind::Trapper, _) => (
                "boom".to_string(),
                Rec::Error {
                    id,
                    needle: "handle-send trapped".into(),
                },
            ),
            _ => (
                "trap".to_string(),
                Rec::Error {
                    id,
                    needle: "handle-send trapped".into(),
                },
            ),
        }
    };
    let id = m.nodes[t].id.clone();
    let p = m.nodes[t].parent.expect("not the root");
    let pid = m.nodes[p].id.clone();
    let before = h.system.chain(&id).map_or(0, |c| c.len());
    h.system
        .send(&id, msg.as_bytes().to_vec())
        .map_err(|e| format!("race: send to {} failed: {e}", m.label(t)))?;
    let reply = match contender {
        Contender::ParentStop => cmd(&h.system, &pid, &["stop", &id]).await,
        Contender::HostStop => match h.system.stop_actor(&id).await {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("err {e}"),
        },
        Contender::ParentRestart => cmd(&h.system, &pid, &["restart", &id]).await,
    };
    // The contender has returned: the target's first ending since `before` is in its chain.
    let chain = h.system.chain(&id).unwrap_or_default();
    let ended = chain
        .get(before..)
        .unwrap_or_default()
        .iter()
        .find(|e| e.event_type == "lifecycle.failed" || e.event_type == "lifecycle.stopped");
    let first_won = match ended {
        Some(e) if e.event_type == "lifecycle.failed" => true,
        Some(e) => stop_reason(e).as_deref() == Some("shutdown"),
        None => {
            return Err(format!(
                "race on {} ({msg} vs {contender:?}, reply {reply}): no ending in its chain",
                m.label(t)
            ));
        }
    };
    let refused = reply.starts_with("err ") && reply.contains("not running");
    expect(
        reply == "ok" || (refused && first_won && contender != Contender::ParentRestart),
        || {
            format!(
                "race on {} ({msg} vs {contender:?}, {} won): reply {reply}",
                m.label(t),
                if first_won { "message" } else { "contender" }
            )
        },
    )?;
    let status = if matches!(rec_if_first, Rec::Error { .. }) {
        Status::Failed
    } else {
        Status::Stopped
    };
    match (first_won, contender) {
        (true, Contender::ParentRestart) => {
            m.end(t, status, rec_if_first);
            m.restart(t);
        }
        (true, _) => m.end(t, status, rec_if_first),
        (false, Contender::ParentStop) => m.end(t, Status::Stopped, Rec::Exit { id, data: None }),
        (false, Contender::HostStop) => m.end(t, Status::Stopped, Rec::ExternalStop { id }),
        (false, Contender::ParentRestart) => m.restart(t),
    }
    RACES[usize::from(!first_won)].fetch_add(1, Ordering::Relaxed);
    Ok(format!(
        "race on {}: {msg} vs {contender:?}: {} won (reply {reply})",
        m.label(t),
        if first_won {
            "the message"
        } else {
            "the contender"
        }
    ))
}

impl Model {
    fn is_ancestor(&self, a: usize, mut of: usize) -> bool {
        while let Some(p) = self.nodes[of].parent {
            if p == a {
                return true;
            }
            of = p;
        }
        false
    }
}

/// See [`Op::DoubleCrash`].
async fn double_crash(h: &Harness, m: &mut Model, a: &Index, b: &Index) -> Result<String, String> {
    let crashable = m.live_where(|n| matches!(n.kind, Kind::Child | Kind::Trapper | Kind::Sub));
    let Some(x) = pick(a, &crashable) else {
        return Ok("(double crash: nothing crashable is live)".to_string());
    };
    let others: Vec<usize> = crashable
        .iter()
        .copied()
        .filter(|&y| y != x && !m.is_ancestor(x, y) && !m.is_ancestor(y, x))
        .collect();
    let Some(y) = pick(b, &others) else {
        return Ok(format!(
            "(double crash: nothing unrelated to {} is live)",
            m.label(x)
        ));
    };
    let targets = [x, y];
    let mut before = Vec::new();
    for &t in &targets {
        before.push(h.system.chain(&m.nodes[t].id).map_or(0, |c| c.len()));
    }
    for &t in &targets {
        let msg = if m.nodes[t].kind == Kind::Trapper {
            "boom"
        } else {
            "trap"
        };
        h.system
            .send(&m.nodes[t].id, msg.as_bytes().to_vec())
            .map_err(|e| format!("double crash: send to {} failed: {e}", m.label(t)))?;
    }
    // Both fail on their own; then each parent's new records say in which order it heard.
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (k, &t) in targets.iter().enumerate() {
        let id = m.nodes[t].id.clone();
        let p = m.nodes[t].parent.expect("not the root");
        let base = m.nodes[p].records.len();
        let deadline = Instant::now() + SETTLE;
        let pos = loop {
            let failed = h.system.chain(&id).unwrap_or_default()[before[k]..]
                .iter()
                .any(|e| e.event_type == "lifecycle.failed");
            let records = read_callbacks(&h.system, &m.nodes[p].id)
                .await
                .unwrap_or_default();
            let pos = records
                .get(base..)
                .unwrap_or_default()
                .iter()
                .position(|l| l.starts_with(&format!("error {id} ")));
            if let (true, Some(pos)) = (failed, pos) {
                break pos;
            }
            if Instant::now() > deadline {
                return Err(m.pretty(&format!(
                    "double crash: {} failed: {failed}, records of {}: {records:#?}",
                    m.label(t),
                    m.label(p)
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        order.push((pos, t));
    }
    // Same parent: apply in the order it handled them; different parents: independent.
    order.sort();
    for &(_, t) in &order {
        let id = m.nodes[t].id.clone();
        m.end(
            t,
            Status::Failed,
            Rec::Error {
                id,
                needle: "handle-send trapped".into(),
            },
        );
    }
    Ok(format!("{} and {} trap at once", m.label(x), m.label(y)))
}

// ---------------------------------------------------------------------------------------------
// Checking the host against the model
// ---------------------------------------------------------------------------------------------

fn status_of(s: Status) -> ActorStatus {
    match s {
        Status::Live => ActorStatus::Running,
        Status::Stopped => ActorStatus::Stopped,
        Status::Failed => ActorStatus::Failed,
    }
}

/// A supervisor's state text, split into its policy line and its records.
fn split_state(system: &ActorSystem, id: &str) -> Result<(String, Vec<String>), String> {
    let state = system
        .state(id)
        .ok_or_else(|| format!("no state record for {id}"))?
        .ok_or_else(|| format!("supervisor {id} has no state"))?;
    let text = String::from_utf8_lossy(&state).into_owned();
    let mut lines = text.lines();
    let policy = lines.next().unwrap_or_default().to_string();
    Ok((
        policy,
        lines
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    ))
}

fn compare_records(m: &Model, s: usize, got: &[String]) -> Result<(), String> {
    let want = &m.nodes[s].records;
    let same = got.len() == want.len() && want.iter().zip(got).all(|(w, g)| w.matches(g));
    expect(same, || {
        m.pretty(&format!(
            "callback records of {}: expected {want:#?}\ngot {got:#?}",
            m.label(s)
        ))
    })
}

/// A live supervisor's callback records (its `callbacks` verb).
async fn read_callbacks(system: &ActorSystem, id: &str) -> Result<Vec<String>, String> {
    let r = cmd(system, id, &["callbacks"]).await;
    let body = r
        .strip_prefix("ok")
        .ok_or_else(|| format!("`callbacks` failed: {r}"))?;
    Ok(body
        .trim_start_matches(' ')
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Polls the live supervisors' `callbacks` until each holds at least the expected number of
/// records (callbacks are asynchronous), then compares them exactly.
async fn check_callbacks(h: &Harness, m: &Model) -> Result<(), String> {
    let sups = m.live_sups();
    let deadline = Instant::now() + SETTLE;
    // A supervisor the model holds live may be between its failure and its restart by its own
    // parent's `restart` policy: an unanswered `callbacks` is "not yet" until the deadline.
    let got: HashMap<usize, Result<Vec<String>, String>> = loop {
        let mut got = HashMap::new();
        let mut short = false;
        for &s in &sups {
            let records = read_callbacks(&h.system, &m.nodes[s].id).await;
            short |= records
                .as_ref()
                .map_or(true, |r| r.len() < m.nodes[s].records.len());
            got.insert(s, records);
        }
        if !short || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    for &s in &sups {
        let records = got[&s]
            .as_ref()
            .map_err(|e| format!("{}: {e}", m.label(s)))?;
        compare_records(m, s, records)?;
    }
    Ok(())
}

/// Everything but the callbacks of live supervisors (see [`check_callbacks`]).
async fn check_host(h: &Harness, m: &Model) -> Result<(), String> {
    let sys = &h.system;
    let actors = sys.actors();
    let ids: Vec<&str> = actors.iter().map(|a| a.id.as_str()).collect();
    let want: Vec<&str> = m.nodes.iter().map(|n| n.id.as_str()).collect();
    expect(ids == want, || {
        m.pretty(&format!(
            "system.actors() should be {want:?} (failed starts unregistered), is {ids:?}"
        ))
    })?;
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();

    // Host-only invariants: no orphan, lists consistent with statuses.
    for a in &actors {
        if let Some(p) = &a.parent {
            let parent = &actors[*index
                .get(p.as_str())
                .ok_or_else(|| format!("parent {p} of {} is unknown", a.id))?];
            let listed = parent.children.contains(&a.id);
            if a.status == ActorStatus::Running {
                expect(parent.status == ActorStatus::Running && listed, || {
                    m.pretty(&format!(
                        "orphan: {} is running but its parent {} is {:?} (lists it: {listed})",
                        a.id, p, parent.status
                    ))
                })?;
            } else {
                expect(!listed, || {
                    m.pretty(&format!(
                        "{} is {:?} but still listed by its parent {p}",
                        a.id, a.status
                    ))
                })?;
            }
        }
        if a.status.is_terminal() {
            expect(a.children.is_empty(), || {
                m.pretty(&format!(
                    "{} is {:?} but lists children {:?}",
                    a.id, a.status, a.children
                ))
            })?;
        }
    }

    // Registry against the model.
    for (i, (a, n)) in actors.iter().zip(&m.nodes).enumerate() {
        let parent = n.parent.map(|p| m.nodes[p].id.clone());
        let live: Vec<String> = n.live.iter().map(|&c| m.nodes[c].id.clone()).collect();
        let name = if i == 0 { "parent" } else { n.kind.name() };
        expect(
            a.parent == parent
                && a.status == status_of(n.status)
                && a.children == live
                && a.restarts == n.restarts
                && a.name == name,
            || {
                m.pretty(&format!(
                    "{}: host says parent {:?}, {:?}, children {:?}, {} restarts, name {}; \
                     model says parent {parent:?}, {:?}, children {live:?}, {} restarts, name {name}",
                    m.label(i),
                    a.parent,
                    a.status,
                    a.children,
                    a.restarts,
                    a.name,
                    status_of(n.status),
                    n.restarts,
                ))
            },
        )?;
    }

    // list-children of every live supervisor.
    for s in m.live_sups() {
        let want: Vec<&str> = m.nodes[s]
            .live
            .iter()
            .map(|&c| m.nodes[c].id.as_str())
            .collect();
        let want = format!("ok {}", want.join(","));
        let got = cmd(sys, &m.nodes[s].id, &["list"]).await;
        expect(got == want, || {
            m.pretty(&format!(
                "list-children of {}: expected {want}, got {got}",
                m.label(s)
            ))
        })?;
    }

    // States, policies and the records of supervisors that ended.
    for (i, n) in m.nodes.iter().enumerate() {
        if n.kind == Kind::Sub {
            let (policy, records) = split_state(sys, &n.id)?;
            let want = if n.policy_restart {
                "policy restart"
            } else {
                "policy none"
            };
            expect(policy == want, || {
                format!("{}: state says {policy}, model {want}", m.label(i))
            })?;
            compare_records(m, i, &records)?;
        } else {
            if n.kind == Kind::Peer {
                if n.status != Status::Live {
                    // Whether an ended peer took a close queued just before it ended is a race.
                    continue;
                }
                // Everything queued for it (a channel's close) is handled before this answer.
                let _ = ask(sys, &n.id, "count").await;
            }
            let got = sys
                .state(&n.id)
                .ok_or_else(|| format!("no state for {}", m.label(i)))?
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            expect(got == n.state, || {
                format!(
                    "state of {} ({:?}): host {got:?}, model {:?}",
                    m.label(i),
                    n.status,
                    n.state
                )
            })?;
        }
    }

    // Chains.
    for (i, n) in m.nodes.iter().enumerate() {
        let chain = sys
            .chain(&n.id)
            .ok_or_else(|| format!("no chain for {}", m.label(i)))?;
        theater_supervisor::chain::verify(&chain, None)
            .map_err(|e| format!("chain of {} does not verify: {e}", m.label(i)))?;
        let count = |t: &str| chain.iter().filter(|e| e.event_type == t).count();
        let restarts = n.restarts as usize;
        expect(
            count("lifecycle.start") == restarts + 1 && count("lifecycle.restart") == restarts,
            || {
                format!(
                    "chain of {}: {} starts and {} restarts for {restarts} restarts",
                    m.label(i),
                    count("lifecycle.start"),
                    count("lifecycle.restart")
                )
            },
        )?;
        let last = chain.last().map(|e| e.event_type.as_str());
        let want_last = match n.status {
            Status::Live => None,
            Status::Stopped => Some("lifecycle.stopped"),
            Status::Failed => Some("lifecycle.failed"),
        };
        if let Some(w) = want_last {
            expect(last == Some(w), || {
                format!("chain of {} ends with {last:?}, expected {w}", m.label(i))
            })?;
        }
    }
    Ok(())
}

async fn check(h: &Harness, m: &Model) -> Result<(), String> {
    check_callbacks(h, m).await?;
    check_host(h, m).await
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

static CASES: AtomicUsize = AtomicUsize::new(0);
static STEPS: AtomicUsize = AtomicUsize::new(0);
/// Races won by the message (crash or shutdown) and by the contender.
static RACES: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Runs one generated sequence on a fresh host; returns the log of what it did on failure.
async fn run_case(config: SystemConfig, ops: &[Op]) -> Result<(), String> {
    let h = Harness::start_with(config, "").await;
    let mut m = Model::new(&h.root);
    let mut log: Vec<String> = Vec::new();
    let fail = |m: &Model, log: &[String], e: String| {
        let steps: String = log
            .iter()
            .enumerate()
            .map(|(i, l)| format!("\n  {:>2}. {l}", i + 1))
            .collect();
        Err(format!("{}\nsteps:{steps}", m.pretty(&e)))
    };
    for op in ops {
        let done = match apply(&h, &mut m, op).await {
            Ok(d) => messaging::settle(&mut m).await.map(|()| d),
            Err(e) => Err(e),
        };
        STEPS.fetch_add(1, Ordering::Relaxed);
        match done {
            Ok(d) => log.push(d),
            Err(e) => {
                log.push(format!("{op:?}"));
                return fail(&m, &log, e);
            }
        }
        if let Err(e) = check(&h, &m).await {
            return fail(&m, &log, e);
        }
    }
    // Anything wrongly duplicated or late would have arrived by now.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Err(e) = check(&h, &m).await {
        log.push("(settled)".into());
        return fail(&m, &log, e);
    }
    // Stopping the root from outside takes the whole tree down; nothing is told (no parent).
    if let Err(e) = h.system.stop_actor(&h.root).await {
        return fail(&m, &log, format!("stopping the root failed: {e}"));
    }
    m.stop_root();
    log.push("host stops the root".into());
    if let Err(e) = messaging::settle(&mut m).await {
        return fail(&m, &log, e);
    }
    if let Err(e) = check_host(&h, &m).await {
        return fail(&m, &log, e);
    }
    if let Some(a) = h.system.actors().iter().find(|a| !a.status.is_terminal()) {
        return fail(&m, &log, format!("{} still {:?}", a.id, a.status));
    }
    let outcome = h.system.wait_root().await;
    if outcome != RootOutcome::Stopped {
        return fail(&m, &log, format!("root outcome {outcome:?}"));
    }
    Ok(())
}

#[test]
fn random_operation_sequences_match_the_model() {
    let started = Instant::now();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let seed: u64 = std::env::var("THEATER_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    println!("model-based test: seed {seed} (replay with THEATER_MODEL_SEED={seed})");
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (seed >> ((i % 8) * 8)) as u8 ^ (i as u8);
    }
    let config = Config {
        cases,
        max_shrink_iters: 50,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    // Compiled components are cached on disk across the cases' fresh engines.
    let cache = tempfile::tempdir().expect("cache dir");
    let result = runner.run(&prop::collection::vec(op(), 5..25), |ops| {
        CASES.fetch_add(1, Ordering::Relaxed);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let config = SystemConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            ..SystemConfig::default()
        };
        rt.block_on(run_case(config, &ops))
            .map_err(TestCaseError::fail)
    });
    println!(
        "model-based test: {} cases, {} steps in {:.1} s",
        CASES.load(Ordering::Relaxed),
        STEPS.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    println!(
        "model-based test: races won by the message {}, by the contender {}",
        RACES[0].load(Ordering::Relaxed),
        RACES[1].load(Ordering::Relaxed)
    );
    println!(
        "model-based test: {} messaging steps acted, {} requesters told their target ended",
        messaging::ACTED[0].load(Ordering::Relaxed),
        messaging::ACTED[1].load(Ordering::Relaxed)
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
