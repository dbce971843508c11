//! One actor at run time: its `Store` data, its mailbox messages, its export calls and the task
//! loop that runs them one at a time, in arrival order (CONTRACT §2).

use crate::bindings::{WitActorError, WitErrorType};
use crate::chain::{Chain, EventData};
use crate::components::LoadedComponent;
use crate::manifest::Manifest;
use crate::metrics::Op;
use crate::permissions::Grants;
use crate::system::SystemInner;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower, ResourceTable, TypedFunc,
};
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Actor ids are UUID v4 strings.
pub type ActorId = String;

/// The ids of the actors waiting, directly or through others, on the current call; a request to
/// any of them would deadlock, so it is refused.
pub(crate) type CallPath = Arc<Vec<ActorId>>;

/// A message in an actor's mailbox.
pub(crate) enum Envelope {
    /// `message-server-host.send`: call `handle-send`.
    Send { msg: Vec<u8> },
    /// `message-server-host.request`: call `handle-request` and answer.
    Request {
        msg: Vec<u8>,
        path: CallPath,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// A callback owed to this actor as a parent.
    Notify(Notification),
    /// A fired `theater:extension/timer` timer: call `handle-timer(tag)`.
    Timer { tag: String },
}

/// The sending side of an actor's mailbox. Messages (`send`, `request`) are bounded: past the
/// capacity they are refused, so a flood cannot grow a slow actor's queue without limit.
/// Callbacks to a parent are never refused (there is at most one per child event).
#[derive(Clone)]
pub(crate) struct Mailbox {
    tx: mpsc::UnboundedSender<Envelope>,
    queued: Arc<AtomicUsize>,
}

/// The receiving side, owned by the actor's task.
pub(crate) struct MailboxRx {
    rx: mpsc::UnboundedReceiver<Envelope>,
    queued: Arc<AtomicUsize>,
}

impl Mailbox {
    pub fn new() -> (Self, MailboxRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Self {
                tx,
                queued: queued.clone(),
            },
            MailboxRx { rx, queued },
        )
    }

    /// Queues a callback (never refused while the actor runs).
    pub fn notify(&self, note: Notification) -> bool {
        self.tx.send(Envelope::Notify(note)).is_ok()
    }

    /// Queues a fired timer (not counted: pending timers have their own limit).
    pub fn timer(&self, tag: String) -> bool {
        self.tx.send(Envelope::Timer { tag }).is_ok()
    }

    /// Queues a message unless `capacity` messages are already waiting.
    pub fn message(&self, envelope: Envelope, capacity: usize) -> Result<(), MailboxError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(MailboxError::Full);
        }
        self.tx.send(envelope).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            MailboxError::Closed
        })
    }
}

/// Why a message was not queued.
pub(crate) enum MailboxError {
    Full,
    Closed,
}

impl MailboxRx {
    async fn recv(&mut self) -> Option<Envelope> {
        let e = self.rx.recv().await?;
        if matches!(e, Envelope::Send { .. } | Envelope::Request { .. }) {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
        Some(e)
    }
}

/// What a parent is told about a child (CONTRACT §4).
#[derive(Clone, Debug)]
pub(crate) enum Notification {
    Error {
        id: ActorId,
        error: WitActorError,
        at: Instant,
    },
    Exit {
        id: ActorId,
        data: Option<Vec<u8>>,
    },
    ExternalStop {
        id: ActorId,
    },
    /// The child was brought back by `ActorSystem::resume` after a host restart.
    Recovered {
        id: ActorId,
    },
}

impl Notification {
    pub fn child(&self) -> &str {
        match self {
            Self::Error { id, .. }
            | Self::Exit { id, .. }
            | Self::ExternalStop { id }
            | Self::Recovered { id } => id,
        }
    }
}

/// Why an actor's own task ended.
pub(crate) enum Exit {
    /// It called `runtime.shutdown(data)`.
    Shutdown(Option<Vec<u8>>),
    /// A call failed (returned err, trapped, timed out).
    Failed(Failure),
    /// Someone asked it to stop; the stopper finishes the teardown.
    StopRequested,
}

/// A failed export call, as reported to the parent.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub kind: WitErrorType,
    pub message: String,
    /// When the failure was detected (for crash-to-callback timing).
    pub at: Instant,
}

