//! `theater:extension/timer`: `now-ms` and `set-timer`, and the delivery of fired timers to
//! `theater:extension/timer-handler.handle-timer`.
//!
//! A timer is a tokio task holding a clone of the actor's mailbox sender: when the delay is
//! over it queues [`Envelope::Timer`], which the actor handles after its current call, like any
//! other message. Waiting never blocks the actor. When the actor stops (or is restarted, which
//! gives it a new mailbox) its old mailbox's receiver is gone and the timer is dropped.

use crate::actor::{ActorStore, Running};
use crate::bindings::theater::extension::timer::Host;
use crate::chain::EventData;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Longest delay `set-timer` accepts (one day).
const MAX_DELAY_MS: u64 = 86_400_000;
/// Most timers one actor may have pending.
const MAX_PENDING: u32 = 1024;

/// The origin of `now-ms`.
static CLOCK_ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Pending timers per actor id (ids are UUIDs, unique across systems in a process).
static PENDING: LazyLock<Mutex<HashMap<String, u32>>> = LazyLock::new(Mutex::default);

fn pending() -> std::sync::MutexGuard<'static, HashMap<String, u32>> {
    PENDING.lock().expect("pending timers lock")
}

impl Host for ActorStore {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(u64::try_from(CLOCK_ORIGIN.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    async fn set_timer(
        &mut self,
        delay_ms: u64,
        tag: String,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.ctx;
        let refused = |why: String| {
            ctx.record(
                "timer.refused",
                EventData::new()
                    .u64("delay_ms", delay_ms)
                    .str("tag", &tag)
                    .str("error", &why),
                "set-timer refused".into(),
            );
            Ok(Err(why))
        };
        if delay_ms > MAX_DELAY_MS {
            return refused(format!(
                "set-timer: delay of {delay_ms} ms is above the limit of {MAX_DELAY_MS} ms (one day)"
            ));
        }
        let Some(mailbox) = ctx.system.mailbox(&ctx.id) else {
            return refused("set-timer: this actor is stopping".into());
        };
        {
            let mut pending = pending();
            let n = pending.entry(ctx.id.clone()).or_default();
            if *n >= MAX_PENDING {
                drop(pending);
                return refused(format!(
                    "set-timer: {MAX_PENDING} timers are already pending for this actor"
                ));
            }
            *n += 1;
        }
        ctx.record(
            "timer.set",
            EventData::new().u64("delay_ms", delay_ms).str("tag", &tag),
            format!("timer set for {delay_ms} ms"),
        );
        let id = ctx.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            {
                let mut pending = pending();
                if let Some(n) = pending.get_mut(&id) {
                    *n -= 1;
                    if *n == 0 {
                        pending.remove(&id);
                    }
                }
            }
            if !mailbox.timer(tag) {
                tracing::debug!(actor = %id, "timer fired after its actor stopped; dropped");
            }
        });
        Ok(Ok(()))
    }
}

impl Running {
    /// Delivers a fired timer: `handle-timer(tag)`, or only a chain event when the actor does
    /// not export `theater:extension/timer-handler`.
    pub(crate) async fn fire_timer(
        &mut self,
        tag: String,
        state: Option<Vec<u8>>,
    ) -> Result<(), crate::actor::Failure> {
        self.ctx().record(
            "timer.fired",
            EventData::new().str("tag", &tag),
            "timer fired".into(),
        );
        let Some(idx) = self.component.exports.handle_timer else {
            self.ctx().record(
                "callback.not-exported",
                EventData::new()
                    .str("function", "handle-timer")
                    .str("tag", &tag),
                "handle-timer not exported; timer recorded only".into(),
            );
            return Ok(());
        };
        let summary = EventData::new().str("tag", &tag);
        self.call::<(String,), (Option<Vec<u8>>,)>(
            "handle-timer",
            idx,
            state,
            (tag,),
            summary,
            None,
        )
        .await
    }
}
