//! The host API handlers are written against: the calling actor ([`ActorCtx`]), any actor by id
//! ([`HostHandle`]) and mailboxes ([`ActorMailbox`]). The system implements it behind
//! [`HostOps`], so this crate's engine and handlers never depend on the system.

use super::instance::{Envelope, Mailbox};
use super::messaging::{MessageLimits, Messaging, Requester, requester_of};
use super::store::{ActorCtx, CallPath, HandlerStates};
use crate::chain::{Chain, ChainEvent};
use crate::clock::HostClock;
use crate::config::SystemConfig;
use crate::engine::components::{ExportFn, ExportTable};
use crate::error::HostResult;
pub use crate::error::MailboxError;
use crate::lifecycle::StartMode;
use crate::permissions::{ActorManifest, Grants};
use crate::tree::{ActorId, QueueError};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use theater_core::status::ActorStatus;

/// A boxed future (the [`HostOps`] methods that wait).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Asked about each canonical path a `spawn`/`resume` manifest argument names (the manifest
/// file, or an inline manifest's component and init_state); refuses with its own message.
pub type PathCheck<'a> = &'a (dyn Fn(&Path, &str) -> Result<(), String> + Sync);

/// Asked, with the number of live children, before an ended child is restarted.
pub type RoomCheck<'a> = &'a (dyn Fn(usize) -> Result<(), String> + Sync);

/// What the engine and the handlers need of the system; [`crate::system`] implements it.
pub(crate) trait HostOps: Send + Sync + 'static {
    /// The host's settings.
    fn config(&self) -> &SystemConfig;
    /// The clock call deadlines run on.
    fn clock(&self) -> &HostClock;
    /// Lets the handlers `actor` has prepare its new instance (WASI context, `wasi:http` hooks).
    fn prepare_instance(
        &self,
        actor: &ActorCtx,
        setup: &mut super::store::InstanceSetup<'_>,
    ) -> Result<(), String>;
    /// The states of the handlers `actor` has, for its new store.
    fn handler_states(&self, actor: &ActorCtx) -> HandlerStates;
    /// True when an actor holding `grants` has the handler of manifest type `name`.
    fn has_handler(&self, grants: &Grants, name: &str) -> bool;
    /// Records the latest state of an actor.
    fn set_state(&self, id: &str, state: Option<Vec<u8>>);
    /// Every event of an actor's chain, older ones read back from the store.
    fn full_chain<'a>(
        &'a self,
        id: &'a str,
        chain: &'a Mutex<Chain>,
    ) -> BoxFuture<'a, Vec<ChainEvent>>;
    /// Resolves a `spawn`/`resume` manifest argument of `caller`.
    fn resolve_manifest<'a>(
        &'a self,
        caller: &'a ActorCtx,
        manifest: &'a str,
        allowed: PathCheck<'a>,
    ) -> BoxFuture<'a, HostResult<Arc<ActorManifest>>>;
    /// Starts a child of `caller`.
    fn spawn_child<'a>(
        self: Arc<Self>,
        caller: &'a ActorCtx,
        manifest: Arc<ActorManifest>,
        bytes: Option<Vec<u8>>,
        mode: StartMode,
    ) -> BoxFuture<'a, HostResult<ActorId>>;
    /// Ids of `id`'s live children in start order.
    fn children(&self, id: &str) -> Vec<ActorId>;
    /// Number of `id`'s live children.
    fn children_count(&self, id: &str) -> usize;
    /// The status of `caller`'s child `child`.
    fn child_status(&self, caller: &str, child: &str) -> HostResult<ActorStatus>;
    /// `stop-child`.
    fn stop_child<'a>(
        self: Arc<Self>,
        caller: &'a str,
        child: &'a str,
    ) -> BoxFuture<'a, HostResult<()>>;
    /// `restart-child`.
    fn restart_child<'a>(
        self: Arc<Self>,
        caller: &'a ActorCtx,
        child: &'a str,
        room: RoomCheck<'a>,
    ) -> BoxFuture<'a, HostResult<()>>;
    /// `get-child-state`.
    fn child_state<'a>(
        &'a self,
        caller: &'a str,
        child: &'a str,
    ) -> BoxFuture<'a, HostResult<Option<Vec<u8>>>>;
    /// `get-child-events`.
    fn child_events<'a>(
        &'a self,
        caller: &'a str,
        child: &'a str,
    ) -> BoxFuture<'a, HostResult<Vec<ChainEvent>>>;
    /// `child-control.set-shutdown-timeout`.
    fn set_shutdown_timeout(&self, caller: &str, child: &str, timeout: Duration) -> HostResult<()>;
    /// Any actor by id.
    fn entry(&self, id: &str) -> HostResult<ActorEntry>;
    /// The mailbox of a running actor.
    fn mailbox(&self, id: &str) -> Option<ActorMailbox>;
    /// `message-server-host.send`.
    fn send(&self, to: &str, msg: Vec<u8>) -> HostResult<()>;
    /// `message-server-host.request` from `from`.
    fn request<'a>(
        &'a self,
        to: &'a str,
        msg: Vec<u8>,
        path: CallPath,
        from: Requester,
    ) -> BoxFuture<'a, HostResult<Vec<u8>>>;
    /// The channels and outstanding requests of every actor.
    fn messaging(&self) -> &Messaging;
}

