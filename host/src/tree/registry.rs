//! The registry of every actor of a host: each actor's record (parent, children in start order,
//! status, start arguments, last state, chain), the order they were created in, and the
//! forgetting of ended actors beyond `SystemConfig::retain_stopped`. Generic over what the
//! engine keeps with a record (its mailbox's message type `M`, its export table `X`), so this
//! module holds no wasmtime type and is tested without wasm.

use super::{ActorId, ChildList, Mailbox};
use crate::chain::Chain;
use crate::error::HostError;
use crate::lifecycle::StartMode;
use crate::permissions::{ActorManifest, Grants};
use crate::store::{StoreSink, StoreWrite};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use theater_core::status::ActorStatus;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How an actor was first started; a restart starts it again the same way.
#[derive(Clone)]
pub(crate) struct StartArgs {
    pub mode: StartMode,
    pub bytes: Option<Vec<u8>>,
}

/// One actor as the tree knows it.
pub(crate) struct ActorRecord<M, X> {
    pub name: String,
    pub parent: Option<ActorId>,
    pub children: ChildList,
    pub status: ActorStatus,
    pub status_tx: watch::Sender<ActorStatus>,
    pub manifest: Arc<ActorManifest>,
    pub grants: Arc<Grants>,
    pub start: StartArgs,
    pub state: Option<Vec<u8>>,
    pub chain: Arc<Mutex<Chain>>,
    pub mailbox: Option<Mailbox<M>>,
    /// What its component exports (messages and handler calls are checked against it).
    pub exports: Arc<X>,
    pub stop_tx: Option<oneshot::Sender<()>>,
    pub join: Option<JoinHandle<()>>,
    pub restarts: u32,
    /// Set by the parent (`theater:extension/child-control`); else the config's.
    pub shutdown_timeout: Option<Duration>,
    /// Where its status, state and events are stored, if the system has a store.
    pub sink: Option<Arc<StoreSink>>,
}

impl<M, X> ActorRecord<M, X> {
    /// Sets the status, tells whoever waits on it, and stores it.
    pub fn set_status(&mut self, s: ActorStatus) {
        self.status = s;
        self.status_tx.send_replace(s);
        if let Some(sink) = &self.sink {
            sink.storage.write(StoreWrite::Status {
                actor: sink.actor.clone(),
                status: s,
                restarts: self.restarts,
            });
        }
    }
}

/// Every actor of a host.
pub(crate) struct Registry<M, X> {
    pub actors: HashMap<ActorId, ActorRecord<M, X>>,
    /// Ids in creation order (for listings and event dumps); may hold evicted ids until the
    /// next compaction.
    pub order: Vec<ActorId>,
    /// Actors that ended, oldest first: past `SystemConfig::retain_stopped` their records are
    /// dropped from memory.
    ended: VecDeque<ActorId>,
    /// Evicted ids still in `order`.
    evicted: usize,
    /// Without a store: ids (and parents) of ended actors whose records were dropped, so asking
    /// for them says so instead of "unknown" (at most [`MAX_DROPPED_IDS`], oldest forgotten).
    pub dropped: HashMap<ActorId, Option<ActorId>>,
    dropped_order: VecDeque<ActorId>,
    /// Records dropped so far (with or without a store).
    pub dropped_total: u64,
    /// Tasks of actors that ended by themselves and may still be finishing (their teardown,
    /// their store barrier, telling their parent): `ActorSystem::shutdown` waits for them.
    pub finishing: Vec<JoinHandle<()>>,
}

impl<M, X> Default for Registry<M, X> {
    fn default() -> Self {
        Self {
            actors: HashMap::new(),
            order: Vec::new(),
            ended: VecDeque::new(),
            evicted: 0,
            dropped: HashMap::new(),
            dropped_order: VecDeque::new(),
            dropped_total: 0,
            finishing: Vec::new(),
        }
    }
}

/// Ids of dropped records remembered without a store (about 100 bytes each).
const MAX_DROPPED_IDS: usize = 1_000_000;

impl<M, X> Registry<M, X> {
    /// Notes that `id` ended; drops the oldest ended records beyond `retain` (remembering their
    /// ids unless `stored`: then the store has them).
    pub fn ended(&mut self, id: &str, retain: usize, stored: bool) {
        self.ended.push_back(id.to_string());
        while self.ended.len() > retain {
            let Some(old) = self.ended.pop_front() else {
                break;
            };
            // It may have been restarted since (then it is live, or ended again later).
            if self
                .actors
                .get(&old)
                .is_some_and(|r| r.status.is_terminal())
            {
                let rec = self.actors.remove(&old);
                self.evicted += 1;
                self.dropped_total += 1;
                if !stored && let Some(rec) = rec {
                    self.dropped.insert(old.clone(), rec.parent);
                    self.dropped_order.push_back(old);
                    if self.dropped_order.len() > MAX_DROPPED_IDS
                        && let Some(forget) = self.dropped_order.pop_front()
                    {
                        self.dropped.remove(&forget);
                    }
                }
            }
        }
        if self.evicted > 1024 && self.evicted * 2 > self.order.len() {
            let actors = &self.actors;
            self.order.retain(|id| actors.contains_key(id));
            self.evicted = 0;
        }
    }

