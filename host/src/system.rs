//! The actor system: one wasmtime `Engine` and `Linker`, the registry of every actor, and the
//! supervision operations (start, stop, restart, notify) that the WIT interfaces and the
//! embedding API are built on.

mod abandon;

use crate::actor::{
    ActorCtx, ActorId, CallPath, DEFAULT_SHUTDOWN_TIMEOUT, Exit, Mailbox, Running, record,
};
use crate::chain::{Chain, ChainEvent, ChainSink, EventData};
use crate::children::ChildList;
use crate::components::{ComponentCache, ExportTable, FileStamp};
use crate::handler::{
    ActorEntry, ActorMailbox, ActorManifest, ActorRef, Handler, HandlerRegistry, MailboxError,
};
use crate::lifecycle::{End, Failure, Lifecycle, StartMode, StopReason};
use crate::manifest::Manifest;
use crate::messaging::{HANDLE_REQUEST, HANDLE_SEND, RequestCall, SendCall};
use crate::metrics::OpTimings;
use crate::permissions::{Grants, Limits};
use crate::store::{Storage, StoreSink, StoreWrite, StoredActor, StoredManifest};
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
pub use theater_core::status::ActorStatus;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use wasmtime::component::Linker;
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

/// One log line written by an actor through `runtime.log`.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The actor's id.
    pub actor_id: ActorId,
    /// The actor's manifest name.
    pub actor_name: String,
    /// The message.
    pub message: String,
}

/// Where `runtime.log` lines go besides `tracing`.
pub type LogSink = Arc<dyn Fn(&LogLine) + Send + Sync>;

/// Settings of an [`ActorSystem`].
#[derive(Clone)]
pub struct SystemConfig {
    /// How long a stopped actor's in-flight call may run before the actor is killed.
    pub shutdown_timeout: Duration,
    /// Deadline of every export call (init, handlers); past it the actor fails with
    /// `operation-timeout`. The host-wide ceiling of the manifests' `limits.call_timeout_ms`.
    pub call_timeout: Duration,
    /// Host-wide ceiling (and default) of the manifests' `limits.table_elements`. The ceiling of
    /// `limits.memory_bytes` is the allocator's `max_memory_bytes`.
    pub table_elements: u64,
    /// Live actors this host runs at most (every tree together); a start past it is refused.
    pub max_actors: usize,
    /// Deepest supervision tree: a root is at depth 0; spawning a child deeper is refused.
    pub max_depth: u32,
    /// Receives every `runtime.log` line.
    pub log_sink: Option<LogSink>,
    /// Let guests built for WASI write to the host's stdout/stderr.
    pub inherit_stdio: bool,
    /// How instance memory is allocated.
    pub allocator: Allocator,
    /// Directory of the on-disk compiled-component cache (wasmtime's cache, keyed by the
    /// component bytes and the engine's configuration); `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// When set, host functions record how long supervisor operations take (benchmarks).
    pub timings: Option<Arc<OpTimings>>,
    /// Durable store of every actor's record, chain and state (see [`crate::store`]); `None`
    /// keeps everything in memory only.
    pub storage: Option<Arc<dyn Storage>>,
    /// With a store: events of each chain kept in memory (the newest; older ones are read back
    /// from the store). 0 keeps all.
    pub memory_events: usize,
    /// Records (state, chain) of ended actors kept in memory for `get-child-state` /
    /// `get-child-events`; older ones are dropped (with a store, those two then read it).
    pub retain_stopped: usize,
    /// Messages (`send`/`request`) that may wait in one actor's mailbox; more are refused with
    /// an error. Callbacks to parents are not counted.
    pub mailbox_capacity: usize,
    /// This host's id, recorded in every `lifecycle.start` event (the chain shows where each
    /// actor ran; `run --host-id`, with a shared store the lease owner). `None` records none.
    pub host_id: Option<String>,
}

/// How instances get their linear memories and tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// wasmtime's pooling allocator: `max_instances` slots reserved up front, memories
    /// initialised copy-on-write from the component's image. When the pool is full, further
    /// instances come from an on-demand engine (compiled again for it, once per component).
    Pooling {
        /// Live component instances the pool holds.
        max_instances: u32,
        /// Largest linear memory an instance may grow to (also the slot reservation).
        max_memory_bytes: usize,
        /// Extra async stacks beyond one per instance (a live store keeps the stack of its last
        /// call for reuse, so the pool holds `max_instances + max_concurrent_calls` stacks).
        max_concurrent_calls: u32,
    },
    /// wasmtime's on-demand allocator: mmap per instance; memories reserve `max_memory_bytes`.
    OnDemand {
        /// Largest linear memory an instance may grow to (also the reservation).
        max_memory_bytes: usize,
    },
}

impl Allocator {
    /// Largest linear memory an instance may grow to.
    pub fn max_memory_bytes(&self) -> usize {
        match self {
            Self::Pooling {
                max_memory_bytes, ..
            }
            | Self::OnDemand { max_memory_bytes } => *max_memory_bytes,
        }
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Self::Pooling {
            max_instances: 1_000,
            max_memory_bytes: 64 << 20,
            max_concurrent_calls: 1_000,
        }
    }
}

/// The wasmtime `Config` this host uses for an allocator and cache directory: async component
/// model with epoch interruption. Public so benchmarks can build a raw-wasmtime baseline with
/// exactly the same engine settings.
pub fn engine_config(allocator: &Allocator, cache_dir: Option<&Path>) -> wasmtime::Result<Config> {
    let mut wc = Config::new();
    wc.wasm_component_model(true).epoch_interruption(true);
    match allocator {
        Allocator::Pooling {
            max_instances,
            max_memory_bytes,
            max_concurrent_calls,
        } => {
            let n = *max_instances;
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(4))
                .total_memories(n)
                .total_tables(n.saturating_mul(2))
                .total_stacks(n.saturating_add(*max_concurrent_calls))
                .max_memory_size(*max_memory_bytes)
                .max_memories_per_component(2)
                .max_tables_per_component(4)
                .max_core_instances_per_component(8);
            wc.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
                .memory_reservation(*max_memory_bytes as u64)
                .memory_guard_size(64 << 10)
                .memory_reservation_for_growth(0)
                .memory_init_cow(true);
        }
        Allocator::OnDemand { max_memory_bytes } => {
            wc.memory_reservation(*max_memory_bytes as u64)
                .memory_guard_size(64 << 10)
                .memory_reservation_for_growth(0);
        }
    }
    if let Some(dir) = cache_dir {
        let mut cc = CacheConfig::new();
        cc.with_directory(dir);
        wc.cache(Some(Cache::new(cc)?));
    }
    Ok(wc)
}

/// One wasmtime engine with its linker and the components compiled for it.
pub(crate) struct EngineSet {
    pub engine: Engine,
    pub linker: Linker<crate::actor::ActorStore>,
    pub components: ComponentCache,
}

impl EngineSet {
    fn new(config: &Config, handlers: &HandlerRegistry) -> wasmtime::Result<Self> {
        let engine = Engine::new(config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        handlers.add_to_linker(&mut linker)?;
        Ok(Self {
            engine,
            linker,
            components: ComponentCache::default(),
        })
    }

    async fn load(
        &self,
        handlers: &HandlerRegistry,
        path: &Path,
    ) -> Result<Arc<crate::components::LoadedComponent>, String> {
        self.components
            .load(&self.engine, &self.linker, handlers, path)
            .await
    }
}

impl Default for SystemConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            call_timeout: Duration::from_secs(30),
            table_elements: 100_000,
            max_actors: 10_000,
            max_depth: 32,
            log_sink: None,
            inherit_stdio: true,
            allocator: Allocator::default(),
            cache_dir: None,
            timings: None,
            storage: None,
            memory_events: 1024,
            retain_stopped: 1_000,
            mailbox_capacity: 10_000,
            host_id: None,
        }
    }
}

/// How the root actor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootOutcome {
    /// It called `runtime.shutdown(data)`.
    Shutdown(Option<Vec<u8>>),
    /// It failed; the message says why.
    Failed(String),
    /// It was stopped from outside (host API, Ctrl-C).
    Stopped,
    /// The event store failed for good (the message is its error), so the host stopped every
    /// actor: nothing more could be recorded.
    StoreFailed(String),
    /// Another host took the tree over (its lease expired: this host was paused, cut off or too
    /// slow), so this host dropped its copy at once; the message says why.
    LeaseLost(String),
}

/// A summary of one actor, for listings.
#[derive(Debug, Clone)]
pub struct ActorInfo {
    /// Id (UUID v4).
    pub id: ActorId,
    /// Manifest name.
    pub name: String,
    /// Parent id; `None` for a root.
    pub parent: Option<ActorId>,
    /// Current status.
    pub status: ActorStatus,
    /// Live children in start order.
    pub children: Vec<ActorId>,
    /// Number of restarts.
    pub restarts: u32,
}

/// What [`ActorSystem::resume`] brought back.
#[derive(Debug, Clone, Default)]
pub struct ResumeReport {
    /// The first root brought back ([`ActorSystem::wait_root`] waits for it).
    pub root: Option<ActorId>,
    /// Every actor brought back, parents before children.
    pub resumed: Vec<ActorId>,
    /// Actors that were running but could not be brought back, with the reason.
    pub failed: Vec<(ActorId, String)>,
}