/// Access to every actor of the host by id: lookups and the messaging primitive.
#[derive(Clone)]
pub struct HostHandle(pub(crate) Arc<dyn HostOps>);

/// One actor as seen from outside: name, status, exports and (while it runs) its mailbox.
pub struct ActorEntry {
    name: String,
    status: ActorStatus,
    exports: Arc<ExportTable>,
    mailbox: Option<ActorMailbox>,
}

/// The sending side of one actor's mailbox, for queueing [`Delivery`](crate::Delivery)s.
#[derive(Clone)]
pub struct ActorMailbox {
    id: ActorId,
    inner: Mailbox,
    capacity: usize,
}

impl ActorEntry {
    pub(crate) fn new(
        name: String,
        status: ActorStatus,
        exports: Arc<ExportTable>,
        mailbox: Option<ActorMailbox>,
    ) -> Self {
        Self {
            name,
            status,
            exports,
            mailbox,
        }
    }

    /// Its manifest name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its status.
    pub fn status(&self) -> ActorStatus {
        self.status
    }

    /// True when its component exports `f`.
    pub fn exports(&self, f: &ExportFn) -> bool {
        self.exports.has(f)
    }

    /// Its mailbox, while it is running.
    pub fn mailbox(&self) -> Option<&ActorMailbox> {
        self.mailbox.as_ref()
    }
}

impl ActorMailbox {
    pub(crate) fn new(id: ActorId, inner: Mailbox, capacity: usize) -> Self {
        Self {
            id,
            inner,
            capacity,
        }
    }

    /// The actor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Queues a message (bounded by [`crate::SystemConfig::mailbox_capacity`]).
    pub fn post(&self, call: Envelope) -> Result<(), MailboxError> {
        self.inner
            .message(call, self.capacity)
            .map_err(|e| match e {
                QueueError::Full => MailboxError::Full {
                    actor: self.id.clone(),
                    capacity: self.capacity,
                },
                QueueError::Closed => MailboxError::Closed {
                    actor: self.id.clone(),
                },
            })
    }

    /// Queues a callback or a fired timer: never refused while the actor runs (bound them
    /// yourself). False when the actor has stopped.
    pub fn notify(&self, call: Envelope) -> bool {
        self.inner.notify(call)
    }
}

impl HostHandle {
    /// The actor `id`, live or ended (while its record is kept).
    pub fn actor(&self, id: &str) -> HostResult<ActorEntry> {
        self.0.entry(id)
    }

    /// `message-server-host.send`: queues `msg` for `to`'s `handle-send`.
    pub fn send(&self, to: &str, msg: Vec<u8>) -> HostResult<()> {
        self.0.send(to, msg)
    }

    /// `message-server-host.request`: queues `msg` for `to`'s `handle-request` and waits for the
    /// answer. `path` is the chain of actors waiting on the caller (a request to one of them is
    /// refused: it would deadlock).
    pub async fn request(&self, to: &str, msg: Vec<u8>, path: CallPath) -> HostResult<Vec<u8>> {
        self.0.request(to, msg, path, Requester::host()).await
    }
}

/// The calling actor's view of the host. Parent operations act on its own children only.
impl ActorCtx {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its manifest name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its manifest (with handler settings).
    pub fn manifest(&self) -> &ActorManifest {
        &self.manifest
    }

    /// Its whole chain, oldest first (older events are read back from the store).
    pub async fn chain_events(&self) -> Vec<ChainEvent> {
        self.system.full_chain(&self.id, &self.chain).await
    }

    /// The actors waiting on the call in progress (this actor last): pass it to
    /// [`HostHandle::request`].
    pub fn call_path(&self) -> CallPath {
        self.call_path.clone()
    }