impl Failure {
    pub fn to_wit(&self) -> WitActorError {
        WitActorError {
            error_type: self.kind,
            data: Some(self.message.clone().into_bytes()),
        }
    }
}

/// Everything the host functions of one actor need.
pub(crate) struct ActorCtx {
    pub system: Arc<SystemInner>,
    pub id: ActorId,
    pub name: String,
    pub chain: Arc<Mutex<Chain>>,
    pub grants: Arc<Grants>,
    pub manifest: Arc<Manifest>,
    /// Actors waiting on the call in progress (this actor last).
    pub call_path: CallPath,
    /// Set by `runtime.shutdown`; acted on when the current call returns.
    pub shutdown: Option<Option<Vec<u8>>>,
    /// Deadline of the export call in progress. Time spent waiting on other actors (a child's
    /// init, a stop, a request) moves it back: the deadline bounds the actor's own work.
    pub deadline: Deadline,
}

impl ActorCtx {
    /// After waiting on other actors since `since`: moves the call's deadline back by the wait
    /// and records the operation's duration when timings are on.
    pub fn waited(&self, op: Op, since: Instant) {
        let waited = since.elapsed();
        if let Some(d) = self.deadline.get() {
            self.deadline.set(Some(d + waited));
        }
        if let Some(t) = &self.system.config.timings {
            t.record(op, waited);
        }
    }

    /// Appends an event to this actor's chain.
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

/// The data of every actor `Store`: WASI plus the actor's context.
pub struct ActorStore {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) ctx: ActorCtx,
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

/// Results of every `f(state, params) -> result<tuple<new-state, ...>, string>` export.
pub(crate) trait StateResult: Lift + ComponentNamedList + Send + Sync + 'static {
    type Extra;
    fn split(self) -> (Option<Vec<u8>>, Self::Extra);
}

impl StateResult for (Option<Vec<u8>>,) {
    type Extra = ();
    fn split(self) -> (Option<Vec<u8>>, ()) {
        (self.0, ())
    }
}

impl StateResult for (Option<Vec<u8>>, (Option<Vec<u8>>,)) {
    type Extra = Option<Vec<u8>>;
    fn split(self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        (self.0, self.1.0)
    }
}

/// A live actor instance: its store, its instance and its current state.
pub(crate) struct Running {
    pub store: Store<ActorStore>,
    pub instance: Instance,
    pub component: Arc<LoadedComponent>,
    pub state: Option<Vec<u8>>,
    /// Typed export functions already type-checked, by export name.
    typed: HashMap<&'static str, Box<dyn Any + Send + Sync>>,
}