/// Errors of the embedding API.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SystemError(pub String);

/// How an actor was first started; a restart starts it again the same way.
#[derive(Clone)]
pub(crate) struct StartArgs {
    pub mode: StartMode,
    pub bytes: Option<Vec<u8>>,
}

pub(crate) struct ActorRecord {
    name: String,
    parent: Option<ActorId>,
    children: ChildList,
    status: ActorStatus,
    status_tx: watch::Sender<ActorStatus>,
    manifest: Arc<ActorManifest>,
    grants: Arc<Grants>,
    start: StartArgs,
    state: Option<Vec<u8>>,
    chain: Arc<Mutex<Chain>>,
    mailbox: Option<Mailbox>,
    /// What its component exports (messages and handler calls are checked against it).
    exports: Arc<ExportTable>,
    stop_tx: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
    restarts: u32,
    /// Set by the parent (`theater:extension/child-control`); else the config's.
    shutdown_timeout: Option<Duration>,
    /// Where its status, state and events are stored, if the system has a store.
    sink: Option<Arc<StoreSink>>,
}

impl ActorRecord {
    fn set_status(&mut self, s: ActorStatus) {
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

#[derive(Default)]
pub(crate) struct Registry {
    actors: HashMap<ActorId, ActorRecord>,
    /// Ids in creation order (for listings and event dumps); may hold evicted ids until the
    /// next compaction.
    order: Vec<ActorId>,
    /// Actors that ended, oldest first: past `SystemConfig::retain_stopped` their records are
    /// dropped from memory.
    ended: std::collections::VecDeque<ActorId>,
    /// Evicted ids still in `order`.
    evicted: usize,
    /// Without a store: ids (and parents) of ended actors whose records were dropped, so asking
    /// for them says so instead of "unknown" (at most [`MAX_DROPPED_IDS`], oldest forgotten).
    dropped: HashMap<ActorId, Option<ActorId>>,
    dropped_order: std::collections::VecDeque<ActorId>,
    /// Records dropped so far (with or without a store).
    dropped_total: u64,
    /// Tasks of actors that ended by themselves and may still be finishing (their teardown,
    /// their store barrier, telling their parent): [`ActorSystem::shutdown`] waits for them.
    finishing: Vec<JoinHandle<()>>,
}

/// Ids of dropped records remembered without a store (about 100 bytes each).
const MAX_DROPPED_IDS: usize = 1_000_000;

impl Registry {
    /// Notes that `id` ended; drops the oldest ended records beyond `retain` (remembering their
    /// ids unless `stored`: then the store has them).
    fn ended(&mut self, id: &str, retain: usize, stored: bool) {
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
}

/// Shared state of the system; every actor's host functions hold an `Arc` of it.
pub(crate) struct SystemInner {
    /// The engine every actor starts on.
    primary: EngineSet,
    /// On-demand engine used when the primary's instance pool is full (built on first need).
    fallback: OnceLock<Result<EngineSet, String>>,
    pub config: SystemConfig,
    /// The handlers of this host.
    pub handlers: Arc<HandlerRegistry>,
    registry: Mutex<Registry>,
    /// Parsed manifest files by canonical path, reused while the file is unchanged.
    manifests: Mutex<HashMap<PathBuf, (FileStamp, Arc<ActorManifest>)>>,
    root: Mutex<Option<ActorId>>,
    /// Live (or starting) actors, checked against `SystemConfig::max_actors`.
    live: AtomicUsize,
    root_outcome: watch::Sender<Option<RootOutcome>>,
    /// Call deadlines are measured on it (host pauses taken out).
    pub(crate) clock: crate::clock::HostClock,
    /// Set once the event store failed for good: no actor starts any more.
    store_failed: OnceLock<String>,
}

/// A stored actor being started again by [`ActorSystem::resume`].
struct Recovered {
    /// Its newest stored events (all of them unless the chain is longer than the memory window).
    tail: Vec<ChainEvent>,
    /// Number of stored events.
    len: u64,
    /// Its last stored state: what `init` gets.
    state: Option<Vec<u8>>,
    restarts: u32,
    /// Opens when the whole tree is back: until then the actor takes no message, so a parent
    /// sees all its recovered children from its first message on.
    gate: watch::Receiver<bool>,
}

struct StartPlan {
    recover: Option<Recovered>,
    id: ActorId,
    parent: Option<ActorId>,
    manifest: Arc<ActorManifest>,
    grants: Arc<Grants>,
    start: StartArgs,
    path: CallPath,
    restart: bool,
}

/// The newest stored events of `a` (at most `window`, all when 0) and the position of the
/// first. A damaged store may have a gap there (hosts before 2026-12 could leave one): then
/// only the last stored event is taken, so the chain still continues from its true end and
/// never overwrites a stored position.
fn stored_tail(
    storage: &dyn Storage,
    a: &StoredActor,
    window: u64,
) -> Result<(u64, Vec<ChainEvent>), crate::store::StoreError> {
    let from = if window == 0 {
        0
    } else {
        a.next_index.saturating_sub(window)
    };
    match storage.events(&a.id, from) {
        Ok(tail) => Ok((from, tail)),
        Err(e) if a.next_index > 0 => {
            tracing::warn!(id = %a.id, error = %e, "stored chain is damaged; continuing it from its last stored event");
            let last = a.next_index - 1;
            Ok((last, storage.events(&a.id, last)?))
        }
        Err(e) => Err(e),
    }
}

/// Cleans up a start whose future is dropped before it finished (see
/// [`SystemInner::abandon_start`]).
struct StartGuard {
    sys: Arc<SystemInner>,
    id: ActorId,
    parent: Option<ActorId>,
    restart: bool,
    armed: bool,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if self.armed {
            self.sys
                .abandon_start(&self.id, self.parent.as_deref(), self.restart);
        }
    }
}

/// Where a manifest came from, for the store.
fn stored_manifest(m: &Manifest) -> StoredManifest {
    match (&m.path, &m.inline_text) {
        (Some(p), _) => StoredManifest::Path(p.clone()),
        (None, text) => StoredManifest::Inline {
            text: text.clone().unwrap_or_default(),
            dir: m.dir.clone(),
        },
    }
}

fn unknown(id: &str) -> String {
    format!(
        "unknown actor id `{}`: no actor with this id exists",
        short_id(id)
    )
}

fn not_your_child(id: &str) -> String {
    format!(
        "permission denied: actor `{}` is not a child of this actor (a parent may only manage its own children)",
        short_id(id)
    )
}

fn unknown_child(id: &str) -> String {
    format!(
        "unknown child id `{}`: no actor with this id exists",
        short_id(id)
    )
}

/// An id as shown in error messages: at most 100 characters (a hostile id may be megabytes).
fn short_id(id: &str) -> std::borrow::Cow<'_, str> {
    match id.char_indices().nth(100) {
        Some((i, _)) => format!("{}... ({} bytes)", &id[..i], id.len()).into(),
        None => id.into(),
    }
}

impl SystemInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while the lock was held must not take every later call down with it: the
        // registry's invariants are restored by each operation, not by the lock.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The on-demand engine used when the pool is full, built on first use.
    fn fallback_engine(&self) -> Result<&EngineSet, String> {
        let max_memory_bytes = self.config.allocator.max_memory_bytes();
        self.fallback
            .get_or_init(|| {
                let config = engine_config(
                    &Allocator::OnDemand { max_memory_bytes },
                    self.config.cache_dir.as_deref(),
                )
                .map_err(|e| e.to_string())?;
                EngineSet::new(&config, &self.handlers).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The host's ceiling of every actor's limits (a root's "parent" limits).
    pub fn host_limits(&self) -> Limits {
        Limits {
            memory_bytes: self.config.allocator.max_memory_bytes() as u64,
            table_elements: self.config.table_elements,
            call_timeout: self.config.call_timeout,
        }
    }

    /// Records the latest state of an actor.
    pub fn set_state(&self, id: &str, state: Option<Vec<u8>>) {
        if let Some(r) = self.lock().actors.get_mut(id) {
            if let Some(sink) = &r.sink {
                sink.storage.write(StoreWrite::State {
                    actor: id.to_string(),
                    state: state.clone(),
                });
            }
            r.state = state;
        }
    }

    /// Closes the stored record of an actor that is not brought back: a `lifecycle.failed`
    /// event continuing its stored chain, and status `failed`.
    fn close_stored(&self, a: &StoredActor, tail: Vec<ChainEvent>, why: &str) {
        let Some(storage) = &self.config.storage else {
            return;
        };
        let sink: Arc<dyn ChainSink> = Arc::new(StoreSink {
            actor: a.id.clone(),
            storage: storage.clone(),
        });
        let chain = Mutex::new(Chain::restore(tail, a.next_index, Some(sink), 0));
        record(
            &chain,
            "lifecycle.failed",
            EventData::new()
                .str("stage", "recovery")
                .str("error_type", "internal")
                .str("error", why),
            "not brought back after a host restart".into(),
        );
        storage.write(StoreWrite::Status {
            actor: a.id.clone(),
            status: ActorStatus::Failed,
            restarts: a.restarts,
        });
    }

    /// Waits until everything recorded so far is in the store (no-op without a store). While
    /// a failing store retries, this waits; once the store has failed for good it is `Err` with
    /// the store's error, for the operation to return.
    pub(crate) async fn durable(&self) -> Result<(), String> {
        let Some(storage) = &self.config.storage else {
            return Ok(());
        };
        match storage.sync().await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // A store that is not failed refused a write of a tree this host no longer
                // owns (a shared store's lease moved on): this tree is being dropped, the
                // others go on.
                if !matches!(
                    &*storage.health().borrow(),
                    crate::store::StoreHealth::Failed(_)
                ) {
                    return Err(format!("this operation is not recorded: {e}"));
                }
                // Before anyone acts on the error (a root failing because its spawn failed):
                // the tree's outcome is the store's failure.
                self.mark_store_failed(&e);
                Err(format!(
                    "event store failed, so this operation is not recorded durably: {e}"
                ))
            }
            Err(_) => {
                Err("event store is closed, so this operation is not recorded durably".to_string())
            }
        }
    }

    /// Refuses new starts once the store failed for good.
    fn check_store(&self) -> Result<(), String> {
        match self.store_failed.get() {
            Some(e) => Err(format!(
                "event store failed, so no actor can start (nothing it did could be recorded): {e}"
            )),
            None => Ok(()),
        }
    }

    /// Notes that the store failed for good: no more starts, and the first root's outcome
    /// (unless it already ended) is the store's failure.
    fn mark_store_failed(&self, why: &str) {
        if self.store_failed.set(why.to_string()).is_err() {
            return;
        }
        self.root_outcome.send_if_modified(|o| {
            if o.is_none() {
                *o = Some(RootOutcome::StoreFailed(why.to_string()));
                true
            } else {
                false
            }
        });
    }

    /// The store failed for good: nothing can be recorded any more, so every actor stops (roots
    /// first as an external stop, their trees with them) and the first root's outcome says why.
    async fn on_store_failed(self: &Arc<Self>, why: String) {
        self.mark_store_failed(&why);
        tracing::error!(error = %why, "event store failed: stopping every actor");
        let roots: Vec<ActorId> = {
            let reg = self.lock();
            reg.order
                .iter()
                .filter(|id| {
                    reg.actors
                        .get(*id)
                        .is_some_and(|r| r.parent.is_none() && !r.status.is_terminal())
                })
                .cloned()
                .collect()
        };
        for id in roots {
            let _ = self.stop_actor(&id, StopReason::External).await;
        }
    }

    /// Every event of `chain` (the actor `id`'s), reading the ones no longer in memory from the
    /// store after a durability barrier (so they are all there), off the async workers.
    pub(crate) async fn full_chain_async(&self, id: &str, chain: &Mutex<Chain>) -> Vec<ChainEvent> {
        let (dropped, tail) = {
            let c = chain
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.dropped(), c.events().to_vec())
        };
        if dropped == 0 || self.config.storage.is_none() {
            return tail;
        }
        if let Err(e) = self.durable().await {
            tracing::error!(%id, error = %e, "older chain events cannot be read back");
            return tail;
        }
        let actor = id.to_string();
        match self.read_store(move |s| s.events(&actor, 0)).await {
            Ok(mut stored) if stored.len() as u64 >= dropped => {
                stored.truncate(dropped as usize);
                stored.extend(tail);
                stored
            }
            Ok(stored) => {
                tracing::error!(%id, stored = stored.len(), dropped, "older chain events are missing from the store");
                tail
            }
            Err(e) => {
                tracing::error!(%id, error = %e, "cannot read a chain from the store");
                tail
            }
        }
    }

    /// Every event of `chain` (the actor `id`'s), reading the ones no longer in memory from the
    /// store; for the synchronous embedding API ([`ActorSystem::chain`]): it may wait (at most
    /// 5 s) for the writer to commit them. Host calls use [`Self::full_chain_async`].
    pub(crate) fn full_chain(&self, id: &str, chain: &Mutex<Chain>) -> Vec<ChainEvent> {
        let (dropped, tail) = {
            let c = chain
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.dropped(), c.events().to_vec())
        };
        if dropped == 0 {
            return tail;
        }
        let Some(storage) = &self.config.storage else {
            return tail;
        };
        // The dropped events were queued to the store before the newer ones; the writer
        // commits within milliseconds. Wait (bounded) until they are all readable.
        for _ in 0..5_000 {
            match storage.events(id, 0) {
                Ok(mut stored) if stored.len() as u64 >= dropped => {
                    stored.truncate(dropped as usize);
                    stored.extend(tail);
                    return stored;
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a chain from the store");
                    return tail;
                }
            }
        }
        tracing::error!(%id, "older chain events did not reach the store in time");
        tail
    }