    /// `message-server-host.request` from this actor: queues `msg` for `to`'s
    /// `handle-request` and waits for the answer, given then or later (an outstanding request),
    /// at most [`crate::SystemConfig::request_timeout`]. Outstanding steps are recorded in this
    /// actor's chain too.
    pub async fn request(&self, to: &str, msg: Vec<u8>) -> HostResult<Vec<u8>> {
        self.system
            .request(to, msg, self.call_path(), requester_of(self))
            .await
    }

    /// Sets this actor's bounds of channels and outstanding requests (the `message-server`
    /// handler does, from its grant, when the actor is instantiated).
    pub fn set_message_limits(&self, limits: MessageLimits) {
        self.system.messaging().register(&self.id, limits);
    }

    /// Makes the actor stop with `runtime.shutdown(data)` when the current call returns.
    pub fn request_shutdown(&mut self, data: Option<Vec<u8>>) {
        self.shutdown = Some(data);
    }

    /// True when the actor has the handler of manifest type `name`.
    pub fn has_handler(&self, name: &str) -> bool {
        self.system.has_handler(&self.grants, name)
    }

    /// Its own mailbox, while it runs (`None` once it is stopping).
    pub fn mailbox(&self) -> Option<ActorMailbox> {
        self.system.mailbox(&self.id)
    }

    /// The host: any actor by id, messaging.
    pub fn host(&self) -> HostHandle {
        HostHandle(self.system.clone())
    }

    /// Resolves a `spawn`/`resume` manifest argument: a path relative to this actor's manifest
    /// (symlinks resolved) or, if it contains a newline, inline manifest TOML. `allowed` is
    /// asked about the canonical path first (for inline manifests: about its component and
    /// init_state files) and refuses with its own message. Parsed manifests are cached.
    pub async fn resolve_manifest(
        &self,
        manifest: &str,
        allowed: PathCheck<'_>,
    ) -> HostResult<Arc<ActorManifest>> {
        self.system.resolve_manifest(self, manifest, allowed).await
    }

    /// Starts a child from `manifest`, `init` getting `bytes` (else the manifest's
    /// `init_state`); returns its id after its `init` succeeded and its start is durable.
    pub async fn spawn_child(
        &self,
        manifest: Arc<ActorManifest>,
        bytes: Option<Vec<u8>>,
    ) -> HostResult<ActorId> {
        self.system
            .clone()
            .spawn_child(self, manifest, bytes, StartMode::Spawn)
            .await
    }

    /// Starts a child from `manifest` continuing from `state`.
    pub async fn resume_child(
        &self,
        manifest: Arc<ActorManifest>,
        state: Option<Vec<u8>>,
    ) -> HostResult<ActorId> {
        self.system
            .clone()
            .spawn_child(self, manifest, state, StartMode::Resume)
            .await
    }

    /// Ids of its live children, in start order.
    pub fn children(&self) -> Vec<ActorId> {
        self.system.children(&self.id)
    }

    /// Number of its live children.
    pub fn children_count(&self) -> usize {
        self.system.children_count(&self.id)
    }

    /// The status of its child `child` (an error if it is not its child).
    pub fn child_status(&self, child: &str) -> HostResult<ActorStatus> {
        self.system.child_status(&self.id, child)
    }

    /// `stop-child`: stops its child gracefully; returns when the child is gone.
    pub async fn stop_child(&self, child: &str) -> HostResult<()> {
        self.system.clone().stop_child(&self.id, child).await
    }

    /// `restart-child`: stops its child (if running) and starts it again with the same id and
    /// start arguments. A child that already ended joins the live children again: `room` is
    /// asked first, with the number of live children, and may refuse.
    pub async fn restart_child(&self, child: &str, room: RoomCheck<'_>) -> HostResult<()> {
        self.system.clone().restart_child(self, child, room).await
    }

    /// `get-child-state`: its child's current or last state.
    pub async fn child_state(&self, child: &str) -> HostResult<Option<Vec<u8>>> {
        self.system.child_state(&self.id, child).await
    }

    /// `get-child-events`: its child's whole chain.
    pub async fn child_events(&self, child: &str) -> HostResult<Vec<ChainEvent>> {
        self.system.child_events(&self.id, child).await
    }

    /// Sets how long its child `child` may take to stop before it is killed.
    pub fn set_child_shutdown_timeout(&self, child: &str, timeout: Duration) -> HostResult<()> {
        self.system.set_shutdown_timeout(&self.id, child, timeout)
    }
}
