//! The system as the engine and the handlers reach it ([`HostOps`]).

use super::*;
use crate::clock::HostClock;
use crate::engine::host::{BoxFuture, HostOps};
use crate::engine::store::HandlerStates;

impl HostOps for SystemInner {
    fn config(&self) -> &SystemConfig {
        &self.config
    }

    fn clock(&self) -> &HostClock {
        &self.clock
    }

    fn prepare_instance(
        &self,
        actor: &ActorCtx,
        setup: &mut crate::handler::InstanceSetup<'_>,
    ) -> Result<(), String> {
        self.handlers.prepare(&actor.grants, actor, setup)
    }

    fn handler_states(&self, actor: &ActorCtx) -> HandlerStates {
        self.handlers.states(&actor.grants, actor)
    }

    fn has_handler(&self, grants: &Grants, name: &str) -> bool {
        self.handlers.has(grants, name)
    }

    fn set_state(&self, id: &str, state: Option<Vec<u8>>) {
        SystemInner::set_state(self, id, state)
    }

    fn full_chain<'a>(
        &'a self,
        id: &'a str,
        chain: &'a Mutex<Chain>,
    ) -> BoxFuture<'a, Vec<ChainEvent>> {
        Box::pin(self.full_chain_async(id, chain))
    }

    fn resolve_manifest<'a>(
        &'a self,
        caller: &'a ActorCtx,
        manifest: &'a str,
        allowed: PathCheck<'a>,
    ) -> BoxFuture<'a, HostResult<Arc<ActorManifest>>> {
        Box::pin(SystemInner::resolve_manifest(
            self, caller, manifest, allowed,
        ))
    }

    fn spawn_child<'a>(
        self: Arc<Self>,
        caller: &'a ActorCtx,
        manifest: Arc<ActorManifest>,
        bytes: Option<Vec<u8>>,
        mode: StartMode,
    ) -> BoxFuture<'a, HostResult<ActorId>> {
        Box::pin(SystemInner::spawn_child(
            self, caller, manifest, bytes, mode,
        ))
    }

    fn children(&self, id: &str) -> Vec<ActorId> {
        self.list_children(id)
    }

    fn children_count(&self, id: &str) -> usize {
        SystemInner::children_count(self, id)
    }

    fn child_status(&self, caller: &str, child: &str) -> HostResult<ActorStatus> {
        SystemInner::child_status(self, caller, child)
    }

    fn stop_child<'a>(
        self: Arc<Self>,
        caller: &'a str,
        child: &'a str,
    ) -> BoxFuture<'a, HostResult<()>> {
        Box::pin(SystemInner::stop_child(self, caller, child))
    }

    fn restart_child<'a>(
        self: Arc<Self>,
        caller: &'a ActorCtx,
        child: &'a str,
        room: RoomCheck<'a>,
    ) -> BoxFuture<'a, HostResult<()>> {
        Box::pin(SystemInner::restart_child(self, caller, child, room))
    }

    fn child_state<'a>(
        &'a self,
        caller: &'a str,
        child: &'a str,
    ) -> BoxFuture<'a, HostResult<Option<Vec<u8>>>> {
        Box::pin(SystemInner::child_state(self, caller, child))
    }

    fn child_events<'a>(
        &'a self,
        caller: &'a str,
        child: &'a str,
    ) -> BoxFuture<'a, HostResult<Vec<ChainEvent>>> {
        Box::pin(SystemInner::child_events(self, caller, child))
    }

    fn set_shutdown_timeout(&self, caller: &str, child: &str, timeout: Duration) -> HostResult<()> {
        SystemInner::set_shutdown_timeout(self, caller, child, timeout)
    }

    fn entry(&self, id: &str) -> HostResult<ActorEntry> {
        SystemInner::entry(self, id)
    }

    fn mailbox(&self, id: &str) -> Option<ActorMailbox> {
        SystemInner::mailbox(self, id)
    }

    fn send(&self, to: &str, msg: Vec<u8>) -> HostResult<()> {
        SystemInner::send(self, to, msg)
    }

    fn request<'a>(
        &'a self,
        to: &'a str,
        msg: Vec<u8>,
        path: CallPath,
        from: Requester,
    ) -> BoxFuture<'a, HostResult<Vec<u8>>> {
        Box::pin(SystemInner::request(self, to, msg, path, from))
    }

    fn messaging(&self) -> &Messaging {
        &self.messaging
    }
}
