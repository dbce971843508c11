//! `theater:extension/child-control`: a parent's settings for its own children, the
//! `child-control` handler. Every actor has it; its calls need the `supervisor` handler.

use crate::actor::{ActorCtx, ActorStore};
use crate::bindings::theater::extension::child_control::{self as wit, Host};
use crate::chain::EventData;
use crate::handler::{Handler, HandlerView, HasHandler, SettingsTable};
use crate::manifest::Manifest;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;

/// The `child-control` handler.
#[derive(Default)]
pub struct ChildControlHandler;

impl ChildControlHandler {
    /// The child-control handler.
    pub fn new() -> Self {
        Self
    }
}

impl Handler for ChildControlHandler {
    type Settings = ();
    type Grant = ();
    type State = ();

    fn name(&self) -> &str {
        "child-control"
    }

    fn imports(&self) -> &[&'static str] {
        &["theater:extension/child-control"]
    }

    fn implicit(&self) -> bool {
        true
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<(), String> {
        super::no_settings(table)
    }

    fn grant(&self, _: &(), _: Option<&()>, _: &Manifest) -> Result<(), String> {
        Ok(())
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        wit::add_to_linker::<ActorStore, HasHandler<Self>>(linker, ActorStore::view)
    }

    fn state(&self, _: &Arc<()>, _: &ActorCtx) {}
}

impl Host for HandlerView<'_, ChildControlHandler> {
    async fn set_shutdown_timeout(
        &mut self,
        child_id: String,
        timeout_ms: u64,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.actor;
        let r = if ctx.has_handler("supervisor") {
            ctx.set_child_shutdown_timeout(&child_id, Duration::from_millis(timeout_ms))
        } else {
            Err("permission denied: this actor has no `supervisor` handler in its manifest".into())
        };
        ctx.record(
            "child-control.set-shutdown-timeout",
            match &r {
                Ok(()) => EventData::new()
                    .str("child", &child_id)
                    .u64("timeout_ms", timeout_ms)
                    .bool("ok", true),
                Err(e) => EventData::new()
                    .str("child", &child_id)
                    .u64("timeout_ms", timeout_ms)
                    .str("err", e),
            },
            format!("shutdown timeout of {child_id}: {timeout_ms} ms"),
        );
        Ok(r)
    }
}
