//! `theater:extension/child-control`: a parent's settings for its own children.

use crate::actor::ActorStore;
use crate::bindings::theater::extension::child_control::Host;
use crate::chain::EventData;
use std::time::Duration;

impl Host for ActorStore {
    async fn set_shutdown_timeout(
        &mut self,
        child_id: String,
        timeout_ms: u64,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.ctx;
        let r = super::supervisor::granted(ctx).and_then(|()| {
            let timeout = Duration::from_millis(timeout_ms);
            ctx.system.set_shutdown_timeout(&ctx.id, &child_id, timeout)
        });
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
