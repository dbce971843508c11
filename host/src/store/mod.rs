//! Durable storage of every actor's record, event chain and last state.
//!
//! The runtime talks to storage only through the [`Storage`] trait: writes are queued in order
//! ([`Storage::write`]) and a barrier ([`Storage::sync`]) says when everything queued before it
//! is durable. [`SqliteStore`] is the embedded implementation; a server-backed store implements
//! the same trait.
//!
//! **Durability promise** (what the host waits for, see README "What happens when things go
//! wrong"): the events and statuses recorded by a supervisor operation (`spawn`, `resume`,
//! `restart-child`, `stop-child`, an external stop) are committed before the operation returns
//! to its caller, and the events of a child's failure or exit are committed before its parent
//! is told. Every other event (calls, messages, logs) and the state after each call are
//! committed by the writer in its next batch, normally within a millisecond; a host crash can
//! lose those, and then the stored chain simply ends earlier (a prefix, which still verifies).
//!
//! **Faults** (see README "What happens when things go wrong"): a store never drops a queued
//! write and never writes one out of order. A batch that cannot be committed (a full disk, a
//! busy database) stays queued and is retried with the writes queued after it, so a chain never
//! has a gap; barriers wait meanwhile. If the store cannot commit for
//! [`StoreOptions::stall_timeout`], or hits an error retrying cannot fix (a corrupted file), it
//! is [`StoreHealth::Failed`]: every barrier then fails with the store's error and nothing more
//! is written; the actor system stops every actor when it sees that. Appends never replace a
//! stored event: positions are unique per actor and a conflict is an error.

mod postgres;
mod sqlite;

pub use postgres::{
    LeaseInfo, LeaseLost, PostgresOptions, PostgresStore, default_host_id, is_postgres_url,
};
pub use sqlite::{Durability, SqliteStore};

use crate::actor::ActorId;
use crate::chain::{ChainEvent, ChainSink};
use std::path::PathBuf;
use std::sync::Arc;
use theater_core::status::ActorStatus;

/// Completes when every write queued before the barrier is durable, or with the store's error
/// once the store has failed for good ([`StoreHealth::Failed`]).
pub type SyncWait = tokio::sync::oneshot::Receiver<Result<(), String>>;

/// What a store can do right now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreHealth {
    /// Commits succeed.
    #[default]
    Healthy,
    /// The last commit failed and is being retried (queued writes are kept; barriers wait).
    Degraded(String),
    /// The store gave up: a fatal error, or no commit for the stall timeout. Barriers fail with
    /// this error and nothing more is written.
    Failed(String),
}

/// How a store reacts to faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// When commits reach the disk.
    pub durability: Durability,
    /// How long a failing store keeps retrying (the disk may free up) before it fails for good.
    pub stall_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            stall_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Where an actor's manifest came from, so it can be read again when the tree is resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredManifest {
    /// A manifest file (canonical path).
    Path(PathBuf),
    /// An inline manifest passed to `spawn`/`resume`, with the directory it resolves against.
    Inline {
        /// The TOML text.
        text: String,
        /// The directory relative paths resolve against.
        dir: PathBuf,
    },
}

/// One actor as stored.
#[derive(Debug, Clone)]
pub struct StoredActor {
    /// Id (kept across restarts and resumes).
    pub id: ActorId,
    /// Parent id; `None` for a root.
    pub parent: Option<ActorId>,
    /// Manifest name.
    pub name: String,
    /// Its manifest.
    pub manifest: StoredManifest,
    /// How it was first started: `root`, `spawn` or `resume`.
    pub start_mode: String,
    /// The bytes it was first started with (a restart starts it with them again).
    pub start_bytes: Option<Vec<u8>>,
    /// Last stored status.
    pub status: ActorStatus,
    /// Last stored state.
    pub state: Option<Vec<u8>>,
    /// Restarts so far.
    pub restarts: u32,
    /// Position after the highest stored event of its chain (0 when none): where the chain
    /// continues. Equals the number of stored events unless the store has a gap.
    pub next_index: u64,
}

/// A queued write.
#[derive(Debug, Clone)]
pub enum StoreWrite {
    /// A new actor (state `None`, status `starting`).
    Actor(Box<StoredActor>),
    /// Event number `index` (0-based) of `actor`'s chain.
    Event {
        /// The actor.
        actor: ActorId,
        /// Position in the chain.
        index: u64,
        /// The event.
        event: ChainEvent,
    },
    /// The actor's latest state.
    State {
        /// The actor.
        actor: ActorId,
        /// Its state.
        state: Option<Vec<u8>>,
    },
    /// The actor's status and restart count.
    Status {
        /// The actor.
        actor: ActorId,
        /// Its status.
        status: ActorStatus,
        /// Restarts so far.
        restarts: u32,
    },
}

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
#[error("event store: {0}")]
pub struct StoreError(pub String);

/// A durable store of actors, chains and states.
pub trait Storage: Send + Sync + 'static {
    /// Queues a write; writes are applied in the order they were queued.
    fn write(&self, w: StoreWrite);
    /// A barrier: completes once every write queued before it is durable.
    fn sync(&self) -> SyncWait;
    /// Every stored actor, in creation order.
    fn actors(&self) -> Result<Vec<StoredActor>, StoreError>;
    /// One stored actor.
    fn actor(&self, id: &str) -> Result<Option<StoredActor>, StoreError>;
    /// Stored events of one actor from position `from` on, oldest first; a missing position
    /// is an error naming it.
    fn events(&self, actor: &str, from: u64) -> Result<Vec<ChainEvent>, StoreError>;
    /// Every stored event of one actor with its position, oldest first, gaps included (for
    /// `verify`, which tells gaps, forks and tampering apart).
    fn stored_events(&self, actor: &str) -> Result<Vec<(u64, ChainEvent)>, StoreError>;
    /// The store's health, updated as commits succeed or fail.
    fn health(&self) -> tokio::sync::watch::Receiver<StoreHealth>;
}

/// Sends one actor's chain events to a store.
pub(crate) struct StoreSink {
    pub actor: ActorId,
    pub storage: Arc<dyn Storage>,
}

impl ChainSink for StoreSink {
    fn appended(&self, index: u64, event: &ChainEvent) {
        self.storage.write(StoreWrite::Event {
            actor: self.actor.clone(),
            index,
            event: event.clone(),
        });
    }
}

/// The actors of the tree rooted at `root`, in the order given (creation order: parents before
/// their children).
pub fn tree_members(actors: Vec<StoredActor>, root: &str) -> Vec<StoredActor> {
    let mut members = std::collections::HashSet::new();
    actors
        .into_iter()
        .filter(|a| {
            let is = match &a.parent {
                None => a.id == root,
                Some(p) => members.contains(p),
            };
            if is {
                members.insert(a.id.clone());
            }
            is
        })
        .collect()
}
