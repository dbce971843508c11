//! The `recovery` handler: when [`crate::ActorSystem::resume`] brings a child back after a host
//! restart, its parent's `theater:extension/recovery-handler.handle-child-recovered` is called
//! (an optional export; the child is in `list-children` either way).

use crate::actor::{ActorCall, ActorCtx, ActorStore, Delivery, DeliveryFuture};
use crate::chain::EventData;
use crate::handler::{ActorRef, ExportFn, Handler, SettingsTable};
use crate::lifecycle::Lifecycle;
use crate::manifest::Manifest;
use std::sync::Arc;
use wasmtime::component::Linker;

/// `theater:extension/recovery-handler.handle-child-recovered`.
pub const HANDLE_CHILD_RECOVERED: ExportFn = ExportFn::new(
    "theater:extension/recovery-handler",
    "handle-child-recovered",
);

/// The `recovery` handler.
#[derive(Default)]
pub struct RecoveryHandler;

impl RecoveryHandler {
    /// The recovery handler.
    pub fn new() -> Self {
        Self
    }
}

impl Handler for RecoveryHandler {
    type Settings = ();
    type Grant = ();
    type State = ();

    fn name(&self) -> &str {
        "recovery"
    }

    fn exports(&self) -> &[ExportFn] {
        &[HANDLE_CHILD_RECOVERED]
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

    fn add_to_linker(&self, _: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        Ok(())
    }

    fn state(&self, _: &Arc<()>, _: &ActorCtx) {}

    fn lifecycle(&self, event: &Lifecycle<'_>, actor: &ActorRef<'_>) {
        if !matches!(event, Lifecycle::Resumed) {
            return;
        }
        let Some(parent) = actor.parent() else {
            return;
        };
        let child = actor.id().to_string();
        let queued = actor
            .mailbox_of(parent)
            .is_some_and(|mb| mb.notify(Box::new(Recovered { child })));
        if !queued {
            tracing::debug!(%parent, child = actor.id(), "parent is gone; recovery not delivered");
        }
    }
}

/// `handle-child-recovered(child)` in the parent's mailbox.
struct Recovered {
    child: String,
}

impl Delivery for Recovered {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let child = self.child;
            let function = HANDLE_CHILD_RECOVERED.function;
            if !actor.has_export(&HANDLE_CHILD_RECOVERED) {
                actor.ctx().record(
                    "callback.not-exported",
                    EventData::new()
                        .str("function", function)
                        .str("child", &child),
                    format!("{function} not exported; child event recorded only"),
                );
                return Ok(());
            }
            let summary = EventData::new().str("child", &child);
            actor
                .call::<(String,), (Option<Vec<u8>>,)>(
                    HANDLE_CHILD_RECOVERED,
                    (child,),
                    summary,
                    None,
                )
                .await
        })
    }
}