impl Running {
    /// Instantiates the component in a fresh store.
    /// Instantiates the component in a fresh store of the component's engine. The flag in the
    /// error is true when the instance pool was full (the caller may fall back).
    pub async fn instantiate(
        ctx: ActorCtx,
        component: Arc<LoadedComponent>,
    ) -> Result<Self, (Failure, bool)> {
        let engine = component.pre.engine().clone();
        let mut wasi = WasiCtx::builder();
        if ctx.system.config.inherit_stdio {
            wasi.inherit_stdout().inherit_stderr();
        }
        let mut store = Store::new(
            &engine,
            ActorStore {
                wasi: wasi.build(),
                table: ResourceTable::new(),
                ctx,
            },
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        // Yield to tokio at every epoch tick so a busy actor never starves the others and can
        // be stopped; past the call's deadline, interrupt it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|cx| {
            let ctx = &cx.data().ctx;
            match ctx.deadline.get() {
                Some(d) if ctx.system.clock.now() >= d => Ok(UpdateDeadline::Interrupt),
                _ => Ok(UpdateDeadline::Yield(1)),
            }
        });
        let instance = component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| {
                let pool_full = e.is::<wasmtime::PoolConcurrencyLimitError>();
                let failure = Failure {
                    kind: WitErrorType::Internal,
                    message: format!("instantiation failed: {e}"),
                    at: Instant::now(),
                };
                (failure, pool_full)
            })?;
        Ok(Self {
            store,
            instance,
            component,
            state: None,
            typed: HashMap::new(),
        })
    }

    pub fn ctx(&self) -> &ActorCtx {
        &self.store.data().ctx
    }

    /// Calls `init(state, (id,))`; on success the returned state becomes the actor's state.
    pub async fn init(&mut self, state: Option<Vec<u8>>) -> Result<(), Failure> {
        let id = self.ctx().id.clone();
        let idx = self.component.exports.init;
        self.call::<(String,), (Option<Vec<u8>>,)>(
            "init",
            idx,
            state,
            (id,),
            EventData::new(),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Calls one `f(state, params)` export with the actor's state, records the call and its
    /// outcome, and keeps the returned state.
    pub async fn call<P, R>(
        &mut self,
        function: &'static str,
        idx: ComponentExportIndex,
        state: Option<Vec<u8>>,
        params: P,
        params_summary: EventData,
        path: Option<CallPath>,
    ) -> Result<R::Extra, Failure>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: StateResult,
        (Option<Vec<u8>>, P): ComponentNamedList + Lower + Send + Sync,
    {
        let timeout = self.ctx().grants.limits.call_timeout;
        {
            let ctx = &mut self.store.data_mut().ctx;
            ctx.record(
                "call.start",
                EventData::new()
                    .str("function", function)
                    .summary("state", state.as_deref())
                    .raw("params", &params_summary.finish()),
                format!("calling {function}"),
            );
            let mut p = path.map(|p| (*p).clone()).unwrap_or_default();
            p.push(ctx.id.clone());
            ctx.call_path = Arc::new(p);
            ctx.deadline.set(Some(ctx.system.clock.now() + timeout));
        }
        let outcome = self.invoke::<P, R>(function, idx, state, params).await;
        let ctx = &mut self.store.data_mut().ctx;
        ctx.deadline.set(None);
        match outcome {
            Ok(Ok(result)) => {
                let (new_state, extra) = result.split();
                ctx.record(
                    "call.ok",
                    EventData::new()
                        .str("function", function)
                        .summary("state", new_state.as_deref()),
                    format!("{function} returned ok"),
                );
                self.state = new_state;
                // Published before anyone is answered, so `get-child-state` right after a reply
                // sees the state that reply came from.
                self.publish_state();
                Ok(extra)
            }
            Ok(Err(message)) => {
                ctx.record(
                    "call.err",
                    EventData::new()
                        .str("function", function)
                        .str("error", &message),
                    format!("{function} returned err"),
                );
                Err(Failure {
                    kind: WitErrorType::Internal,
                    message: format!("{function} returned err: {message}"),
                    at: Instant::now(),
                })
            }
            Err(e) => {
                let timed_out = matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt));
                let failure = if timed_out {
                    Failure {
                        kind: WitErrorType::OperationTimeout,
                        message: format!("{function} ran past its deadline of {timeout:?}"),
                        at: Instant::now(),
                    }
                } else {
                    Failure {
                        kind: WitErrorType::Internal,
                        message: trap_summary(function, &e),
                        at: Instant::now(),
                    }
                };
                ctx.record(
                    "call.trap",
                    EventData::new()
                        .str("function", function)
                        .str("error_type", error_type_name(failure.kind))
                        .str("error", &failure.message)
                        .str("detail", &format!("{e:?}")),
                    format!("{function} failed"),
                );
                Err(failure)
            }
        }
    }

    async fn invoke<P, R>(
        &mut self,
        function: &'static str,
        idx: ComponentExportIndex,
        state: Option<Vec<u8>>,
        params: P,
    ) -> wasmtime::Result<Result<R, String>>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: StateResult,
        (Option<Vec<u8>>, P): ComponentNamedList + Lower + Send + Sync,
    {
        type F<P, R> = TypedFunc<(Option<Vec<u8>>, P), (Result<R, String>,)>;
        // Type-checking an export on every call is measurable on the request path: keep each
        // typed function once it has been checked.
        let func = match self
            .typed
            .get(function)
            .and_then(|f| f.downcast_ref::<F<P, R>>())
        {
            Some(f) => *f,
            None => {
                let f: F<P, R> = self.instance.get_typed_func(&mut self.store, idx)?;
                self.typed.insert(function, Box::new(f));
                f
            }
        };
        let (result,) = func.call_async(&mut self.store, (state, params)).await?;
        Ok(result)
    }

    /// A message queued for an export this instance does not have (the component file changed
    /// and a restart loaded the new one): recorded and dropped; returns the reason.
    fn undeliverable(&mut self, export: &str, msg: &[u8]) -> String {
        let ctx = &self.store.data().ctx;
        let why = format!(
            "actor `{}` ({}) no longer exports theater:simple/message-server-client.{export} (its component changed when it restarted); the message was dropped",
            ctx.id, ctx.name
        );
        tracing::warn!(id = %ctx.id, "{why}");
        ctx.record(
            "message.undeliverable",
            EventData::new()
                .str("export", export)
                .summary("message", Some(msg)),
            why.clone(),
        );
        why
    }

    /// Handles one mailbox message. Returns how the actor goes on.
    pub async fn handle(&mut self, envelope: Envelope) -> Result<(), Failure> {
        let exports = self.component.exports.clone();
        // The state moves into the call; the registry keeps the last good copy if it fails.
        let state = self.state.take();
        match envelope {
            Envelope::Send { msg } => {
                // Checked when queued; a restart may have loaded a changed component since.
                let Some(idx) = exports.handle_send else {
                    self.state = state;
                    self.undeliverable("handle-send", &msg);
                    return Ok(());
                };
                let summary = EventData::new().summary("message", Some(&msg));
                self.call::<(Vec<u8>,), (Option<Vec<u8>>,)>(
                    "handle-send",
                    idx,
                    state,
                    (msg,),
                    summary,
                    None,
                )
                .await
            }
            Envelope::Request { msg, path, reply } => {
                let Some(idx) = exports.handle_request else {
                    self.state = state;
                    let why = self.undeliverable("handle-request", &msg);
                    let _ = reply.send(Err(why));
                    return Ok(());
                };
                let request_id = next_request_id();
                let summary = EventData::new()
                    .str("request_id", &request_id)
                    .summary("message", Some(&msg));
                let out = self
                    .call::<(String, Vec<u8>), (Option<Vec<u8>>, (Option<Vec<u8>>,))>(
                        "handle-request",
                        idx,
                        state,
                        (request_id, msg),
                        summary,
                        Some(path),
                    )
                    .await;
                let name = &self.ctx().name;
                let answer = match &out {
                    Ok(Some(bytes)) => Ok(bytes.clone()),
                    Ok(None) => Err(format!("actor {name} returned no response to the request")),
                    Err(f) => Err(format!(
                        "actor {name} failed while handling the request: {}",
                        f.message
                    )),
                };
                // The requester may have given up; nothing to do then.
                let _ = reply.send(answer);
                out.map(|_| ())
            }
            Envelope::Notify(n) => self.deliver(n, state).await,
            Envelope::Timer { tag } => self.fire_timer(tag, state).await,
        }
    }

    /// Delivers a callback about a child; a parent without `supervisor-handlers` only records it.
    async fn deliver(&mut self, n: Notification, state: Option<Vec<u8>>) -> Result<(), Failure> {
        let exports = &self.component.exports;
        let (function, idx) = match &n {
            Notification::Error { .. } => ("handle-child-error", exports.child_error),
            Notification::Exit { .. } => ("handle-child-exit", exports.child_exit),
            Notification::ExternalStop { .. } => {
                ("handle-child-external-stop", exports.child_external_stop)
            }
            Notification::Recovered { .. } => ("handle-child-recovered", exports.child_recovered),
        };
        let Some(idx) = idx else {
            self.ctx().record(
                "callback.not-exported",
                EventData::new()
                    .str("function", function)
                    .str("child", n.child()),
                format!("{function} not exported; child event recorded only"),
            );
            return Ok(());
        };
        let child = n.child().to_string();
        match n {
            Notification::Error { id, error, at } => {
                if let Some(t) = &self.ctx().system.config.timings {
                    t.record(Op::CrashToCallback, at.elapsed());
                }
                let summary = EventData::new()
                    .str("child", &child)
                    .str("error_type", error_type_name(error.error_type));
                self.call::<(String, WitActorError), (Option<Vec<u8>>,)>(
                    function,
                    idx,
                    state,
                    (id, error),
                    summary,
                    None,
                )
                .await
            }
            Notification::Exit { id, data } => {
                let summary = EventData::new()
                    .str("child", &child)
                    .summary("data", data.as_deref());
                self.call::<(String, Option<Vec<u8>>), (Option<Vec<u8>>,)>(
                    function,
                    idx,
                    state,
                    (id, data),
                    summary,
                    None,
                )
                .await
            }
            Notification::ExternalStop { id } | Notification::Recovered { id } => {
                let summary = EventData::new().str("child", &child);
                self.call::<(String,), (Option<Vec<u8>>,)>(
                    function,
                    idx,
                    state,
                    (id,),
                    summary,
                    None,
                )
                .await
            }
        }
    }

    /// The task loop: one message at a time until shutdown, failure or a stop request.
    pub async fn run(mut self, mut mailbox: MailboxRx, mut stop: oneshot::Receiver<()>) -> Exit {
        loop {
            let envelope = tokio::select! {
                biased;
                _ = &mut stop => return Exit::StopRequested,
                e = mailbox.recv() => match e {
                    Some(e) => e,
                    None => return Exit::StopRequested,
                },
            };
            if let Err(f) = self.handle(envelope).await {
                return Exit::Failed(f);
            }
            if let Some(data) = self.store.data_mut().ctx.shutdown.take() {
                return Exit::Shutdown(data);
            }
        }
    }

    /// Copies the current state to the registry so `get-child-state` sees it.
    pub fn publish_state(&self) {
        self.ctx()
            .system
            .set_state(&self.ctx().id, self.state.clone());
    }
}