    /// Adds the record of an actor that had already ended (read back from the store), unless
    /// one is there by now; it counts as the newest ended record.
    pub fn insert_ended(&mut self, id: &str, rec: ActorRecord<M, X>, retain: usize, stored: bool) {
        if self.actors.contains_key(id) {
            return;
        }
        self.actors.insert(id.to_string(), rec);
        self.order.push(id.to_string());
        self.ended(id, retain, stored);
    }

    /// The record of `child` if it is `caller`'s child (live or not): a parent may only manage
    /// its own children.
    pub fn child_of(&self, caller: &str, child: &str) -> Result<&ActorRecord<M, X>, HostError> {
        let rec = self
            .actors
            .get(child)
            .ok_or_else(|| HostError::UnknownChild(child.to_string()))?;
        if rec.parent.as_deref() != Some(caller) {
            return Err(HostError::NotYourChild(child.to_string()));
        }
        Ok(rec)
    }

    /// Ids of `id`'s live children in start order.
    pub fn children(&self, id: &str) -> Vec<ActorId> {
        self.actors
            .get(id)
            .map(|r| r.children.ids())
            .unwrap_or_default()
    }

    /// Number of `id`'s live children.
    pub fn children_count(&self, id: &str) -> usize {
        self.actors.get(id).map_or(0, |r| r.children.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::permissions::Limits;
    use std::path::PathBuf;

    type Reg = Registry<(), ()>;

    fn record(name: &str, parent: Option<&str>, status: ActorStatus) -> ActorRecord<(), ()> {
        let m = Manifest::parse(
            &format!("name = \"{name}\"\ncomponent = \"a.wasm\""),
            name,
            PathBuf::from("/m"),
            None,
        )
        .unwrap();
        ActorRecord {
            name: name.to_string(),
            parent: parent.map(str::to_string),
            children: ChildList::default(),
            status,
            status_tx: watch::channel(status).0,
            manifest: Arc::new(ActorManifest::new(m, Vec::new())),
            grants: Arc::new(Grants {
                limits: Limits {
                    memory_bytes: 1,
                    table_elements: 1,
                    call_timeout: Duration::from_secs(1),
                },
                depth: 0,
                handlers: Vec::new(),
            }),
            start: StartArgs {
                mode: StartMode::Spawn,
                bytes: None,
            },
            state: None,
            chain: Arc::default(),
            mailbox: None,
            exports: Arc::new(()),
            stop_tx: None,
            join: None,
            restarts: 0,
            shutdown_timeout: None,
            sink: None,
        }
    }

    fn add(reg: &mut Reg, id: &str, parent: Option<&str>, status: ActorStatus) {
        reg.actors
            .insert(id.to_string(), record(id, parent, status));
        reg.order.push(id.to_string());
        if let Some(p) = parent.and_then(|p| reg.actors.get_mut(p)) {
            p.children.push(id);
        }
    }

    #[test]
    fn a_parent_may_only_manage_its_own_children() {
        let mut reg = Reg::default();
        add(&mut reg, "root", None, ActorStatus::Running);
        add(&mut reg, "a", Some("root"), ActorStatus::Running);
        add(&mut reg, "b", Some("a"), ActorStatus::Running);
        assert_eq!(reg.child_of("root", "a").unwrap().name, "a");
        assert_eq!(
            reg.child_of("root", "b").err().unwrap().to_string(),
            "permission denied: actor `b` is not a child of this actor (a parent may only manage its own children)"
        );
        assert_eq!(
            reg.child_of("root", "zzz").err().unwrap().to_string(),
            "unknown child id `zzz`: no actor with this id exists"
        );
        assert_eq!(reg.children("root"), ["a"]);
        assert_eq!((reg.children_count("a"), reg.children_count("b")), (1, 0));
    }

    #[test]
    fn ended_records_beyond_retain_are_dropped_oldest_first_and_remembered_without_a_store() {
        let mut reg = Reg::default();
        add(&mut reg, "root", None, ActorStatus::Running);
        for id in ["a", "b", "c"] {
            add(&mut reg, id, Some("root"), ActorStatus::Stopped);
        }
        reg.ended("a", 2, false);
        reg.ended("b", 2, false);
        assert!(reg.actors.contains_key("a") && reg.actors.contains_key("b"));
        reg.ended("c", 2, false);
        assert!(
            !reg.actors.contains_key("a"),
            "the oldest ended record is dropped"
        );
        assert_eq!(reg.dropped.get("a"), Some(&Some("root".to_string())));
        assert_eq!(reg.dropped_total, 1);
        // A record that was started again since it ended is kept.
        reg.actors.get_mut("b").unwrap().status = ActorStatus::Running;
        add(&mut reg, "d", Some("root"), ActorStatus::Failed);
        reg.ended("d", 1, true);
        assert!(reg.actors.contains_key("b"), "live again: kept");
        assert!(!reg.actors.contains_key("c"));
        assert!(
            !reg.dropped.contains_key("c"),
            "with a store the store remembers it"
        );
        assert_eq!(reg.dropped_total, 2);
    }

    #[test]
    fn the_creation_order_is_compacted_once_most_of_it_is_evicted() {
        let mut reg = Reg::default();
        for i in 0..3000 {
            let id = format!("x{i}");
            add(&mut reg, &id, None, ActorStatus::Stopped);
            reg.ended(&id, 10, true);
        }
        assert_eq!(reg.actors.len(), 10);
        assert!(reg.order.len() < 3000, "evicted ids leave the order list");
        assert!(
            reg.order
                .iter()
                .rev()
                .take(10)
                .all(|id| reg.actors.contains_key(id))
        );
    }
}
