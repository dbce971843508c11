//! `theater:simple/runtime` (log, get-chain, shutdown) and `theater:simple/types`: the
//! `runtime` handler, which every actor has.

use crate::actor::{ActorCtx, ActorStore};
use crate::bindings::theater::simple as wit;
use crate::bindings::theater::simple::types::{Chain, Event, MetaEvent};
use crate::chain::{EventData, short_hash};
use crate::handler::{HandlerView, HasHandler, SettingsTable};
use crate::manifest::Manifest;
use crate::system::{LogLine, LogSink};
use std::sync::Arc;
use wasmtime::component::Linker;

/// Configuration of the [`RuntimeHandler`].
#[derive(Clone, Default)]
pub struct RuntimeHostConfig {
    /// Receives every `runtime.log` line (besides `tracing`).
    pub log_sink: Option<LogSink>,
}

/// The `runtime` handler: `theater:simple/runtime` for every actor.
pub struct RuntimeHandler {
    config: RuntimeHostConfig,
}

impl RuntimeHandler {
    /// A runtime handler with `config`.
    pub fn new(config: RuntimeHostConfig) -> Self {
        Self { config }
    }
}

impl crate::handler::Handler for RuntimeHandler {
    type Settings = ();
    type Grant = ();
    /// Where this actor's log lines go.
    type State = Option<LogSink>;

    fn name(&self) -> &str {
        "runtime"
    }

    fn imports(&self) -> &[&'static str] {
        &["theater:simple/types", "theater:simple/runtime"]
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
        wit::types::add_to_linker::<ActorStore, HasHandler<Self>>(linker, ActorStore::view)?;
        wit::runtime::add_to_linker::<ActorStore, HasHandler<Self>>(linker, ActorStore::view)
    }

    fn state(&self, _: &Arc<()>, _: &ActorCtx) -> Option<LogSink> {
        self.config.log_sink.clone()
    }
}

impl wit::types::Host for HandlerView<'_, RuntimeHandler> {}

impl wit::runtime::Host for HandlerView<'_, RuntimeHandler> {
    async fn log(&mut self, msg: String) -> wasmtime::Result<()> {
        let ctx = &self.actor;
        tracing::info!(actor = %ctx.name(), id = %ctx.id(), "{msg}");
        ctx.record(
            "runtime.log",
            EventData::new().str("message", &msg),
            "log".into(),
        );
        if let Some(Some(sink)) = &self.state {
            sink(&LogLine {
                actor_id: ctx.id().to_string(),
                actor_name: ctx.name().to_string(),
                message: msg,
            });
        }
        Ok(())
    }

    async fn get_chain(&mut self) -> wasmtime::Result<Chain> {
        let ctx = &self.actor;
        let events: Vec<MetaEvent> = ctx
            .chain_events()
            .await
            .iter()
            .map(|e| MetaEvent {
                hash: e.short_hash(),
                event: Event {
                    event_type: e.event_type.clone(),
                    parent: e.parent_hash.as_ref().map(short_hash),
                    data: e.data.clone(),
                },
            })
            .collect();
        ctx.record(
            "runtime.get-chain",
            EventData::new().u64("events", events.len() as u64),
            format!("read own chain ({} events)", events.len()),
        );
        Ok(Chain { events })
    }

    async fn shutdown(&mut self, data: Option<Vec<u8>>) -> wasmtime::Result<Result<(), String>> {
        self.actor.record(
            "runtime.shutdown",
            EventData::new().summary("data", data.as_deref()),
            "shutdown requested; the actor stops when the current call returns".into(),
        );
        self.actor.request_shutdown(data);
        Ok(Ok(()))
    }
}
