//! The messaging part of the model-based test (CONTRACT §7): channels between `peer` actors
//! and requests from the host that a peer leaves outstanding, answers or cancels later.
//!
//! The model holds the open channels (with their two ends) and the waiting requesters. A live
//! peer's state is its log (`open`, `msg`, `close`, `req` lines, see `tests/actors/peer`), so
//! the model's copy of it checks every delivery, its order and that a close arrives exactly
//! once; when a peer stops, fails or restarts, every channel it was an end of closes (the other
//! end logs `close` once) and every requester waiting on it must get `err`.

use super::{Kind, Model, Status, expect, pick};
use proptest::prelude::*;
use proptest::sample::Index;
use std::time::Duration;
use theater_supervisor_e2e::{Harness, ask, cmd, outstanding};
use tokio::task::JoinHandle;

/// Messaging steps that acted (opened, sent, closed, left outstanding, answered), and
/// requesters that got `err` because their target ended: printed by the test.
pub(super) static ACTED: [std::sync::atomic::AtomicUsize; 2] = [
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
];

fn acted(i: usize) {
    ACTED[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A fresh peer's state: no quiet messages counted, no ping-pong done, an empty log.
pub(super) const PEER_FRESH: &str = "0 no";

/// One generated messaging step.
#[derive(Clone, Debug)]
pub(super) enum MsgOp {
    /// A live peer opens a channel to another (accepted, or refused with a message).
    Open { a: Index, b: Index, refuse: bool },
    /// One end of an open channel sends on it (`back`: the target end).
    Say { ch: Index, back: bool },
    /// One end closes an open channel.
    Close { ch: Index, back: bool },
    /// The host requests `later` of a live peer: the request stays outstanding.
    Later { target: Index },
    /// The peer answers a waiting request.
    Respond { w: Index },
    /// The peer cancels a waiting request.
    Cancel { w: Index },
}

pub(super) fn op() -> impl Strategy<Value = MsgOp> {
    prop_oneof![
        3 => (any::<Index>(), any::<Index>(), proptest::bool::weighted(0.2))
            .prop_map(|(a, b, refuse)| MsgOp::Open { a, b, refuse }),
        3 => (any::<Index>(), any::<bool>()).prop_map(|(ch, back)| MsgOp::Say { ch, back }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(ch, back)| MsgOp::Close { ch, back }),
        2 => any::<Index>().prop_map(|target| MsgOp::Later { target }),
        1 => any::<Index>().prop_map(|w| MsgOp::Respond { w }),
        1 => any::<Index>().prop_map(|w| MsgOp::Cancel { w }),
    ]
}

#[derive(Clone, Debug)]
struct Chan {
    id: String,
    /// Opener, target.
    ends: [usize; 2],
}

/// A host request waiting on a peer.
struct Waiter {
    target: usize,
    id: String,
    task: JoinHandle<Result<Vec<u8>, String>>,
    /// Its target ended: it must get `err`.
    ended: bool,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Waiter({} on #{}, ended {})",
            self.id, self.target, self.ended
        )
    }
}

/// Open channels and waiting requesters.
#[derive(Debug, Default)]
pub(super) struct Net {
    chans: Vec<Chan>,
    waiters: Vec<Waiter>,
    /// Numbers the generated texts, so each line is unique.
    next: u32,
}

impl Model {
    fn log(&mut self, i: usize, line: String) {
        if self.nodes[i].status != Status::Live {
            return;
        }
        let s = self.nodes[i]
            .state
            .get_or_insert_with(|| PEER_FRESH.to_string());
        s.push('\n');
        s.push_str(&line);
    }

    /// Peer `i` stops, fails or restarts: its channels close (the other ends log it once) and
    /// the requests waiting on it must end with `err`.
    pub(super) fn peer_gone(&mut self, i: usize) {
        let (gone, kept): (Vec<Chan>, Vec<Chan>) = std::mem::take(&mut self.net.chans)
            .into_iter()
            .partition(|c| c.ends.contains(&i));
        self.net.chans = kept;
        for c in gone {
            let other = if c.ends[0] == i { c.ends[1] } else { c.ends[0] };
            self.log(other, format!("close {}", c.id));
        }
        for w in self.net.waiters.iter_mut().filter(|w| w.target == i) {
            w.ended = true;
        }
    }

    fn live_peers(&self) -> Vec<usize> {
        self.live_where(|n| n.kind == Kind::Peer)
    }
}

/// The live peers, after spawning peers under the root until there are at least `n`.
async fn peers(h: &Harness, m: &mut Model, n: usize) -> Result<Vec<usize>, String> {
    while m.live_peers().len() < n {
        let r = cmd(&h.system, &h.root, &["spawn", "peer.toml"]).await;
        let id = r
            .strip_prefix("ok ")
            .ok_or_else(|| format!("spawn of a peer under the root failed: {r}"))?;
        m.add(0, Kind::Peer, id.to_string(), None);
    }
    Ok(m.live_peers())
}

impl Model {
    fn text(&mut self, prefix: &str) -> String {
        self.net.next += 1;
        format!("{prefix}{}", self.net.next)
    }
}

async fn outcome(
    task: JoinHandle<Result<Vec<u8>, String>>,
) -> Result<Result<String, String>, String> {
    match tokio::time::timeout(Duration::from_secs(20), task).await {
        Ok(Ok(r)) => Ok(r.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Ok(Err(e)) => Err(format!("requester task: {e}")),
        Err(_) => Err("a waiting requester got no answer within 20 s".to_string()),
    }
}

/// Every requester whose target ended must have got `err` saying so.
pub(super) async fn settle(m: &mut Model) -> Result<(), String> {
    let (ended, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut m.net.waiters)
        .into_iter()
        .partition(|w| w.ended);
    m.net.waiters = waiting;
    for w in ended {
        let r = outcome(w.task).await?;
        expect(
            matches!(&r, Err(e) if e.contains("before answering")),
            || {
                format!(
                    "request {} to {} whose target ended got {r:?}",
                    w.id,
                    m.label(w.target)
                )
            },
        )?;
        acted(1);
    }
    Ok(())
}

pub(super) async fn apply(h: &Harness, m: &mut Model, op: &MsgOp) -> Result<String, String> {
    let sys = &h.system;
    match op {
        MsgOp::Open { a, b, refuse } => {
            let peers = peers(h, m, 2).await?;
            let Some(pa) = pick(a, &peers) else {
                return Ok("(open: no live peer)".into());
            };
            let others: Vec<usize> = peers.into_iter().filter(|&p| p != pa).collect();
            let Some(pb) = pick(b, &others) else {
                return Ok("(open: one live peer only)".into());
            };
            let (la, lb) = (m.label(pa), m.label(pb));
            if *refuse {
                let why = m.text("no");
                let r = ask(
                    sys,
                    &m.nodes[pa].id,
                    &format!("open {} refuse {why}", m.nodes[pb].id),
                )
                .await;
                expect(
                    r.starts_with("err ") && r.ends_with(&format!("refused: {why}")),
                    || format!("{la} open to {lb} should be refused with {why}: {r}"),
                )?;
                return Ok(format!("{lb} refuses a channel from {la}"));
            }
            let hello = m.text("hello");
            let r = ask(
                sys,
                &m.nodes[pa].id,
                &format!("open {} {hello}", m.nodes[pb].id),
            )
            .await;
            let id = r
                .strip_prefix("ok ")
                .filter(|id| id.len() == 36)
                .ok_or_else(|| format!("{la} open to {lb} replied {r}"))?
                .to_string();
            m.log(pb, format!("open {id} {hello}"));
            m.net.chans.push(Chan {
                id: id.clone(),
                ends: [pa, pb],
            });
            acted(0);
            Ok(format!("{la} opens channel {id} to {lb}"))
        }
        MsgOp::Say { ch, back } | MsgOp::Close { ch, back } => {
            let Some(c) = pick(ch, &(0..m.net.chans.len()).collect::<Vec<_>>()) else {
                return Ok("(no open channel)".into());
            };
            let chan = m.net.chans[c].clone();
            let (from, to) = if *back {
                (chan.ends[1], chan.ends[0])
            } else {
                (chan.ends[0], chan.ends[1])
            };
            let (lf, lt) = (m.label(from), m.label(to));
            if matches!(op, MsgOp::Say { .. }) {
                let text = m.text("m");
                let r = ask(sys, &m.nodes[from].id, &format!("say {} {text}", chan.id)).await;
                expect(r == "ok", || format!("{lf} say on {} replied {r}", chan.id))?;
                m.log(to, format!("msg {} {text}", chan.id));
                acted(0);
                Ok(format!("{lf} says {text} to {lt}"))
            } else {
                let r = ask(sys, &m.nodes[from].id, &format!("close {}", chan.id)).await;
                expect(r == "ok", || {
                    format!("{lf} close of {} replied {r}", chan.id)
                })?;
                m.net.chans.remove(c);
                m.log(to, format!("close {}", chan.id));
                // The closed id is refused to both ends from now on.
                let r = ask(sys, &m.nodes[to].id, &format!("say {} late", chan.id)).await;
                expect(r.starts_with("err channel"), || {
                    format!("{lt} say on closed {} replied {r}", chan.id)
                })?;
                acted(0);
                Ok(format!("{lf} closes channel {} to {lt}", chan.id))
            }
        }
        MsgOp::Later { target } => {
            let Some(t) = pick(target, &peers(h, m, 1).await?) else {
                return Ok("(later: no live peer)".into());
            };
            let tag = m.text("t");
            let before: Vec<String> = m
                .net
                .waiters
                .iter()
                .filter(|w| w.target == t)
                .map(|w| w.id.clone())
                .collect();
            let (system, id) = (sys.clone(), m.nodes[t].id.clone());
            let msg = format!("later {tag}").into_bytes();
            let task =
                tokio::spawn(
                    async move { system.request(&id, msg).await.map_err(|e| e.to_string()) },
                );
            let mut new = None;
            for _ in 0..2000 {
                let now = outstanding(sys, &m.nodes[t].id).await;
                new = now.into_iter().find(|i| !before.contains(i));
                if new.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let rid =
                new.ok_or_else(|| format!("{} never listed the request {tag}", m.label(t)))?;
            m.log(t, format!("req {rid} {tag}"));
            m.net.waiters.push(Waiter {
                target: t,
                id: rid.clone(),
                task,
                ended: false,
            });
            acted(0);
            Ok(format!(
                "host request {rid} ({tag}) outstanding at {}",
                m.label(t)
            ))
        }
        MsgOp::Respond { w } | MsgOp::Cancel { w } => {
            let Some(k) = pick(w, &(0..m.net.waiters.len()).collect::<Vec<_>>()) else {
                return Ok("(nobody waiting)".into());
            };
            let waiter = m.net.waiters.remove(k);
            let (t, rid) = (waiter.target, waiter.id.clone());
            let lt = m.label(t);
            let respond = matches!(op, MsgOp::Respond { .. });
            let answer = m.text("r");
            let verb = if respond {
                format!("respond {rid} {answer}")
            } else {
                format!("cancel {rid}")
            };
            let r = ask(sys, &m.nodes[t].id, &verb).await;
            expect(r == "ok", || format!("{lt} {verb} replied {r}"))?;
            let got = outcome(waiter.task).await?;
            let ok = if respond {
                got.as_deref() == Ok(answer.as_str())
            } else {
                matches!(&got, Err(e) if e.contains("cancelled"))
            };
            expect(ok, || format!("{lt} {verb}: the requester got {got:?}"))?;
            // At most once.
            let r = ask(sys, &m.nodes[t].id, &format!("respond {rid} again")).await;
            expect(r.starts_with("err unknown request id"), || {
                format!("{lt} answering {rid} twice replied {r}")
            })?;
            acted(0);
            Ok(format!("{lt} {verb}"))
        }
    }
}
