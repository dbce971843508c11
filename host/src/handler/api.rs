//! The host API handlers are written against: the calling actor ([`ActorCtx`]), any actor by id
//! ([`HostHandle`]), mailboxes ([`ActorMailbox`]) and the actor a lifecycle step is about
//! ([`ActorRef`]). The built-in handlers use nothing else.

use crate::actor::{ActorCtx, ActorId, CallPath, Envelope, Mailbox, QueueError};
use crate::chain::ChainEvent;
use crate::components::ExportTable;
use crate::handler::{ActorManifest, ExportFn};
use crate::lifecycle::StartMode;
use crate::system::SystemInner;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use theater_core::status::ActorStatus;

/// Access to every actor of the host by id: lookups and the messaging primitive.
#[derive(Clone)]
pub struct HostHandle(pub(crate) Arc<SystemInner>);

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

/// Why a message was not queued.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MailboxError {
    /// The actor already has `capacity` messages waiting.
    #[error(
        "mailbox of actor `{actor}` is full ({capacity} messages waiting); it is not keeping up, try again later"
    )]
    Full {
        /// The actor.
        actor: ActorId,
        /// [`crate::SystemConfig::mailbox_capacity`].
        capacity: usize,
    },
    /// The actor stopped.
    #[error("actor `{actor}` stopped before the message was queued")]
    Closed {
        /// The actor.
        actor: ActorId,
    },
}

/// The actor a [`Lifecycle`](crate::lifecycle::Lifecycle) step is about.
pub struct ActorRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) parent: Option<&'a str>,
    pub(crate) system: &'a Arc<SystemInner>,
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
    pub fn actor(&self, id: &str) -> Result<ActorEntry, String> {
        self.0.entry(id)
    }

    /// `message-server-host.send`: queues `msg` for `to`'s `handle-send`.
    pub fn send(&self, to: &str, msg: Vec<u8>) -> Result<(), String> {
        self.0.send(to, msg)
    }

    /// `message-server-host.request`: queues `msg` for `to`'s `handle-request` and waits for the
    /// answer. `path` is the chain of actors waiting on the caller (a request to one of them is
    /// refused: it would deadlock).
    pub async fn request(&self, to: &str, msg: Vec<u8>, path: CallPath) -> Result<Vec<u8>, String> {
        self.0.request(to, msg, path).await
    }
}

impl ActorRef<'_> {
    /// The actor's id.
    pub fn id(&self) -> &str {
        self.id
    }

    /// Its manifest name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Its parent's id; `None` for a root.
    pub fn parent(&self) -> Option<&str> {
        self.parent
    }

    /// The host.
    pub fn host(&self) -> HostHandle {
        HostHandle(self.system.clone())
    }

    /// The mailbox of a running actor.
    pub fn mailbox_of(&self, id: &str) -> Option<ActorMailbox> {
        self.system.mailbox(id)
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
        self.system.full_chain_async(&self.id, &self.chain).await
    }

    /// The actors waiting on the call in progress (this actor last): pass it to
    /// [`HostHandle::request`].
    pub fn call_path(&self) -> CallPath {
        self.call_path.clone()
    }

    /// Makes the actor stop with `runtime.shutdown(data)` when the current call returns.
    pub fn request_shutdown(&mut self, data: Option<Vec<u8>>) {
        self.shutdown = Some(data);
    }

    /// True when the actor has the handler of manifest type `name`.
    pub fn has_handler(&self, name: &str) -> bool {
        self.system.handlers.has(&self.grants, name)
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
        allowed: &(dyn Fn(&Path, &str) -> Result<(), String> + Sync),
    ) -> Result<Arc<ActorManifest>, String> {
        self.system.resolve_manifest(self, manifest, allowed).await
    }

    /// Starts a child from `manifest`, `init` getting `bytes` (else the manifest's
    /// `init_state`); returns its id after its `init` succeeded and its start is durable.
    pub async fn spawn_child(
        &self,
        manifest: Arc<ActorManifest>,
        bytes: Option<Vec<u8>>,
    ) -> Result<ActorId, String> {
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
    ) -> Result<ActorId, String> {
        self.system
            .clone()
            .spawn_child(self, manifest, state, StartMode::Resume)
            .await
    }

    /// Ids of its live children, in start order.
    pub fn children(&self) -> Vec<ActorId> {
        self.system.list_children(&self.id)
    }

    /// Number of its live children.
    pub fn children_count(&self) -> usize {
        self.system.children_count(&self.id)
    }

    /// The status of its child `child` (an error if it is not its child).
    pub fn child_status(&self, child: &str) -> Result<ActorStatus, String> {
        self.system.child_status(&self.id, child)
    }

    /// `stop-child`: stops its child gracefully; returns when the child is gone.
    pub async fn stop_child(&self, child: &str) -> Result<(), String> {
        self.system.clone().stop_child(&self.id, child).await
    }

    /// `restart-child`: stops its child (if running) and starts it again with the same id and
    /// start arguments. A child that already ended joins the live children again: `room` is
    /// asked first, with the number of live children, and may refuse.
    pub async fn restart_child(
        &self,
        child: &str,
        room: &(dyn Fn(usize) -> Result<(), String> + Sync),
    ) -> Result<(), String> {
        self.system.clone().restart_child(self, child, room).await
    }

    /// `get-child-state`: its child's current or last state.
    pub async fn child_state(&self, child: &str) -> Result<Option<Vec<u8>>, String> {
        self.system.child_state(&self.id, child).await
    }

    /// `get-child-events`: its child's whole chain.
    pub async fn child_events(&self, child: &str) -> Result<Vec<ChainEvent>, String> {
        self.system.child_events(&self.id, child).await
    }

    /// Sets how long its child `child` may take to stop before it is killed.
    pub fn set_child_shutdown_timeout(&self, child: &str, timeout: Duration) -> Result<(), String> {
        self.system.set_shutdown_timeout(&self.id, child, timeout)
    }
}
