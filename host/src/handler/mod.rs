//! Handlers: the unit the host is composed of (CONTRACT §8).
//!
//! A handler is one manifest `[[handler]] type`: it parses that entry's settings, decides what
//! a child may have under its parent, adds its WIT interfaces to the linker, keeps typed
//! per-actor state in the actor's store, records events in the actor's chain, may queue calls
//! into the actor through its mailbox, and hears every actor's lifecycle. The built-in
//! `runtime`, `supervisor`, `message-server`, `timer`, `child-control` and `recovery` handlers
//! ([`crate::handlers`]) are written against this trait like an embedder's own; `docs/handlers.md`
//! and `examples/kv` show a complete one.

mod api;
mod registry;
mod settings;

pub use crate::engine::components::{ExportFn, ExportTable};
pub use crate::engine::host::{
    ActorEntry, ActorMailbox, HostHandle, MailboxError, PathCheck, RoomCheck,
};
pub use crate::engine::store::InstanceSetup;
pub use crate::permissions::ActorManifest;
pub use api::ActorRef;
pub use registry::{HandlerRegistry, RegistryError};
pub use settings::SettingsTable;
pub use toml;

use crate::engine::store::{ActorCtx, ActorStore};
use crate::lifecycle::Lifecycle;
use crate::manifest::Manifest;
use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, ResourceTable};

/// A host handler: one manifest `type`, its interfaces, settings and per-actor state.
///
/// See `docs/handlers.md` for the order in which the host calls these, and `examples/kv` for a
/// complete handler with its own WIT interface.
pub trait Handler: Send + Sync + 'static {
    /// What one manifest entry asks for, parsed by [`Handler::settings`].
    type Settings: Send + Sync + 'static;
    /// What an actor gets: derived from its settings and its parent's grant, kept with the
    /// actor (a restart reuses it, its children derive from it).
    type Grant: Send + Sync + 'static;
    /// Per-actor state, kept in the actor's wasmtime store, built by [`Handler::state`] when
    /// the actor is instantiated (again at each restart).
    type State: Send + 'static;

    /// The manifest `type` this handler serves (`[[handler]] type = "..."`).
    fn name(&self) -> &str;

    /// The WIT interfaces this handler adds to the linker (without `@version`). A component
    /// importing one of them fails to start unless its manifest has this handler.
    fn imports(&self) -> &[&'static str] {
        &[]
    }

    /// The export functions this handler calls on actors (found once per component).
    fn exports(&self) -> &[ExportFn] {
        &[]
    }

    /// True when every actor has this handler, listed in its manifest or not (`runtime`).
    fn implicit(&self) -> bool {
        false
    }

    /// Parses one manifest entry's settings. Read every key you know with the table's getters:
    /// any key left unread is refused with a message naming it.
    fn settings(&self, table: &SettingsTable<'_>) -> Result<Self::Settings, String>;

    /// What an actor whose manifest asks for `wanted` gets. `parent` is its parent's grant, or
    /// `None` for a root (the ceiling is then this handler's own configuration). A child must
    /// never get more than its parent: refuse with a message a person can act on
    /// (`permission denied: ...`). A child asking for a handler its parent does not have at all
    /// is refused by the registry before this is called.
    fn grant(
        &self,
        wanted: &Self::Settings,
        parent: Option<&Self::Grant>,
        manifest: &Manifest,
    ) -> Result<Self::Grant, String>;

    /// Adds this handler's interfaces to `linker` (once per engine), with
    /// [`ActorStore::view::<Self>`](ActorStore::view) as the getter of the bindgen
    /// `add_to_linker` functions and [`HasHandler<Self>`] as their `HasData`.
    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()>;

    /// Prepares the instance of an actor holding `grant`, before it is created (at every start
    /// and restart, before [`Handler::state`]): add WASI preopens or environment variables,
    /// install `wasi:http` hooks, claim what the actor needs (a listening socket). An `Err`
    /// fails the start with that message, which should name what is wrong.
    fn prepare(
        &self,
        _grant: &Arc<Self::Grant>,
        _actor: &ActorCtx,
        _setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        Ok(())
    }

    /// The per-actor state of an actor holding `grant`, when it is instantiated.
    fn state(&self, grant: &Arc<Self::Grant>, actor: &ActorCtx) -> Self::State;

    /// Hears a step of any actor's life (every handler hears every actor's). Runs on the host's
    /// task: do not block; queue work with [`ActorMailbox`] or `tokio::spawn` instead.
    fn lifecycle(&self, _event: &Lifecycle<'_>, _actor: &ActorRef<'_>) {}
}

/// What a handler's host functions get: the actor's context and this handler's state.
///
/// Implement the bindgen `Host` traits of a handler's interfaces for `HandlerView<'_, H>`.
pub struct HandlerView<'a, H: Handler> {
    /// The calling actor: id, chain, manifest, the host API.
    pub actor: &'a mut ActorCtx,
    /// This handler's state for the actor; `None` if the actor does not have the handler
    /// (refuse the call then).
    pub state: Option<&'a mut H::State>,
    /// The actor's resource table (shared with WASI), for handlers with WIT resources.
    pub table: &'a mut ResourceTable,
}

/// The bindgen `HasData` of handler `H`: its data is a [`HandlerView<'_, H>`].
pub struct HasHandler<H>(PhantomData<fn() -> H>);

impl<H: Handler> HasData for HasHandler<H> {
    type Data<'a> = HandlerView<'a, H>;
}

impl ActorStore {
    /// Handler `H`'s view of this actor: the getter to pass to the bindgen `add_to_linker`
    /// functions of `H`'s interfaces, with [`HasHandler<H>`].
    pub fn view<H: Handler>(&mut self) -> HandlerView<'_, H> {
        HandlerView {
            actor: &mut self.ctx,
            state: self.handlers.get_mut::<H::State>(TypeId::of::<H>()),
            table: &mut self.table,
        }
    }
}
