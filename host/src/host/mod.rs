//! The `theater:simple` host interfaces, one module per WIT interface:
//! [`runtime`] (`theater:simple/runtime`), [`supervisor`] (`theater:simple/supervisor`) and
//! [`message_server`] (`theater:simple/message-server-host`), plus this project's extensions
//! [`timer`] (`theater:extension/timer`) and [`child_control`]
//! (`theater:extension/child-control`).

mod child_control;
mod message_server;
mod runtime;
mod supervisor;
mod timer;

use crate::actor::ActorStore;
use crate::bindings::theater::extension as ext;
use crate::bindings::theater::simple as wit;
use wasmtime::component::{HasSelf, Linker};

impl wit::types::Host for ActorStore {}

/// Adds every `theater:simple` host interface and the `theater:extension` interfaces to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<ActorStore, HasSelf<ActorStore>>(linker, |s| s)?;
    wit::runtime::add_to_linker::<ActorStore, HasSelf<ActorStore>>(linker, |s| s)?;
    wit::supervisor::add_to_linker::<ActorStore, HasSelf<ActorStore>>(linker, |s| s)?;
    wit::message_server_host::add_to_linker::<ActorStore, HasSelf<ActorStore>>(linker, |s| s)?;
    ext::timer::add_to_linker::<ActorStore, HasSelf<ActorStore>>(linker, |s| s)?;
    ext::child_control::add_to_linker::<ActorStore, HasSelf<ActorStore>>(linker, |s| s)?;
    Ok(())
}
