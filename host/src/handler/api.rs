//! The actor a lifecycle step is about ([`ActorRef`]), as handlers hear it; the rest of the
//! host API is [`crate::engine::host`] (re-exported by [`crate::handler`]).

use crate::engine::host::{ActorMailbox, HostHandle, HostOps};
use std::sync::Arc;

/// The actor a [`Lifecycle`](crate::lifecycle::Lifecycle) step is about.
pub struct ActorRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) parent: Option<&'a str>,
    pub(crate) system: Arc<dyn HostOps>,
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
