//! `theater:simple/runtime`: log, get-chain, shutdown.

use crate::actor::ActorStore;
use crate::bindings::theater::simple::runtime::Host;
use crate::bindings::theater::simple::types::{Chain, Event, MetaEvent};
use crate::chain::{EventData, short_hash};
use crate::system::LogLine;

impl Host for ActorStore {
    async fn log(&mut self, msg: String) -> wasmtime::Result<()> {
        let ctx = &self.ctx;
        tracing::info!(actor = %ctx.name, id = %ctx.id, "{msg}");
        ctx.record(
            "runtime.log",
            EventData::new().str("message", &msg),
            "log".into(),
        );
        if let Some(sink) = &ctx.system.config.log_sink {
            sink(&LogLine {
                actor_id: ctx.id.clone(),
                actor_name: ctx.name.clone(),
                message: msg,
            });
        }
        Ok(())
    }

    async fn get_chain(&mut self) -> wasmtime::Result<Chain> {
        let ctx = &self.ctx;
        let events: Vec<MetaEvent> = {
            ctx.system
                .full_chain_async(&ctx.id, &ctx.chain)
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
                .collect()
        };
        ctx.record(
            "runtime.get-chain",
            EventData::new().u64("events", events.len() as u64),
            format!("read own chain ({} events)", events.len()),
        );
        Ok(Chain { events })
    }

    async fn shutdown(&mut self, data: Option<Vec<u8>>) -> wasmtime::Result<Result<(), String>> {
        let ctx = &mut self.ctx;
        ctx.record(
            "runtime.shutdown",
            EventData::new().summary("data", data.as_deref()),
            "shutdown requested; the actor stops when the current call returns".into(),
        );
        ctx.shutdown = Some(data);
        Ok(Ok(()))
    }
}
