//! An actor's live instance and its task loop: export calls, one at a time in arrival order,
//! each under the actor's deadline and recorded in its chain (CONTRACT §2), and the calls
//! handlers queue in its mailbox ([`Delivery`]).

use super::components::{ExportFn, INIT, LoadedComponent};
use super::store::{ActorCtx, ActorStore, CallPath, DenyOutgoing, HandlerStates, InstanceSetup};
use crate::chain::EventData;
use crate::lifecycle::{Failure, FailureKind};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use wasmtime::component::{ComponentNamedList, ComponentType, Instance, Lift, Lower, TypedFunc};
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpHooks;

/// A call a handler queues in an actor's mailbox: the actor runs it after its current call,
/// one at a time in arrival order (CONTRACT §2). `deliver` gets the actor's instance through
/// an [`ActorCall`] and usually calls one export with [`ActorCall::call`].
pub trait Delivery: Send + 'static {
    /// Runs in the actor's task. An `Err` fails the actor (its parent is told).
    fn deliver<'a>(self: Box<Self>, actor: ActorCall<'a>) -> DeliveryFuture<'a>;
}

/// What [`Delivery::deliver`] returns.
pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// A message in an actor's mailbox.
pub(crate) type Envelope = Box<dyn Delivery>;

/// An actor's mailbox, holding the calls queued for it.
pub(crate) type Mailbox = crate::tree::Mailbox<Envelope>;
/// The receiving side, owned by the actor's task.
pub(crate) type MailboxRx = crate::tree::MailboxRx<Envelope>;

/// Why an actor's own task ended.
pub(crate) enum Exit {
    /// It called `runtime.shutdown(data)`.
    Shutdown(Option<Vec<u8>>),
    /// A call failed (returned err, trapped, timed out).
    Failed(Failure),
    /// Someone asked it to stop; the stopper finishes the teardown.
    StopRequested,
}

/// The result shapes of `f(state, params) -> result<tuple<new-state, ...>, string>` exports
/// that [`ActorCall::call`] can call: `tuple<option<list<u8>>>` (the new state) and
/// `tuple<option<list<u8>>, tuple<T>>` (the new state and an answer `T`).
pub trait ExportResult: Lift + ComponentNamedList + Send + Sync + 'static {
    /// What the call returns besides the new state.
    type Extra;
    /// Splits the result into the new state and the rest.
    fn split(self) -> (Option<Vec<u8>>, Self::Extra);
}

impl ExportResult for (Option<Vec<u8>>,) {
    type Extra = ();
    fn split(self) -> (Option<Vec<u8>>, ()) {
        (self.0, ())
    }
}

impl<T> ExportResult for (Option<Vec<u8>>, (T,))
where
    T: ComponentType + Lift + Send + Sync + 'static,
{
    type Extra = T;
    fn split(self) -> (Option<Vec<u8>>, T) {
        (self.0, self.1.0)
    }
}

/// A live actor instance: its store, its instance and its current state.
pub(crate) struct Running {
    pub store: Store<ActorStore>,
    pub instance: Instance,
    pub component: Arc<LoadedComponent>,
    pub state: Option<Vec<u8>>,
    /// Typed export functions already type-checked, by position in the component's export
    /// table (type-checking an export on every call is measurable on the request path).
    typed: Vec<Option<Box<dyn Any + Send + Sync>>>,
}