    /// The record of `child` if it is `caller`'s child (live or not).
    fn check_child(&self, reg: &Registry, caller: &str, child: &str) -> Result<(), String> {
        let rec = reg.actors.get(child).ok_or_else(|| unknown_child(child))?;
        if rec.parent.as_deref() != Some(caller) {
            return Err(format!(
                "permission denied: actor `{child}` is not a child of this actor (a parent may only manage its own children)"
            ));
        }
        Ok(())
    }

    /// Resolves a manifest argument of `spawn`/`resume` for `caller`; `allowed` checks the
    /// canonical paths it names before anything is parsed or read.
    pub(crate) async fn resolve_manifest(
        &self,
        caller: &ActorCtx,
        m: &str,
        allowed: &(dyn Fn(&Path, &str) -> Result<(), String> + Sync),
    ) -> Result<Arc<ActorManifest>, String> {
        if m.contains('\n') {
            let manifest = Manifest::parse(m, "inline manifest", caller.manifest.dir.clone(), None)
                .map_err(|e| e.to_string())?;
            // An inline manifest lives in the caller's directory: its component must be allowed.
            let comp = manifest.component.canonicalize().map_err(|e| {
                format!(
                    "component not found: {} ({e})",
                    manifest.component.display()
                )
            })?;
            allowed(&comp, &format!("inline manifest `{}`", manifest.name))?;
            // So must its init_state: otherwise a guest could read any host file into a
            // child's state and then get-child-state it.
            if let Some(p) = &manifest.init_state {
                let st = p
                    .canonicalize()
                    .map_err(|e| format!("init_state not found: {} ({e})", p.display()))?;
                allowed(
                    &st,
                    &format!(
                        "init_state {} of inline manifest `{}`",
                        p.display(),
                        manifest.name
                    ),
                )?;
            }
            let manifest = self
                .handlers
                .configure(manifest, "inline manifest")
                .map_err(|e| e.to_string())?;
            return Ok(Arc::new(manifest));
        }
        if m.trim().is_empty() {
            return Err("manifest not found: the manifest argument is empty".into());
        }
        let path = caller.manifest.dir.join(m);
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("manifest not found: {} ({e})", path.display()))?;
        allowed(&canonical, m)?;
        // Parsed manifests are reused while the file is unchanged.
        let stamp = FileStamp::of(&canonical);
        if let Some(stamp) = stamp
            && let Some((s, hit)) = self
                .manifests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&canonical)
            && *s == stamp
        {
            return Ok(hit.clone());
        }
        // Reading and parsing a file blocks: off the async workers.
        let path = canonical.clone();
        let manifest = tokio::task::spawn_blocking(move || Manifest::from_file(&path))
            .await
            .map_err(|e| format!("reading manifest {m} panicked: {e}"))?
            .map_err(|e| e.to_string())?;
        let origin = canonical.display().to_string();
        let manifest = Arc::new(
            self.handlers
                .configure(manifest, &origin)
                .map_err(|e| e.to_string())?,
        );
        if let Some(stamp) = stamp {
            self.manifests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(canonical, (stamp, manifest.clone()));
        }
        Ok(manifest)
    }

    /// `spawn` and `resume`: start a new child of `caller` from a resolved manifest (the
    /// caller's supervisor handler checked it may).
    pub(crate) async fn spawn_child(
        self: Arc<Self>,
        caller: &ActorCtx,
        manifest: Arc<ActorManifest>,
        bytes: Option<Vec<u8>>,
        mode: StartMode,
    ) -> Result<ActorId, String> {
        let max_depth = self.config.max_depth;
        if caller.grants.depth >= max_depth {
            return Err(format!(
                "limit reached: this actor is at depth {} of the supervision tree (the root is at depth 0) and SystemConfig::max_depth = {max_depth}, so it may not have children",
                caller.grants.depth
            ));
        }
        let grants = self.handlers.grants_for_child(&manifest, &caller.grants)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.start(StartPlan {
            id: id.clone(),
            parent: Some(caller.id.clone()),
            manifest,
            grants: Arc::new(grants),
            start: StartArgs { mode, bytes },
            path: caller.call_path.clone(),
            restart: false,
            recover: None,
        })
        .await?;
        if let Err(e) = self.durable().await {
            // The caller gets no id, so the child must not stay.
            let _ = self.stop_actor(&id, StopReason::ParentStopping).await;
            return Err(e);
        }
        Ok(id)
    }

    /// Loads, instantiates and initialises an actor; on success it is live and linked to its
    /// parent. On failure nothing stays registered (a restarted actor stays, as failed).
    #[tracing::instrument(skip_all, fields(id = %plan.id, name = %plan.manifest.name))]
    async fn start(self: &Arc<Self>, plan: StartPlan) -> Result<(), String> {
        self.check_store()?;
        let max = self.config.max_actors;
        if self.live.fetch_add(1, Ordering::SeqCst) >= max {
            let n = self.live.fetch_sub(1, Ordering::SeqCst) - 1;
            return Err(format!(
                "limit reached: the host already runs {n} live actors (SystemConfig::max_actors = {max})"
            ));
        }
        let mut guard = StartGuard {
            sys: self.clone(),
            id: plan.id.clone(),
            parent: plan.parent.clone(),
            restart: plan.restart,
            armed: true,
        };
        let started = self.start_counted(plan).await;
        guard.armed = false;
        if started.is_err() {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        started
    }

    /// A start whose future was dropped midway (the caller's task was aborted: its own stop
    /// ran past the shutdown timeout): frees its live-actor slot and settles the record, so
    /// nothing waits for it forever; children it spawned during `init` are stopped.
    fn abandon_start(self: &Arc<Self>, id: &str, parent: Option<&str>, restart: bool) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        let why = "the start was abandoned: the actor waiting for it was stopped";
        let (chain, children) = {
            let mut reg = self.lock();
            let Some(rec) = reg.actors.get_mut(id) else {
                return; // it was never registered
            };
            if rec.status != ActorStatus::Starting {
                return;
            }
            rec.mailbox = None;
            rec.stop_tx = None;
            rec.set_status(ActorStatus::Failed);
            let out = (rec.chain.clone(), rec.children.ids());
            rec.children.clear();
            if !restart {
                reg.actors.remove(id);
                reg.order.retain(|i| i != id);
            }
            if let Some(p) = parent.and_then(|p| reg.actors.get_mut(p)) {
                p.children.remove(id);
            }
            out
        };
        tracing::warn!(%id, "{why}");
        record(
            &chain,
            "lifecycle.failed",
            EventData::new()
                .str("stage", "init")
                .str("error_type", "internal")
                .str("error", why),
            "failed to start".into(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for c in children.into_iter().rev() {
                let sys = self.clone();
                runtime.spawn(async move {
                    let _ = sys.stop_actor(&c, StopReason::ParentStopping).await;
                });
            }
        }
    }

    /// [`Self::start`] once a live-actor slot is reserved.
    async fn start_counted(self: &Arc<Self>, mut plan: StartPlan) -> Result<(), String> {
        let mut recovered = plan.recover.take();
        let recovering = recovered.is_some();
        let gate = recovered.as_ref().map(|r| r.gate.clone());
        let component = self
            .primary
            .load(&self.handlers, &plan.manifest.component)
            .await?;
        let origin = plan.manifest.origin();
        // A component importing an interface of a handler its manifest lacks is refused,
        // naming the handler (CONTRACT §8).
        if let Some((h, iface)) = component
            .needs
            .iter()
            .find(|(h, _)| plan.grants.handler(*h).is_none())
        {
            return Err(format!(
                "{origin}: the component imports {iface} but the manifest has no `[[handler]] type = \"{}\"`",
                self.handlers.name(*h)
            ));
        }
        let state = match (&plan.start.bytes, plan.start.mode) {
            _ if recovering => recovered.as_mut().and_then(|r| r.state.take()),
            (Some(b), _) => Some(b.clone()),
            (None, StartMode::Resume) => None,
            (None, _) => {
                let m = plan.manifest.clone();
                tokio::task::spawn_blocking(move || m.read_init_state())
                    .await
                    .map_err(|e| format!("{origin}: reading init_state panicked: {e}"))??
            }
        };
        let (tx, rx) = Mailbox::new();
        let chain = {
            let mut reg = self.lock();
            if plan.restart {
                let rec = reg
                    .actors
                    .get_mut(&plan.id)
                    .ok_or_else(|| unknown(&plan.id))?;
                rec.restarts += 1;
                rec.set_status(ActorStatus::Starting);
                rec.mailbox = Some(tx);
                // The component file may have changed since the first start.
                rec.exports = component.exports.clone();
                rec.chain.clone()
            } else {
                let sink = self.config.storage.as_ref().map(|storage| {
                    Arc::new(StoreSink {
                        actor: plan.id.clone(),
                        storage: storage.clone(),
                    })
                });
                let window = self.config.memory_events;
                let (chain, restarts) = match recovered.take() {
                    Some(r) => {
                        let sink = sink.clone().map(|s| s as Arc<dyn ChainSink>);
                        (Chain::restore(r.tail, r.len, sink, window), r.restarts)
                    }
                    None => {
                        if let Some(sink) = &sink {
                            sink.storage.write(StoreWrite::Actor(Box::new(StoredActor {
                                id: plan.id.clone(),
                                parent: plan.parent.clone(),
                                name: plan.manifest.name.clone(),
                                manifest: stored_manifest(&plan.manifest),
                                start_mode: plan.start.mode.name().to_string(),
                                start_bytes: plan.start.bytes.clone(),
                                status: ActorStatus::Starting,
                                state: None,
                                restarts: 0,
                                next_index: 0,
                            })));
                        }
                        let chain = match &sink {
                            Some(s) => Chain::with_sink(s.clone() as Arc<dyn ChainSink>, window),
                            None => Chain::default(),
                        };
                        (chain, 0)
                    }
                };
                let chain = Arc::new(Mutex::new(chain));
                reg.actors.insert(
                    plan.id.clone(),
                    ActorRecord {
                        name: plan.manifest.name.clone(),
                        parent: plan.parent.clone(),
                        children: ChildList::default(),
                        status: ActorStatus::Starting,
                        status_tx: watch::channel(ActorStatus::Starting).0,
                        manifest: plan.manifest.clone(),
                        grants: plan.grants.clone(),
                        start: plan.start.clone(),
                        state: None,
                        chain: chain.clone(),
                        mailbox: Some(tx),
                        exports: component.exports.clone(),
                        stop_tx: None,
                        join: None,
                        restarts,
                        shutdown_timeout: None,
                        sink,
                    },
                );
                reg.order.push(plan.id.clone());
                chain
            }
        };
        record(
            &chain,
            "lifecycle.start",
            EventData::new()
                .str("name", &plan.manifest.name)
                .str("version", &plan.manifest.version)
                .str("manifest", &origin)
                .str("component_sha256", &component.hash_hex)
                .opt_str("parent", plan.parent.as_deref())
                .str("mode", plan.start.mode.name())
                .bool("restart", plan.restart)
                .bool("recovered", recovering)
                .opt_str("host", self.config.host_id.as_deref())
                .summary("state", state.as_deref()),
            format!(
                "starting {} ({})",
                plan.manifest.name,
                plan.start.mode.name()
            ),
        );
        let ctx = || ActorCtx {
            system: self.clone(),
            id: plan.id.clone(),
            name: plan.manifest.name.clone(),
            chain: chain.clone(),
            grants: plan.grants.clone(),
            manifest: plan.manifest.clone(),
            call_path: plan.path.clone(),
            shutdown: None,
            deadline: Default::default(),
        };
        let mut running = match Running::instantiate(ctx(), component).await {
            Ok(r) => r,
            Err((_, true)) => {
                // The pool is full: this instance comes from the on-demand engine instead.
                let fallback = match self.fallback_engine() {
                    Ok(f) => f,
                    Err(e) => {
                        return Err(format!("instance pool full and no fallback engine: {e}"));
                    }
                };
                tracing::debug!(id = %plan.id, "instance pool full; using the on-demand engine");
                let component = fallback
                    .load(&self.handlers, &plan.manifest.component)
                    .await?;
                match Running::instantiate(ctx(), component).await {
                    Ok(r) => r,
                    Err((f, _)) => return Err(self.fail_start(&plan, f).await),
                }
            }
            Err((f, false)) => return Err(self.fail_start(&plan, f).await),
        };
        if let Err(f) = running.init(state).await {
            drop(running);
            return Err(self.fail_start(&plan, f).await);
        }
        let shutdown_in_init = running.store.data_mut().ctx.shutdown.take();
        record(
            &chain,
            "lifecycle.running",
            EventData::new(),
            "init succeeded; running".into(),
        );
        let (stop_tx, stop_rx) = oneshot::channel();
        let sys = self.clone();
        let id = plan.id.clone();
        let mut reg = self.lock();
        // Spawned under the registry lock so the task cannot finish before it is registered.
        let join = tokio::spawn(async move {
            // Every successful call already published the state: the registry holds the last one.
            if let Some(mut gate) = gate {
                // Closed early (resume gave up) also lets it run.
                let _ = gate.wait_for(|open| *open).await;
            }
            let exit = match shutdown_in_init {
                Some(data) => Exit::Shutdown(data),
                None => running.run(rx, stop_rx).await,
            };
            sys.finish_self(&id, exit).await;
        });
        let rec = reg.actors.get_mut(&plan.id).expect("registered above");
        rec.stop_tx = Some(stop_tx);
        rec.join = Some(join);
        rec.set_status(ActorStatus::Running);
        if let Some(parent) = &plan.parent
            && let Some(p) = reg.actors.get_mut(parent)
        {
            p.children.push(&plan.id);
        }
        if plan.parent.is_none() {
            self.root
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert(plan.id.clone());
        }
        drop(reg);
        let step = if plan.restart {
            Lifecycle::Restarted
        } else if recovering {
            Lifecycle::Resumed
        } else {
            Lifecycle::Started
        };
        self.lifecycle(&step, &plan.id, &plan.manifest.name, plan.parent.as_deref());
        Ok(())
    }

    /// Tells every handler about a step of an actor's life.
    fn lifecycle(
        self: &Arc<Self>,
        event: &Lifecycle<'_>,
        id: &str,
        name: &str,
        parent: Option<&str>,
    ) {
        self.handlers.lifecycle(
            event,
            &ActorRef {
                id,
                name,
                parent,
                system: self,
            },
        );
    }

    /// Cleans up after a failed start and returns the error message for the caller.
    async fn fail_start(self: &Arc<Self>, plan: &StartPlan, f: Failure) -> String {
        tracing::warn!(id = %plan.id, error = %f.message, "actor failed to start");
        let origin = plan.manifest.origin();
        let chain = self.lock().actors.get(&plan.id).map(|r| r.chain.clone());
        if let Some(chain) = &chain {
            record(
                chain,
                "lifecycle.failed",
                EventData::new()
                    .str("stage", "init")
                    .str("error_type", f.kind.name())
                    .str("error", &f.message),
                "failed to start".into(),
            );
        }
        // Children it spawned during init stop with it.
        let children = self
            .lock()
            .actors
            .get(&plan.id)
            .map(|r| r.children.ids())
            .unwrap_or_default();
        for c in children.iter().rev() {
            let _ = Box::pin(self.stop_actor(c, StopReason::ParentStopping)).await;
        }
        let mut reg = self.lock();
        if plan.restart {
            if let Some(rec) = reg.actors.get_mut(&plan.id) {
                rec.mailbox = None;
                rec.children.clear();
                rec.set_status(ActorStatus::Failed);
            }
            if let Some(parent) = &plan.parent
                && let Some(p) = reg.actors.get_mut(parent)
            {
                p.children.remove(&plan.id);
            }
        } else {
            if let Some(rec) = reg.actors.get_mut(&plan.id) {
                rec.set_status(ActorStatus::Failed); // the stored record keeps why
            }
            reg.actors.remove(&plan.id);
            reg.order.retain(|i| i != &plan.id);
        }
        format!("{origin}: {}", f.message)
    }

    /// Stops a live actor from outside its own task: no new messages, the in-flight call may
    /// finish within the shutdown timeout (then it is killed), children stop first in reverse
    /// start order, and a final event closes the chain. Returns once it is gone.
    #[tracing::instrument(skip(self))]
    /// `Ok(false)` means it ended by itself while we waited (its own exit is what gets reported).
    pub(crate) async fn stop_actor(
        self: &Arc<Self>,
        id: &str,
        reason: StopReason,
    ) -> Result<bool, String> {
        let (stop_tx, join, chain, name, parent) = loop {
            let mut rx = {
                let mut reg = self.lock();
                let rec = reg.actors.get_mut(id).ok_or_else(|| unknown(id))?;
                match rec.status {
                    ActorStatus::Running => {
                        rec.set_status(ActorStatus::Stopping);
                        rec.mailbox = None;
                        break (
                            rec.stop_tx.take(),
                            rec.join.take(),
                            rec.chain.clone(),
                            rec.name.clone(),
                            rec.parent.clone(),
                        );
                    }
                    ActorStatus::Stopped | ActorStatus::Failed => {
                        return Err(format!("actor `{id}` is not running (it already stopped)"));
                    }
                    ActorStatus::Starting | ActorStatus::Stopping => rec.status_tx.subscribe(),
                }
            };
            // Someone else is starting or stopping it: wait for that to settle, then look again.
            let _ = rx
                .wait_for(|s| !matches!(s, ActorStatus::Starting | ActorStatus::Stopping))
                .await;
            if reason != StopReason::Restart
                && self.status(id).is_some_and(ActorStatus::is_terminal)
            {
                return Ok(false);
            }
        };
        record(
            &chain,
            "lifecycle.stopping",
            EventData::new().str("reason", reason.name()),
            format!("stopping ({})", reason.name()),
        );
        let end = End::Stopped(reason);
        self.lifecycle(&Lifecycle::Stopping(&end), id, &name, parent.as_deref());
        if let Some(tx) = stop_tx {
            let _ = tx.send(());
        }
        if let Some(mut join) = join {
            let timeout = self.shutdown_timeout_of(id);
            if tokio::time::timeout(timeout, &mut join).await.is_err() {
                join.abort();
                let _ = join.await;
                record(
                    &chain,
                    "lifecycle.killed",
                    EventData::new().u64("after_ms", timeout.as_millis() as u64),
                    "in-flight call did not finish within the shutdown timeout; killed".into(),
                );
            }
        }
        self.teardown(id, end.clone(), reason == StopReason::Restart)
            .await;
        // A stop by the parent or from outside is reported once it is durable, by the caller.
        if matches!(reason, StopReason::ParentStopping | StopReason::Restart) {
            self.lifecycle(&Lifecycle::Stopped(&end), id, &name, parent.as_deref());
        }
        Ok(true)
    }

    /// Tells the handlers that `id` was stopped for `reason` (after the stop is durable).
    fn stopped(self: &Arc<Self>, id: &str, name: &str, parent: Option<&str>, reason: StopReason) {
        self.lifecycle(&Lifecycle::Stopped(&End::Stopped(reason)), id, name, parent);
    }

    fn status(&self, id: &str) -> Option<ActorStatus> {
        self.lock().actors.get(id).map(|r| r.status)
    }

    /// Stops the children (reverse start order), closes the chain, marks the actor terminal and
    /// unlinks it from its parent (unless it is about to be restarted in place).
    async fn teardown(self: &Arc<Self>, id: &str, terminal: End, keep_link: bool) {
        let children = self
            .lock()
            .actors
            .get(id)
            .map(|r| r.children.ids())
            .unwrap_or_default();
        if !children.is_empty() {
            let order: Vec<&String> = children.iter().rev().collect();
            if let Some(chain) = self.lock().actors.get(id).map(|r| r.chain.clone()) {
                record(
                    &chain,
                    "lifecycle.stopping-children",
                    EventData::new().strs("children", order.iter().map(|s| s.as_str())),
                    format!("stopping {} children, newest first", order.len()),
                );
            }
        }
        for c in children.iter().rev() {
            if let Err(e) = Box::pin(self.stop_actor(c, StopReason::ParentStopping)).await {
                tracing::debug!(child = %c, error = %e, "child already gone while stopping its parent");
            }
        }
        let (chain, parent) = {
            let reg = self.lock();
            let Some(rec) = reg.actors.get(id) else {
                return;
            };
            (rec.chain.clone(), rec.parent.clone())
        };
        let (status, outcome) = match &terminal {
            End::Stopped(reason) => {
                let reason = reason.name();
                record(
                    &chain,
                    "lifecycle.stopped",
                    EventData::new().str("reason", reason),
                    format!("stopped ({reason})"),
                );
                (ActorStatus::Stopped, RootOutcome::Stopped)
            }
            End::Shutdown(data) => {
                record(
                    &chain,
                    "lifecycle.stopped",
                    EventData::new()
                        .str("reason", "shutdown")
                        .summary("data", data.as_deref()),
                    "stopped (runtime.shutdown)".into(),
                );
                (ActorStatus::Stopped, RootOutcome::Shutdown(data.clone()))
            }
            End::Failed(f) => {
                record(
                    &chain,
                    "lifecycle.failed",
                    EventData::new()
                        .str("error_type", f.kind.name())
                        .str("error", &f.message),
                    "failed".into(),
                );
                (ActorStatus::Failed, RootOutcome::Failed(f.message.clone()))
            }
        };
        {
            let mut reg = self.lock();
            if let Some(rec) = reg.actors.get_mut(id) {
                rec.mailbox = None;
                rec.children.clear();
                rec.set_status(status);
            }
            self.live.fetch_sub(1, Ordering::SeqCst);
            if !keep_link {
                reg.ended(
                    id,
                    self.config.retain_stopped,
                    self.config.storage.is_some(),
                );
            }
            if !keep_link && let Some(p) = parent.as_ref().and_then(|p| reg.actors.get_mut(p)) {
                p.children.remove(id);
            }
        }
        if parent.is_none()
            && !keep_link
            && self
                .root
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_deref()
                == Some(id)
        {
            // A store failure set the outcome first: keep that reason.
            self.root_outcome.send_if_modified(|o| {
                if o.is_none() {
                    *o = Some(outcome);
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Called by an actor's own task when it ended by itself (shutdown or failure).
    async fn finish_self(self: &Arc<Self>, id: &str, exit: Exit) {
        let end = match exit {
            Exit::StopRequested => return,
            Exit::Shutdown(data) => End::Shutdown(data),
            Exit::Failed(f) => End::Failed(f),
        };
        let (parent, name, chain) = {
            let mut reg = self.lock();
            let Some(rec) = reg.actors.get_mut(id) else {
                return;
            };
            if rec.status != ActorStatus::Running {
                return; // someone else is stopping it and finishes the teardown
            }
            rec.set_status(ActorStatus::Stopping);
            rec.mailbox = None;
            rec.stop_tx = None;
            // Its own task runs this: kept so `shutdown` can wait until it finished.
            let join = rec.join.take();
            let out = (rec.parent.clone(), rec.name.clone(), rec.chain.clone());
            if let Some(join) = join {
                reg.finishing.retain(|j| !j.is_finished());
                reg.finishing.push(join);
            }
            out
        };
        let reason = end.reason();
        record(
            &chain,
            "lifecycle.stopping",
            EventData::new().str("reason", reason),
            format!("stopping ({reason})"),
        );
        self.lifecycle(&Lifecycle::Stopping(&end), id, &name, parent.as_deref());
        self.teardown(id, end.clone(), false).await;
        if let Err(e) = self.durable().await {
            // Telling the parent would let it act on what the store does not hold; the store
            // failing stops the whole tree anyway.
            tracing::error!(%id, error = %e, "child's end not stored; its parent is not told");
            return;
        }
        // The supervisor handler tells the parent (handle-child-error / handle-child-exit).
        self.lifecycle(&Lifecycle::Stopped(&end), id, &name, parent.as_deref());
    }

    /// `child-control.set-shutdown-timeout`: the child's own shutdown timeout.
    pub(crate) fn set_shutdown_timeout(
        &self,
        caller: &str,
        child: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut reg = self.lock();
        self.check_child(&reg, caller, child)?;
        if let Some(rec) = reg.actors.get_mut(child) {
            rec.shutdown_timeout = Some(timeout);
        }
        Ok(())
    }

    /// How long `id`'s in-flight call may run when it is stopped.
    fn shutdown_timeout_of(&self, id: &str) -> Duration {
        let own = self.lock().actors.get(id).and_then(|r| r.shutdown_timeout);
        own.unwrap_or(self.config.shutdown_timeout)
    }

    /// The mailbox of a live actor.
    pub(crate) fn mailbox(&self, id: &str) -> Option<ActorMailbox> {
        let mailbox = self.lock().actors.get(id).and_then(|r| r.mailbox.clone())?;
        Some(ActorMailbox::new(
            id.to_string(),
            mailbox,
            self.config.mailbox_capacity,
        ))
    }

    /// Any actor by id, live or ended (while its record is kept).
    pub(crate) fn entry(&self, id: &str) -> Result<ActorEntry, String> {
        let reg = self.lock();
        let rec = reg.actors.get(id).ok_or_else(|| unknown(id))?;
        let mailbox = rec
            .mailbox
            .clone()
            .map(|m| ActorMailbox::new(id.to_string(), m, self.config.mailbox_capacity));
        Ok(ActorEntry::new(
            rec.name.clone(),
            rec.status,
            rec.exports.clone(),
            mailbox,
        ))
    }

    /// Number of `caller`'s live children.
    pub(crate) fn children_count(&self, caller: &str) -> usize {
        self.lock()
            .actors
            .get(caller)
            .map_or(0, |r| r.children.len())
    }

    /// The status of `caller`'s child `child` (an error unless it is `caller`'s child).
    pub(crate) fn child_status(&self, caller: &str, child: &str) -> Result<ActorStatus, String> {
        let reg = self.lock();
        self.check_child(&reg, caller, child)?;
        Ok(reg.actors[child].status)
    }

    /// Ids of `caller`'s live children in start order.
    pub fn list_children(&self, caller: &str) -> Vec<ActorId> {
        self.lock()
            .actors
            .get(caller)
            .map(|r| r.children.ids())
            .unwrap_or_default()
    }

    /// `stop-child`: graceful stop, then `handle-child-exit(id, none)` to the caller.
    pub(crate) async fn stop_child(
        self: Arc<Self>,
        caller: &str,
        child: &str,
    ) -> Result<(), String> {
        self.check_child(&self.lock(), caller, child)?;
        match self.status(child) {
            Some(s) if s.is_terminal() => {
                return Err(format!(
                    "child `{child}` is not running (it already stopped)"
                ));
            }
            _ => {}
        }
        let name = self
            .lock()
            .actors
            .get(child)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let stopped = self.stop_actor(child, StopReason::ByParent).await?;
        self.durable().await?;
        if stopped {
            // The supervisor handler tells the caller (handle-child-exit(id, none)).
            self.stopped(child, &name, Some(caller), StopReason::ByParent);
        }
        Ok(())
    }

    /// `restart-child`: stop (no callback) and start again with the same id and start arguments.
    /// `room` is asked, with the caller's live-children count, before a child that already
    /// ended is started again (it joins the live children once more).
    pub(crate) async fn restart_child(
        self: Arc<Self>,
        caller: &ActorCtx,
        child: &str,
        room: &(dyn Fn(usize) -> Result<(), String> + Sync),
    ) -> Result<(), String> {
        let (manifest, grants, start, chain, was_live) = {
            let reg = self.lock();
            self.check_child(&reg, &caller.id, child)?;
            let r = &reg.actors[child];
            (
                r.manifest.clone(),
                r.grants.clone(),
                r.start.clone(),
                r.chain.clone(),
                !r.status.is_terminal(),
            )
        };
        if was_live {
            if let Err(e) = self.stop_actor(child, StopReason::Restart).await {
                tracing::debug!(%child, error = %e, "child stopped by itself before restart");
            }
        } else {
            room(self.children_count(&caller.id))?;
        }
        record(
            &chain,
            "lifecycle.restart",
            EventData::new().str("requested_by", &caller.id),
            "restarting with the original start arguments".into(),
        );
        self.start(StartPlan {
            id: child.to_string(),
            parent: Some(caller.id.clone()),
            manifest,
            grants,
            start,
            path: caller.call_path.clone(),
            restart: true,
            recover: None,
        })
        .await?;
        if let Err(e) = self.durable().await {
            let _ = self.stop_actor(child, StopReason::ParentStopping).await;
            return Err(e);
        }
        Ok(())
    }

    /// `get-child-state`: current or last state.
    pub async fn child_state(&self, caller: &str, child: &str) -> Result<Option<Vec<u8>>, String> {
        {
            let reg = self.lock();
            if reg.actors.contains_key(child) {
                self.check_child(&reg, caller, child)?;
                return Ok(reg.actors[child].state.clone());
            }
        }
        Ok(self.stored_child(caller, child).await?.state)
    }

    /// Runs a store read on tokio's blocking pool (SQLite reads block; an async worker must not).
    async fn read_store<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn Storage) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let storage = self
            .config
            .storage
            .clone()
            .ok_or_else(|| "no event store".to_string())?;
        tokio::task::spawn_blocking(move || read(storage.as_ref()))
            .await
            .map_err(|e| format!("event store read panicked: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// A child whose record was dropped from memory (`retain_stopped`), from the store.
    async fn stored_child(&self, caller: &str, child: &str) -> Result<StoredActor, String> {
        let missing = || unknown_child(child);
        if self.config.storage.is_none() {
            return Err(match self.lock().dropped.get(child) {
                Some(parent) if parent.as_deref() != Some(caller) => not_your_child(child),
                Some(_) => format!(
                    "the record of child `{}` was dropped from memory: without an event store the host keeps the last state and chain of only the newest {} ended actors (SystemConfig::retain_stopped); run with a store (`run --data DIR`) to keep every record",
                    short_id(child),
                    self.config.retain_stopped
                ),
                None => missing(),
            });
        }
        let id = child.to_string();
        let a = self
            .read_store(move |s| s.actor(&id))
            .await?
            .ok_or_else(missing)?;
        if a.parent.as_deref() != Some(caller) {
            return Err(not_your_child(child));
        }
        Ok(a)
    }

    /// `get-child-events`: the whole chain, oldest first.
    pub async fn child_events(&self, caller: &str, child: &str) -> Result<Vec<ChainEvent>, String> {
        let chain = {
            let reg = self.lock();
            if reg.actors.contains_key(child) {
                self.check_child(&reg, caller, child)?;
                Some(reg.actors[child].chain.clone())
            } else {
                None
            }
        };
        match chain {
            Some(chain) => Ok(self.full_chain_async(child, &chain).await),
            None => {
                self.stored_child(caller, child).await?;
                let id = child.to_string();
                self.read_store(move |s| s.events(&id, 0)).await
            }
        }
    }

    fn mailbox_of(&self, to: &str, request: bool) -> Result<ActorMailbox, String> {
        let reg = self.lock();
        let rec = reg.actors.get(to).ok_or_else(|| unknown(to))?;
        let export = if request { HANDLE_REQUEST } else { HANDLE_SEND };
        if !rec.exports.has(&export) {
            return Err(format!(
                "actor `{to}` ({}) does not accept messages: it does not export theater:simple/message-server-client.{}",
                rec.name, export.function
            ));
        }
        let mailbox = rec.mailbox.clone().ok_or_else(|| {
            format!(
                "actor `{to}` ({}) is not running (status: {:?})",
                rec.name, rec.status
            )
        })?;
        Ok(ActorMailbox::new(
            to.to_string(),
            mailbox,
            self.config.mailbox_capacity,
        ))
    }

    /// `send`: queue a message; returns once it is queued.
    pub(crate) fn send(&self, to: &str, msg: Vec<u8>) -> Result<(), String> {
        let mailbox = self.mailbox_of(to, false)?;
        mailbox
            .post(Box::new(SendCall { msg }))
            .map_err(|e: MailboxError| e.to_string())
    }

    /// `request`: queue a request and wait for the answer. Refuses requests that would wait on
    /// an actor already waiting on this one.
    pub(crate) async fn request(
        &self,
        to: &str,
        msg: Vec<u8>,
        path: CallPath,
    ) -> Result<Vec<u8>, String> {
        if let Some(pos) = path.iter().position(|a| a == to) {
            let cycle: Vec<&str> = path[pos..].iter().map(String::as_str).collect();
            return Err(format!(
                "request refused: actor `{to}` is waiting on this call ({} -> {to}), so the request would deadlock",
                cycle.join(" -> ")
            ));
        }
        let (reply, answer) = oneshot::channel();
        let mailbox = self.mailbox_of(to, true)?;
        mailbox
            .post(Box::new(RequestCall { msg, path, reply }))
            .map_err(|e| e.to_string())?;
        answer
            .await
            .map_err(|_| format!("actor `{to}` stopped before answering the request"))?
    }
}

/// The embedding API: start root actors from manifests, talk to actors, stop them, read chains.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use theater_supervisor::{ActorSystem, SystemConfig};
/// let system = ActorSystem::new(SystemConfig::default())?;
/// let root = system.start_root("app/root.toml").await?;
/// let answer = system.request(&root, b"ping".to_vec()).await?;
/// println!("{}", String::from_utf8_lossy(&answer));
/// system.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ActorSystem {
    inner: Arc<SystemInner>,
    ticker_stop: Arc<AtomicBool>,
}

/// Interval of the epoch ticker: how often running wasm yields to tokio.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Builds an [`ActorSystem`] from handlers: `ActorSystem::builder(config)`, then
/// [`builtin_handlers`](Self::builtin_handlers) and/or [`handler`](Self::handler) for each
/// handler, then [`build`](Self::build).
pub struct ActorSystemBuilder {
    config: SystemConfig,
    handlers: HandlerRegistry,
    error: Option<String>,
}

impl ActorSystemBuilder {
    /// Adds a handler (its manifest type, Rust type and interfaces must be new to this host).
    pub fn handler<H: Handler>(mut self, handler: H) -> Self {
        if let Err(e) = self.handlers.register(handler)
            && self.error.is_none()
        {
            self.error = Some(e.to_string());
        }
        self
    }

    /// Adds the built-in handlers: `runtime` (with [`SystemConfig::log_sink`]), `supervisor`
    /// (default configuration and permissions), `message-server`, `timer`, `child-control` and
    /// `recovery`.
    pub fn builtin_handlers(mut self) -> Self {
        if let Err(e) = crate::handlers::register_builtins(&mut self.handlers, &self.config)
            && self.error.is_none()
        {
            self.error = Some(e.to_string());
        }
        self
    }

    /// Builds the engine (async, component model, epoch interruption) and the linker with
    /// WASI 0.2 and every handler's interfaces.
    pub fn build(self) -> Result<ActorSystem, SystemError> {
        if let Some(e) = self.error {
            return Err(SystemError(format!("cannot build the host: {e}")));
        }
        ActorSystem::build(self.config, self.handlers)
            .map_err(|e| SystemError(format!("cannot set up the wasmtime engine: {e}")))
    }
}

impl ActorSystem {
    /// A host with the built-in handlers:
    /// `ActorSystem::builder(config).builtin_handlers().build()`.
    pub fn new(config: SystemConfig) -> Result<Self, SystemError> {
        Self::builder(config).builtin_handlers().build()
    }

    /// A builder for a host made of the handlers you give it.
    pub fn builder(config: SystemConfig) -> ActorSystemBuilder {
        ActorSystemBuilder {
            config,
            handlers: HandlerRegistry::new(),
            error: None,
        }
    }

    /// Access to every actor of this host by id (lookups, messaging), as handlers have it.
    pub fn host(&self) -> crate::handler::HostHandle {
        crate::handler::HostHandle(self.inner.clone())
    }

    fn build(config: SystemConfig, handlers: HandlerRegistry) -> wasmtime::Result<Self> {
        let wc = engine_config(&config.allocator, config.cache_dir.as_deref())?;
        let inner = Arc::new(SystemInner {
            primary: EngineSet::new(&wc, &handlers)?,
            fallback: OnceLock::new(),
            handlers: Arc::new(handlers),
            config,
            registry: Mutex::new(Registry::default()),
            manifests: Mutex::new(HashMap::new()),
            root: Mutex::new(None),
            live: AtomicUsize::new(0),
            root_outcome: watch::channel(None).0,
            clock: crate::clock::HostClock::default(),
            store_failed: OnceLock::new(),
        });
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let weak = Arc::downgrade(&inner);
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("epoch-ticker".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        let Some(sys) = weak.upgrade() else { break };
                        if let Some(pause) = sys.clock.tick(EPOCH_TICK) {
                            tracing::warn!(
                                ?pause,
                                "the host was not running for a while (stopped or starved); call deadlines do not count it"
                            );
                        }
                        sys.primary.engine.increment_epoch();
                        if let Some(Ok(f)) = sys.fallback.get() {
                            f.engine.increment_epoch();
                        }
                    }
                })?;
        }
        if let Some(storage) = &inner.config.storage {
            Self::watch_store(&inner, storage.health());
        }
        Ok(Self { inner, ticker_stop })
    }

    /// Stops every actor when the store reports it failed for good (needs a tokio runtime,
    /// which every actor needs anyway).
    fn watch_store(
        inner: &Arc<SystemInner>,
        mut health: watch::Receiver<crate::store::StoreHealth>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: the event store's health is not watched");
            return;
        };
        let weak = Arc::downgrade(inner);
        runtime.spawn(async move {
            let why = loop {
                if let crate::store::StoreHealth::Failed(e) = &*health.borrow_and_update() {
                    break e.clone();
                }
                if health.changed().await.is_err() {
                    return;
                }
            };
            if let Some(inner) = weak.upgrade() {
                inner.on_store_failed(why).await;
            }
        });
    }

    /// Starts a root actor from a manifest file; returns its id after its `init` succeeded.
    /// The first root started is the one [`ActorSystem::wait_root`] waits for.
    pub async fn start_root(&self, manifest: impl AsRef<Path>) -> Result<ActorId, SystemError> {
        let origin = manifest.as_ref().display().to_string();
        let manifest =
            Manifest::from_file(manifest.as_ref()).map_err(|e| SystemError(e.to_string()))?;
        let manifest = self
            .inner
            .handlers
            .configure(manifest, &origin)
            .map_err(|e| SystemError(e.to_string()))?;
        let grants = self
            .inner
            .handlers
            .grants_for_root(&manifest, &self.inner.host_limits())
            .map_err(SystemError)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.inner
            .start(StartPlan {
                id: id.clone(),
                parent: None,
                manifest: Arc::new(manifest),
                grants: Arc::new(grants),
                start: StartArgs {
                    mode: StartMode::Root,
                    bytes: None,
                },
                path: Arc::new(Vec::new()),
                restart: false,
                recover: None,
            })
            .await
            .map_err(SystemError)?;
        if let Err(e) = self.inner.durable().await {
            let _ = self.inner.stop_actor(&id, StopReason::External).await;
            return Err(SystemError(e));
        }
        Ok(id)
    }

    /// Brings back the tree stored in [`SystemConfig::storage`] after the host stopped (crashed,
    /// was killed or shut down with live actors): every actor that was running gets the same id,
    /// its stored manifest and start arguments, and `init` with its last stored state; roots
    /// first, then children in start order under their parents, and each parent is then told
    /// through `theater:extension/recovery-handler.handle-child-recovered`. A child that cannot
    /// be brought back is reported to its parent with `handle-child-error`; actors caught while
    /// starting for the first time (their parent never got their id) are recorded as failed.
    pub async fn resume(&self) -> Result<ResumeReport, SystemError> {
        self.resume_where(None).await
    }

    /// [`ActorSystem::resume`] for the one tree rooted at `root` (a shared store holds the
    /// trees of many hosts; this host took this one over).
    pub async fn resume_tree(&self, root: &str) -> Result<ResumeReport, SystemError> {
        self.resume_where(Some(root)).await
    }

    async fn resume_where(&self, tree: Option<&str>) -> Result<ResumeReport, SystemError> {
        let inner = &self.inner;
        let storage = inner.config.storage.clone().ok_or_else(|| {
            SystemError("resume needs a store: set SystemConfig::storage (`run --data DIR`)".into())
        })?;
        let mut stored = storage.actors().map_err(|e| SystemError(e.to_string()))?;
        if let Some(root) = tree {
            stored = crate::store::tree_members(stored, root);
        }
        let window = inner.config.memory_events as u64;
        let mut report = ResumeReport::default();
        let (gate_tx, gate) = watch::channel(false);
        let mut grants: HashMap<ActorId, Arc<Grants>> = HashMap::new();
        for a in &stored {
            let live = match a.status {
                ActorStatus::Running | ActorStatus::Stopping => true,
                ActorStatus::Starting => a.restarts > 0,
                ActorStatus::Stopped | ActorStatus::Failed => false,
            };
            // Ended actors (most of a long-lived store) need nothing: their chains stay unread.
            if !live && a.status != ActorStatus::Starting {
                continue;
            }
            let (tail_from, tail) =
                stored_tail(storage.as_ref(), a, window).map_err(|e| SystemError(e.to_string()))?;
            if !live {
                inner.close_stored(a, tail, "the host stopped while it was starting");
                continue;
            }
            let parent_grants = match &a.parent {
                None => None,
                Some(p) => match grants.get(p) {
                    Some(g) => Some(g.clone()),
                    None => {
                        inner.close_stored(a, tail, "its parent could not be brought back");
                        report
                            .failed
                            .push((a.id.clone(), "its parent could not be brought back".into()));
                        continue;
                    }
                },
            };
            let started = async {
                let (manifest, origin) = match &a.manifest {
                    StoredManifest::Path(p) => (Manifest::from_file(p), p.display().to_string()),
                    StoredManifest::Inline { text, dir } => (
                        Manifest::parse(text, "inline manifest", dir.clone(), None),
                        "inline manifest".to_string(),
                    ),
                };
                let manifest = manifest.map_err(|e| e.to_string())?;
                let manifest = Arc::new(
                    inner
                        .handlers
                        .configure(manifest, &origin)
                        .map_err(|e| e.to_string())?,
                );
                let g = Arc::new(match &parent_grants {
                    None => inner
                        .handlers
                        .grants_for_root(&manifest, &inner.host_limits())?,
                    Some(pg) => inner.handlers.grants_for_child(&manifest, pg)?,
                });
                inner
                    .start(StartPlan {
                        recover: Some(Recovered {
                            tail: tail.clone(),
                            len: a.next_index,
                            state: a.state.clone(),
                            restarts: a.restarts,
                            gate: gate.clone(),
                        }),
                        id: a.id.clone(),
                        parent: a.parent.clone(),
                        manifest,
                        grants: g.clone(),
                        start: StartArgs {
                            mode: StartMode::from_name(&a.start_mode),
                            bytes: a.start_bytes.clone(),
                        },
                        path: Arc::new(Vec::new()),
                        restart: false,
                    })
                    .await?;
                Ok::<_, String>(g)
            }
            .await;
            match started {
                Ok(g) => {
                    // Its parent heard `Resumed` (the recovery handler's handle-child-recovered).
                    grants.insert(a.id.clone(), g);
                    report.resumed.push(a.id.clone());
                    if a.parent.is_none() && report.root.is_none() {
                        report.root = Some(a.id.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(id = %a.id, error = %e, "could not bring an actor back");
                    // A start that failed before the actor was registered recorded nothing:
                    // close its stored record here.
                    let _ = inner.durable().await;
                    let now = storage.events(&a.id, tail_from).unwrap_or_default();
                    if tail_from + now.len() as u64 == a.next_index {
                        inner.close_stored(a, now, &e);
                    }
                    report.failed.push((a.id.clone(), e.clone()));
                    // Its parent is told with handle-child-error (the supervisor handler).
                    let end = End::Failed(Failure::internal(format!(
                        "could not be brought back after a host restart: {e}"
                    )));
                    inner.lifecycle(
                        &Lifecycle::Stopped(&end),
                        &a.id,
                        &a.name,
                        a.parent.as_deref(),
                    );
                }
            }
        }
        let stored = inner.durable().await;
        gate_tx.send_replace(true);
        stored.map_err(SystemError)?;
        Ok(report)
    }

    /// Sends a message to an actor's `handle-send`.
    pub fn send(&self, id: &str, msg: Vec<u8>) -> Result<(), SystemError> {
        self.inner.send(id, msg).map_err(SystemError)
    }

    /// Sends a request to an actor's `handle-request` and waits for the answer.
    pub async fn request(&self, id: &str, msg: Vec<u8>) -> Result<Vec<u8>, SystemError> {
        self.inner
            .request(id, msg, Arc::new(Vec::new()))
            .await
            .map_err(SystemError)
    }

    /// Stops an actor from outside; its parent then gets `handle-child-external-stop`.
    pub async fn stop_actor(&self, id: &str) -> Result<(), SystemError> {
        let known = self
            .inner
            .lock()
            .actors
            .get(id)
            .map(|r| (r.name.clone(), r.parent.clone()));
        let by_us = self
            .inner
            .stop_actor(id, StopReason::External)
            .await
            .map_err(SystemError)?;
        self.inner.durable().await.map_err(SystemError)?;
        if let Some((name, parent)) = known.filter(|_| by_us) {
            // The supervisor handler tells the parent (handle-child-external-stop).
            self.inner
                .stopped(id, &name, parent.as_deref(), StopReason::External);
        }
        Ok(())
    }

    /// Any actor's chain (also after it stopped), oldest first.
    pub fn chain(&self, id: &str) -> Option<Vec<ChainEvent>> {
        let chain = self.inner.lock().actors.get(id)?.chain.clone();
        let events = self.inner.full_chain(id, &chain);
        Some(events)
    }

    /// Any actor's current (or last) state.
    pub fn state(&self, id: &str) -> Option<Option<Vec<u8>>> {
        self.inner.lock().actors.get(id).map(|r| r.state.clone())
    }

    /// Every actor ever started (failed starts excluded), in creation order.
    pub fn actors(&self) -> Vec<ActorInfo> {
        let reg = self.inner.lock();
        reg.order
            .iter()
            .filter_map(|id| {
                let r = reg.actors.get(id)?;
                Some(ActorInfo {
                    id: id.clone(),
                    name: r.name.clone(),
                    parent: r.parent.clone(),
                    status: r.status,
                    children: r.children.ids(),
                    restarts: r.restarts,
                })
            })
            .collect()
    }

    /// One actor's summary.
    pub fn actor(&self, id: &str) -> Option<ActorInfo> {
        self.actors().into_iter().find(|a| a.id == id)
    }

    /// Waits until the first root actor has ended, and says how.
    pub async fn wait_root(&self) -> RootOutcome {
        let mut rx = self.inner.root_outcome.subscribe();
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .expect("sender lives in self");
        outcome.clone().expect("checked is_some")
    }

    /// Stops every live root actor (and so the whole tree) from outside.
    pub async fn shutdown(&self) {
        let roots: Vec<ActorInfo> = self
            .actors()
            .into_iter()
            .filter(|a| a.parent.is_none() && !a.status.is_terminal())
            .collect();
        for root in roots {
            if let Ok(true) = self.inner.stop_actor(&root.id, StopReason::External).await {
                self.inner
                    .stopped(&root.id, &root.name, None, StopReason::External);
            }
        }
        // Actors that ended by themselves meanwhile finish their own teardown (and commit it).
        loop {
            let finishing = std::mem::take(&mut self.inner.lock().finishing);
            if finishing.is_empty() {
                break;
            }
            for join in finishing {
                let _ = join.await;
            }
        }
    }

    /// Every actor's chain with its metadata, for `--events` files.
    pub fn export_events(&self) -> crate::events_file::EventsFile {
        let listed: Vec<_> = {
            let reg = self.inner.lock();
            reg.order
                .iter()
                .filter_map(|id| {
                    let r = reg.actors.get(id)?;
                    Some((
                        id.clone(),
                        r.name.clone(),
                        r.parent.clone(),
                        r.status,
                        r.chain.clone(),
                    ))
                })
                .collect()
        };
        let actors = listed
            .into_iter()
            .map(|(id, name, parent, status, chain)| {
                let events = self.inner.full_chain(&id, &chain);
                crate::events_file::ActorEvents::new(&id, &name, parent.as_deref(), status, &events)
            })
            .collect();
        let mut file = crate::events_file::EventsFile::new(actors);
        file.dropped_actors = self.inner.lock().dropped_total;
        file
    }
}

impl Drop for ActorSystem {
    /// Dropping the system kills every actor still running (their tasks are aborted and their
    /// stores freed); call [`ActorSystem::shutdown`] first for a graceful stop.
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        let mut reg = self.inner.lock();
        for rec in reg.actors.values_mut() {
            rec.mailbox = None;
            rec.stop_tx = None;
            if let Some(join) = rec.join.take() {
                join.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poisoned_registry_lock_is_recovered() {
        let system = ActorSystem::new(SystemConfig::default()).unwrap();
        let inner = system.inner.clone();
        let panicked = std::thread::spawn(move || {
            let _held = inner.registry.lock().unwrap();
            panic!("a bug while the registry lock is held");
        })
        .join();
        assert!(panicked.is_err());
        assert!(system.inner.registry.is_poisoned());
        // Every later call still works.
        assert!(system.actors().is_empty());
        assert!(system.stop_actor("nope").await.is_err());
        assert!(system.start_root("/nonexistent/root.toml").await.is_err());
    }
}
