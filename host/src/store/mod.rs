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

mod postgres;
mod sqlite;

pub use postgres::{
    LeaseInfo, LeaseLost, PostgresOptions, PostgresStore, StoreHealth, default_host_id,
    is_postgres_url,
};
pub use sqlite::{Durability, SqliteStore};

use crate::actor::ActorId;
use crate::chain::{ChainEvent, ChainSink};
use std::path::PathBuf;
use std::sync::Arc;
use theater_core::status::ActorStatus;

/// Completes when every write queued before the barrier is durable (or the store failed).
pub type SyncWait = tokio::sync::oneshot::Receiver<Result<(), String>>;

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
    /// Number of stored events of its chain.
    pub events: u64,
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
    /// Stored events of one actor from position `from` on, oldest first.
    fn events(&self, actor: &str, from: u64) -> Result<Vec<ChainEvent>, StoreError>;
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
