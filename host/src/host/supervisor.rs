//! `theater:simple/supervisor`: spawn, resume, list, stop, restart, and read children.

use crate::actor::{ActorCtx, ActorStore};
use crate::bindings::WitChainEvent;
use crate::bindings::theater::simple::supervisor::Host;
use crate::chain::EventData;
use crate::metrics::Op;
use crate::system::StartMode;
use std::time::Instant;

/// Records an operation's result event and passes the result through.
fn result<T>(
    ctx: &ActorCtx,
    op: &str,
    r: Result<T, String>,
    ok: impl FnOnce(&T) -> EventData,
) -> Result<T, String> {
    match &r {
        Ok(v) => ctx.record(
            &format!("supervisor.{op}.result"),
            EventData::new().raw("ok", &ok(v).finish()),
            format!("{op} succeeded"),
        ),
        Err(e) => {
            tracing::debug!(actor = %ctx.id, op, error = %e, "supervisor operation refused");
            ctx.record(
                &format!("supervisor.{op}.result"),
                EventData::new().str("err", e),
                format!("{op} failed"),
            )
        }
    }
    r
}

/// Refuses every operation to an actor whose manifest has no supervisor handler.
pub(super) fn granted(ctx: &ActorCtx) -> Result<(), String> {
    match ctx.grants.supervisor {
        Some(_) => Ok(()),
        None => {
            Err("permission denied: this actor has no `supervisor` handler in its manifest".into())
        }
    }
}

impl ActorStore {
    async fn start_child(
        &mut self,
        op: &str,
        manifest: String,
        bytes: Option<Vec<u8>>,
        mode: StartMode,
    ) -> Result<String, String> {
        let ctx = &self.ctx;
        let shown = if manifest.contains('\n') {
            "<inline manifest>"
        } else {
            manifest.as_str()
        };
        ctx.record(
            &format!("supervisor.{op}"),
            EventData::new()
                .str("manifest", shown)
                .summary("bytes", bytes.as_deref()),
            format!("{op} {shown}"),
        );
        let t0 = Instant::now();
        let r = match granted(ctx) {
            Ok(()) => {
                ctx.system
                    .clone()
                    .spawn_child(ctx, &manifest, bytes, mode)
                    .await
            }
            Err(e) => Err(e),
        };
        ctx.waited(
            if mode == StartMode::Resume {
                Op::Resume
            } else {
                Op::Spawn
            },
            t0,
        );
        result(ctx, op, r, |id| EventData::new().str("child", id))
    }
}

impl Host for ActorStore {
    async fn spawn(
        &mut self,
        manifest: String,
        init_bytes: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(self
            .start_child("spawn", manifest, init_bytes, StartMode::Spawn)
            .await)
    }

    async fn resume(
        &mut self,
        manifest: String,
        init_state: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(self
            .start_child("resume", manifest, init_state, StartMode::Resume)
            .await)
    }

    async fn list_children(&mut self) -> wasmtime::Result<Vec<String>> {
        let ctx = &self.ctx;
        let ids = ctx.system.list_children(&ctx.id);
        ctx.record(
            "supervisor.list-children",
            EventData::new().strs("children", ids.iter().map(String::as_str)),
            format!("{} live children", ids.len()),
        );
        Ok(ids)
    }

    async fn stop_child(&mut self, child_id: String) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.ctx;
        ctx.record(
            "supervisor.stop-child",
            EventData::new().str("child", &child_id),
            "stop-child".into(),
        );
        let t0 = Instant::now();
        let r = match granted(ctx) {
            Ok(()) => ctx.system.clone().stop_child(&ctx.id, &child_id).await,
            Err(e) => Err(e),
        };
        ctx.waited(Op::StopChild, t0);
        Ok(result(ctx, "stop-child", r, |_| EventData::new()))
    }

    async fn restart_child(&mut self, child_id: String) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.ctx;
        ctx.record(
            "supervisor.restart-child",
            EventData::new().str("child", &child_id),
            "restart-child".into(),
        );
        let t0 = Instant::now();
        let r = match granted(ctx) {
            Ok(()) => ctx.system.clone().restart_child(ctx, &child_id).await,
            Err(e) => Err(e),
        };
        ctx.waited(Op::RestartChild, t0);
        Ok(result(ctx, "restart-child", r, |_| EventData::new()))
    }

    async fn get_child_state(
        &mut self,
        child_id: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        let ctx = &self.ctx;
        ctx.record(
            "supervisor.get-child-state",
            EventData::new().str("child", &child_id),
            "get-child-state".into(),
        );
        let r = match granted(ctx) {
            Ok(()) => ctx.system.child_state(&ctx.id, &child_id).await,
            Err(e) => Err(e),
        };
        Ok(result(ctx, "get-child-state", r, |s| {
            EventData::new().summary("state", s.as_deref())
        }))
    }

    async fn get_child_events(
        &mut self,
        child_id: String,
    ) -> wasmtime::Result<Result<Vec<WitChainEvent>, String>> {
        let ctx = &self.ctx;
        ctx.record(
            "supervisor.get-child-events",
            EventData::new().str("child", &child_id),
            "get-child-events".into(),
        );
        let t0 = Instant::now();
        let r = match granted(ctx) {
            Ok(()) => ctx.system.child_events(&ctx.id, &child_id).await,
            Err(e) => Err(e),
        };
        ctx.waited(Op::GetChildEvents, t0);
        let r = result(ctx, "get-child-events", r, |ev| {
            EventData::new().u64("events", ev.len() as u64)
        });
        Ok(r.map(|events| {
            events
                .into_iter()
                .map(|e| WitChainEvent {
                    hash: e.hash.to_vec(),
                    parent_hash: e.parent_hash.map(|h| h.to_vec()),
                    event_type: e.event_type,
                    data: e.data,
                    timestamp: e.timestamp,
                    description: e.description,
                })
                .collect()
        }))
    }
}