/// One line for people: the trap (or host error) and the innermost wasm function it happened in.
/// The full error with its backtrace goes into the chain's `call.trap` event.
fn trap_summary(function: &str, e: &wasmtime::Error) -> String {
    let cause = e.root_cause().to_string();
    let frame = e.downcast_ref::<wasmtime::WasmBacktrace>().and_then(|bt| {
        bt.frames()
            .iter()
            .find_map(|f| f.func_name().map(str::to_string))
    });
    match frame {
        Some(f) => format!("{function} trapped: {cause} (in {f})"),
        None => format!("{function} trapped: {cause}"),
    }
}

/// A call deadline that host functions can move while the guest waits on them (`Sync`, so a
/// reference can be held across an await): a time of the system's [`crate::clock::HostClock`]
/// in nanoseconds, 0 = none.
#[derive(Debug, Default)]
pub(crate) struct Deadline(AtomicU64);

impl Deadline {
    pub fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    pub fn set(&self, at: Option<Duration>) {
        let n = at.map_or(0, |t| t.as_nanos().max(1) as u64);
        self.0.store(n, Ordering::Relaxed);
    }
}

/// A process-unique request id (`req-N`): cheaper than a random UUID on the request path.
fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("req-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Kebab-case name of a WIT error type, as in the WIT.
pub(crate) fn error_type_name(t: WitErrorType) -> &'static str {
    match t {
        WitErrorType::OperationTimeout => "operation-timeout",
        WitErrorType::ChannelClosed => "channel-closed",
        WitErrorType::ShuttingDown => "shutting-down",
        WitErrorType::FunctionNotFound => "function-not-found",
        WitErrorType::TypeMismatch => "type-mismatch",
        WitErrorType::Internal => "internal",
        WitErrorType::SerializationError => "serialization-error",
        WitErrorType::UpdateComponentError => "update-component-error",
        WitErrorType::Paused => "paused",
    }
}

/// How long a stopped actor's in-flight call may take before it is killed.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
