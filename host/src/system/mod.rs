//! The actor system: one wasmtime `Engine` and `Linker`, the registry of every actor, and the
//! supervision operations (start, stop, restart, notify) that the WIT interfaces and the
//! embedding API are built on.

mod abandon;
mod host_ops;
mod messages;
mod parent;
mod persistence;
mod recovery;
mod start;
mod stop;

use crate::chain::{Chain, ChainEvent, ChainSink, EventData};
use crate::config::{Allocator, SystemConfig};
use crate::engine::components::{ExportTable, FileStamp, HandlerSurface};
use crate::engine::host::{ActorEntry, ActorMailbox, PathCheck, RoomCheck};
use crate::engine::instance::{Envelope, Exit, Mailbox, Running};
use crate::engine::messaging::{
    HANDLE_REQUEST, HANDLE_SEND, Messaging, RequestCall, Requester, SendCall,
};
use crate::engine::store::{ActorCtx, CallPath, record};
use crate::engine::{EPOCH_TICK, EngineSet, engine_config};
use crate::error::{HostError, HostResult};
use crate::handler::{ActorRef, Handler, HandlerRegistry};
use crate::lifecycle::{End, Failure, Lifecycle, StartMode, StopReason};
use crate::manifest::Manifest;
use crate::permissions::{ActorManifest, Grants, Limits};
use crate::store::{Storage, StoreSink, StoreWrite, StoredActor, StoredManifest};
use crate::tree::{ActorId, ChildList, StartArgs, short_id};
use persistence::stored_manifest;
use recovery::Recovered;
use start::StartPlan;
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
pub use theater_core::status::ActorStatus;
use tokio::sync::{oneshot, watch};

/// An actor's record in this system's registry.
pub(crate) type ActorRecord = crate::tree::ActorRecord<Envelope, ExportTable>;
/// The registry of this system's actors.
pub(crate) type Registry = crate::tree::Registry<Envelope, ExportTable>;

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

/// Errors of the embedding API: the text of the [`HostError`] (or other failure) behind it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SystemError(pub String);

impl From<HostError> for SystemError {
    fn from(e: HostError) -> Self {
        Self(e.to_string())
    }
}

impl From<String> for SystemError {
    fn from(message: String) -> Self {
        Self(message)
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
    /// What they provide and call, for the component loader.
    surface: HandlerSurface,
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
    /// Channels and outstanding requests between actors.
    pub(crate) messaging: Messaging,
}

impl SystemInner {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while the lock was held must not take every later call down with it: the
        // registry's invariants are restored by each operation, not by the lock.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The on-demand engine used when the pool is full, built on first use.
    pub(super) fn fallback_engine(&self) -> Result<&EngineSet, String> {
        let max_memory_bytes = self.config.allocator.max_memory_bytes();
        self.fallback
            .get_or_init(|| {
                let config = engine_config(
                    &Allocator::OnDemand { max_memory_bytes },
                    self.config.cache_dir.as_deref(),
                )
                .map_err(|e| e.to_string())?;
                EngineSet::new(&config, &|l| self.handlers.add_to_linker(l))
                    .map_err(|e| e.to_string())
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

    pub(super) fn build(config: SystemConfig, handlers: HandlerRegistry) -> wasmtime::Result<Self> {
        let wc = engine_config(&config.allocator, config.cache_dir.as_deref())?;
        let inner = Arc::new(SystemInner {
            primary: EngineSet::new(&wc, &|l| handlers.add_to_linker(l))?,
            surface: handlers.surface(),
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
            messaging: Messaging::default(),
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
                        // Short gaps are a loaded machine; a long one is a stopped host.
                        match sys.clock.tick(EPOCH_TICK) {
                            Some(pause) if pause >= Duration::from_secs(1) => tracing::warn!(
                                ?pause,
                                "the host was not running for a while (stopped or starved); call deadlines do not count it"
                            ),
                            Some(pause) => tracing::debug!(?pause, "epoch ticker was late; call deadlines do not count the gap"),
                            None => {}
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

    /// Sends a message to an actor's `handle-send`.
    pub fn send(&self, id: &str, msg: Vec<u8>) -> Result<(), SystemError> {
        self.inner.send(id, msg).map_err(SystemError::from)
    }

    /// Sends a request to an actor's `handle-request` and waits for the answer.
    pub async fn request(&self, id: &str, msg: Vec<u8>) -> Result<Vec<u8>, SystemError> {
        self.inner
            .request(id, msg, Arc::new(Vec::new()), Requester::host())
            .await
            .map_err(SystemError::from)
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