impl Running {
    /// Instantiates the component in a fresh store of the component's engine, with the state of
    /// every handler the actor has. The flag in the error is true when the instance pool was
    /// full (the caller may fall back).
    pub async fn instantiate(
        ctx: ActorCtx,
        component: Arc<LoadedComponent>,
    ) -> Result<Self, (Failure, bool)> {
        let engine = component.pre.engine().clone();
        let mut wasi = WasiCtx::builder();
        if ctx.system.config().inherit_stdio {
            wasi.inherit_stdout().inherit_stderr();
        }
        let mut http_hooks: Box<dyn WasiHttpHooks> = Box::new(DenyOutgoing);
        ctx.system
            .prepare_instance(
                &ctx,
                &mut InstanceSetup {
                    wasi: &mut wasi,
                    http_hooks: &mut http_hooks,
                },
            )
            .map_err(|e| (Failure::internal(e), false))?;
        let handlers: HandlerStates = ctx.system.handler_states(&ctx);
        let mut store = Store::new(
            &engine,
            ActorStore::new(wasi.build(), http_hooks, ctx, handlers),
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        // Yield to tokio at every epoch tick so a busy actor never starves the others and can
        // be stopped; past the call's deadline, interrupt it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|cx| {
            let ctx = &cx.data().ctx;
            match ctx.deadline.get() {
                Some(d) if ctx.system.clock().now() >= d => Ok(UpdateDeadline::Interrupt),
                _ => Ok(UpdateDeadline::Yield(1)),
            }
        });
        let instance = component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| {
                let pool_full = e.is::<wasmtime::PoolConcurrencyLimitError>();
                (
                    Failure::internal(format!("instantiation failed: {e}")),
                    pool_full,
                )
            })?;
        let typed = (0..component.exports.len()).map(|_| None).collect();
        Ok(Self {
            store,
            instance,
            component,
            state: None,
            typed,
        })
    }

    pub fn ctx(&self) -> &ActorCtx {
        &self.store.data().ctx
    }

    /// Calls `init(state, (id,))`; on success the returned state becomes the actor's state.
    pub async fn init(&mut self, state: Option<Vec<u8>>) -> Result<(), Failure> {
        let id = self.ctx().id.clone();
        self.state = state;
        self.call::<(String,), (Option<Vec<u8>>,)>(INIT, (id,), EventData::new(), None)
            .await
    }

    /// Calls one `f(state, params)` export with the actor's state, records the call and its
    /// outcome, and keeps the returned state.
    pub async fn call<P, R>(
        &mut self,
        export: ExportFn,
        params: P,
        params_summary: EventData,
        path: Option<CallPath>,
    ) -> Result<R::Extra, Failure>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ExportResult,
        (Option<Vec<u8>>, P): ComponentNamedList + Lower + Send + Sync,
    {
        let function = export.function;
        let (slot, idx) = self.export_slot(&export)?;
        // The state moves into the call; the registry keeps the last good copy if it fails.
        let state = self.state.take();
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
            ctx.deadline.set(Some(ctx.system.clock().now() + timeout));
        }
        // The epoch interrupt stops a guest that computes past its deadline; one blocked in a
        // host call (a WASI sleep, a slow outgoing request) is stopped by `overrun`.
        let overrun = self.overrun(timeout);
        let outcome = tokio::select! {
            // The call first: one that finishes at once never sets a timer.
            biased;
            r = self.invoke::<P, R>(slot, idx, state, params) => r,
            () = overrun => Err(Trap::Interrupt.into()),
        };
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
                Err(Failure::internal(format!(
                    "{function} returned err: {message}"
                )))
            }
            Err(e) => Err(self.trapped(function, timeout, e)),
        }
    }

    /// Calls `export` with `params` as they are (no state threaded through), under the call
    /// deadline, recording `call.start` and `call.ok` / `call.trap`.
    pub async fn call_func<P, R>(
        &mut self,
        export: ExportFn,
        params: P,
        params_summary: EventData,
    ) -> Result<R, Failure>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let function = export.function;
        let (slot, idx) = self.export_slot(&export)?;
        let timeout = self.ctx().grants.limits.call_timeout;
        {
            let ctx = &mut self.store.data_mut().ctx;
            ctx.record(
                "call.start",
                EventData::new()
                    .str("function", function)
                    .raw("params", &params_summary.finish()),
                format!("calling {function}"),
            );
            ctx.call_path = Arc::new(vec![ctx.id.clone()]);
            ctx.deadline.set(Some(ctx.system.clock().now() + timeout));
        }
        let func = match self.typed[slot]
            .as_ref()
            .and_then(|f| f.downcast_ref::<TypedFunc<P, R>>())
        {
            Some(f) => Ok(*f),
            None => self
                .instance
                .get_typed_func::<P, R>(&mut self.store, idx)
                .inspect(|f| self.typed[slot] = Some(Box::new(*f))),
        };
        // The epoch interrupt stops a guest that computes past its deadline; one blocked in a
        // host call (a WASI sleep, a slow outgoing request) is stopped by `overrun`.
        let overrun = self.overrun(timeout);
        let outcome = match func {
            Err(e) => Err(e),
            Ok(func) => tokio::select! {
                biased;
                r = func.call_async(&mut self.store, params) => r,
                () = overrun => Err(Trap::Interrupt.into()),
            },
        };
        let ctx = &mut self.store.data_mut().ctx;
        ctx.deadline.set(None);
        match outcome {
            Ok(result) => {
                ctx.record(
                    "call.ok",
                    EventData::new().str("function", function),
                    format!("{function} returned"),
                );
                Ok(result)
            }
            Err(e) => Err(self.trapped(function, timeout, e)),
        }
    }

    /// The failure of a call that trapped or ran past its deadline, recorded as `call.trap`.
    fn trapped(&mut self, function: &str, timeout: Duration, e: wasmtime::Error) -> Failure {
        let timed_out = matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt));
        let failure = if timed_out {
            Failure {
                kind: FailureKind::OperationTimeout,
                message: format!("{function} ran past its deadline of {timeout:?}"),
                at: Instant::now(),
            }
        } else {
            Failure::internal(trap_summary(function, &e))
        };
        self.ctx().record(
            "call.trap",
            EventData::new()
                .str("function", function)
                .str("error_type", failure.kind.name())
                .str("error", &failure.message)
                .str("detail", &format!("{e:?}")),
            format!("{function} failed"),
        );
        failure
    }

    /// Where `export` is in the component's export table, or the failure of calling an export
    /// the component does not have.
    fn export_slot(
        &self,
        export: &ExportFn,
    ) -> Result<(usize, wasmtime::component::ComponentExportIndex), Failure> {
        self.component.exports.find(export).ok_or_else(|| {
            Failure::internal(format!(
                "{} is not exported: the component has no `{}.{}`",
                export.function, export.interface, export.function
            ))
        })
    }

    /// Resolves once the current call is past its deadline, plus a little (`timeout / 10` +
    /// 50 ms, so the epoch interrupt wins for a guest that computes), while the guest waits in
    /// a host call; never while the actor waits on other actors ([`ActorCtx::wait_start`]),
    /// and not counting host pauses (the deadline runs on the host clock).
    fn overrun(&self, timeout: Duration) -> impl Future<Output = ()> + Send + 'static {
        let ctx = self.ctx();
        let deadline = ctx.deadline.clone();
        let system = ctx.system.clone();
        let grace = timeout / 10 + Duration::from_millis(50);
        async move {
            loop {
                let now = system.clock().now();
                let wait = match deadline.get() {
                    Some(d) if !deadline.held() && now >= d + grace => return,
                    Some(d) if !deadline.held() => d + grace - now,
                    _ => grace,
                };
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn invoke<P, R>(
        &mut self,
        slot: usize,
        idx: wasmtime::component::ComponentExportIndex,
        state: Option<Vec<u8>>,
        params: P,
    ) -> wasmtime::Result<Result<R, String>>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ExportResult,
        (Option<Vec<u8>>, P): ComponentNamedList + Lower + Send + Sync,
    {
        type F<P, R> = TypedFunc<(Option<Vec<u8>>, P), (Result<R, String>,)>;
        let func = match self.typed[slot]
            .as_ref()
            .and_then(|f| f.downcast_ref::<F<P, R>>())
        {
            Some(f) => *f,
            None => {
                let f: F<P, R> = self.instance.get_typed_func(&mut self.store, idx)?;
                self.typed[slot] = Some(Box::new(f));
                f
            }
        };
        let (result,) = func.call_async(&mut self.store, (state, params)).await?;
        Ok(result)
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
            if let Err(f) = envelope.deliver(ActorCall { running: &mut self }).await {
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

/// An actor's instance, lent to a [`Delivery`] while it runs in the actor's task.
pub struct ActorCall<'a> {
    running: &'a mut Running,
}

impl ActorCall<'_> {
    /// The actor.
    pub fn ctx(&self) -> &ActorCtx {
        self.running.ctx()
    }

    /// True when the actor's component exports `export`.
    pub fn has_export(&self, export: &ExportFn) -> bool {
        self.running.component.exports.has(export)
    }

    /// The actor's store data: its WASI and `wasi:http` contexts (to create the resources an
    /// export takes, e.g. with [`wasmtime_wasi_http::WasiHttpView::http`]) and its handlers' states.
    pub fn store(&mut self) -> &mut ActorStore {
        self.running.store.data_mut()
    }

    /// Calls `export` with `params` as they are, without the actor's state: for the exports of
    /// standard worlds, such as `wasi:http/incoming-handler.handle`. Runs under the actor's
    /// call deadline, also while the guest waits in a host call; records `call.start` (with
    /// `params_summary`) and `call.ok` or `call.trap`. A trap or a timeout is returned as the
    /// [`Failure`] that fails the actor (return it from the delivery); so is an export the
    /// component does not have.
    pub async fn call_func<P, R>(
        &mut self,
        export: ExportFn,
        params: P,
        params_summary: EventData,
    ) -> Result<R, Failure>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        self.running
            .call_func::<P, R>(export, params, params_summary)
            .await
    }

    /// Calls `export`, shaped `f(state, params) -> result<R, string>`, with the actor's state
    /// and `params`, under the actor's call deadline; records `call.start` (with
    /// `params_summary`) and the outcome in its chain and keeps the new state. `path` is the
    /// chain of actors waiting on this call, for deadlock detection of requests it makes. An
    /// `err`, a trap or a timeout is returned as the [`Failure`] that fails the actor; so is
    /// an export the component does not have (check [`ActorCall::has_export`] first).
    pub async fn call<P, R>(
        &mut self,
        export: ExportFn,
        params: P,
        params_summary: EventData,
        path: Option<CallPath>,
    ) -> Result<R::Extra, Failure>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ExportResult,
        (Option<Vec<u8>>, P): ComponentNamedList + Lower + Send + Sync,
    {
        self.running
            .call::<P, R>(export, params, params_summary, path)
            .await
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

/// A process-unique request id (`req-N`): cheaper than a random UUID on the request path.
pub(crate) fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("req-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
