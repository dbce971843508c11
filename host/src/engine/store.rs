//! The data of every actor's wasmtime `Store`: WASI, the actor's context ([`ActorCtx`], what
//! host functions see) and the state of each handler the actor has.

use super::host::HostOps;
use crate::chain::{Chain, EventData};
use crate::metrics::Op;
use crate::permissions::{ActorManifest, Grants};
use crate::tree::ActorId;
use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The ids of the actors waiting, directly or through others, on the current call; a request to
/// any of them would deadlock, so it is refused.
pub type CallPath = Arc<Vec<ActorId>>;

/// One actor as its handlers' host functions see it: its id, manifest, chain, grants, and the
/// host API (see `docs/handlers.md`). Every method acts on behalf of this actor.
pub struct ActorCtx {
    pub(crate) system: Arc<dyn HostOps>,
    pub(crate) id: ActorId,
    pub(crate) name: String,
    pub(crate) chain: Arc<Mutex<Chain>>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) manifest: Arc<ActorManifest>,
    /// Actors waiting on the call in progress (this actor last).
    pub(crate) call_path: CallPath,
    /// Set by `runtime.shutdown`; acted on when the current call returns.
    pub(crate) shutdown: Option<Option<Vec<u8>>>,
    /// Deadline of the export call in progress. Time spent waiting on other actors (a child's
    /// init, a stop, a request) moves it back: the deadline bounds the actor's own work.
    pub(crate) deadline: Arc<Deadline>,
}

impl ActorCtx {
    /// Before waiting on other actors (a child's init, a stop, a request): until the
    /// [`Waiting`] is handed to [`ActorCtx::waited`] (or dropped), the call's deadline does not
    /// run out, so the deadline bounds the actor's own work.
    pub fn wait_start(&self) -> Waiting {
        self.deadline.held.fetch_add(1, Ordering::Relaxed);
        Waiting {
            deadline: self.deadline.clone(),
            since: Instant::now(),
        }
    }

    /// After the wait begun by [`ActorCtx::wait_start`]: moves the call's deadline back by the
    /// wait and records the operation's duration under `op` when timings are on.
    pub fn waited(&self, op: Op, waiting: Waiting) {
        let waited = waiting.since.elapsed();
        if let Some(d) = self.deadline.get() {
            self.deadline.set(Some(d + waited));
        }
        self.timing(op, waited);
    }

    /// Records a duration under `op` when [`crate::SystemConfig::timings`] is set.
    pub fn timing(&self, op: Op, d: Duration) {
        if let Some(t) = &self.system.config().timings {
            t.record(op, d);
        }
    }

    /// Appends an event to this actor's chain (`data` is the event's JSON; summarise large
    /// payloads with [`EventData::summary`]).
    pub fn record(&self, event_type: &str, data: EventData, description: String) {
        record(&self.chain, event_type, data, description);
    }
}

/// Appends an event with JSON data to a chain.
pub(crate) fn record(chain: &Mutex<Chain>, event_type: &str, data: EventData, description: String) {
    let bytes = data.finish();
    chain
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .append(event_type, bytes, Some(description));
}

/// The data of every actor `Store`: WASI (with `wasi:http`), the actor's context and the state
/// of each handler it has. Handlers reach theirs with [`ActorStore::view`].
pub struct ActorStore {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: Box<dyn WasiHttpHooks>,
    pub(crate) table: ResourceTable,
    pub(crate) ctx: ActorCtx,
    pub(crate) handlers: HandlerStates,
}

/// What [`crate::handler::Handler::prepare`] sets up for one actor's instance before it is created: its WASI
/// context and the hooks of its `wasi:http` calls.
pub struct InstanceSetup<'a> {
    /// The actor's WASI context: no preopens, no environment, no network until a handler adds
    /// them (stdout/stderr are the host's when [`crate::SystemConfig::inherit_stdio`] is set).
    pub wasi: &'a mut WasiCtxBuilder,
    /// Decides the fate of the actor's outgoing HTTP requests (`wasi:http/outgoing-handler`);
    /// the default refuses every one with `HTTP-request-denied`.
    pub http_hooks: &'a mut Box<dyn WasiHttpHooks>,
}

/// The `wasi:http` hooks of an actor no handler gave others to: every outgoing request is
/// refused with `HTTP-request-denied` (CONTRACT §8).
pub(crate) struct DenyOutgoing;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Enforces the actor's `[limits]`: growing a memory or table past its limit traps the call
/// with a message naming the limit (the actor then fails with `internal`).
impl ResourceLimiter for ActorStore {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.ctx.grants.limits.memory_bytes;
        if desired as u64 > limit {
            wasmtime::bail!(
                "memory limit exceeded: a linear memory may grow to at most limits.memory_bytes = {limit} bytes, the actor asked for {desired}"
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.ctx.grants.limits.table_elements;
        if desired as u64 > limit {
            wasmtime::bail!(
                "table limit exceeded: a table may grow to at most limits.table_elements = {limit} elements, the actor asked for {desired}"
            );
        }
        Ok(true)
    }
}

impl WasiView for ActorStore {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ActorStore {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut *self.http_hooks,
        }
    }
}

/// The states of the handlers one actor has: a handler's host functions find theirs by handler
/// type in this short slice (no hashing, nothing allocated per call).
#[derive(Default)]
pub(crate) struct HandlerStates(pub(crate) Vec<(TypeId, Box<dyn Any + Send>)>);

impl HandlerStates {
    /// The state kept for handler type `handler`, if the actor has it.
    pub fn get_mut<S: 'static>(&mut self, handler: TypeId) -> Option<&mut S> {
        self.0
            .iter_mut()
            .find(|(t, _)| *t == handler)
            .and_then(|(_, s)| s.downcast_mut::<S>())
    }
}

impl ActorStore {
    /// A store's data for `ctx`.
    pub(crate) fn new(
        wasi: WasiCtx,
        http_hooks: Box<dyn WasiHttpHooks>,
        ctx: ActorCtx,
        handlers: HandlerStates,
    ) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            http_hooks,
            table: ResourceTable::new(),
            ctx,
            handlers,
        }
    }
}

/// A call deadline that host functions can move while the guest waits on them (`Sync`, so a
/// reference can be held across an await): a time of the system's [`crate::clock::HostClock`]
/// in nanoseconds, 0 = none, and how many waits on other actors are in progress (while any
/// is, the deadline does not run out).
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    at: AtomicU64,
    held: AtomicU32,
}

impl Deadline {
    pub fn get(&self) -> Option<Duration> {
        match self.at.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    pub fn set(&self, at: Option<Duration>) {
        let n = at.map_or(0, |t| t.as_nanos().max(1) as u64);
        self.at.store(n, Ordering::Relaxed);
    }

    /// True while the actor waits on other actors ([`ActorCtx::wait_start`]).
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed) > 0
    }
}

/// A wait on other actors in progress (see [`ActorCtx::wait_start`]); give it to
/// [`ActorCtx::waited`] when the wait is over.
#[must_use = "hand it to ActorCtx::waited when the wait is over"]
pub struct Waiting {
    deadline: Arc<Deadline>,
    since: Instant,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.deadline.held.fetch_sub(1, Ordering::Relaxed);
    }
}
