//! `theater:extension/timer` (`now-ms`, `set-timer`) and the delivery of fired timers to
//! `theater:extension/timer-handler.handle-timer`: the `timer` handler, which every actor has.
//!
//! A timer is a tokio task holding a clone of the actor's mailbox: when the delay is over it
//! queues a call of `handle-timer`, which the actor runs after its current call, like any other
//! message. Waiting never blocks the actor. When the actor stops (or is restarted, which gives
//! it a new mailbox) its old mailbox is closed and the timer is dropped.

use crate::actor::{ActorCall, ActorCtx, ActorStore, Delivery, DeliveryFuture};
use crate::bindings::theater::extension::timer::{self as wit, Host};
use crate::chain::EventData;
use crate::handler::{ExportFn, Handler, HandlerView, HasHandler, SettingsTable};
use crate::manifest::Manifest;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use wasmtime::component::Linker;

/// Longest delay `set-timer` accepts (one day).
const MAX_DELAY_MS: u64 = 86_400_000;
/// Most timers one actor may have pending.
const MAX_PENDING: u32 = 1024;

/// The origin of `now-ms`.
static CLOCK_ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// `theater:extension/timer-handler.handle-timer`.
pub const HANDLE_TIMER: ExportFn = ExportFn::new("theater:extension/timer-handler", "handle-timer");

/// The `timer` handler.
#[derive(Default)]
pub struct TimerHandler;

impl TimerHandler {
    /// The timer handler.
    pub fn new() -> Self {
        Self
    }
}

/// Per actor (incarnation): its pending timers, counted by the timer tasks themselves.
pub struct TimerState {
    pending: Arc<AtomicU32>,
}

impl Handler for TimerHandler {
    type Settings = ();
    type Grant = ();
    type State = TimerState;

    fn name(&self) -> &str {
        "timer"
    }

    fn imports(&self) -> &[&'static str] {
        &["theater:extension/timer"]
    }

    fn exports(&self) -> &[ExportFn] {
        &[HANDLE_TIMER]
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

    fn state(&self, _: &Arc<()>, _: &ActorCtx) -> TimerState {
        TimerState {
            pending: Arc::default(),
        }
    }
}

impl Host for HandlerView<'_, TimerHandler> {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(u64::try_from(CLOCK_ORIGIN.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    async fn set_timer(
        &mut self,
        delay_ms: u64,
        tag: String,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.actor;
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
        let Some(state) = &self.state else {
            return refused("set-timer: this actor has no `timer` handler".into());
        };
        if delay_ms > MAX_DELAY_MS {
            return refused(format!(
                "set-timer: delay of {delay_ms} ms is above the limit of {MAX_DELAY_MS} ms (one day)"
            ));
        }
        let Some(mailbox) = ctx.mailbox() else {
            return refused("set-timer: this actor is stopping".into());
        };
        let pending = state.pending.clone();
        if pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PENDING).then_some(n + 1)
            })
            .is_err()
        {
            return refused(format!(
                "set-timer: {MAX_PENDING} timers are already pending for this actor"
            ));
        }
        ctx.record(
            "timer.set",
            EventData::new().u64("delay_ms", delay_ms).str("tag", &tag),
            format!("timer set for {delay_ms} ms"),
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            pending.fetch_sub(1, Ordering::AcqRel);
            if !mailbox.notify(Box::new(Fired { tag })) {
                tracing::debug!(actor = %mailbox.id(), "timer fired after its actor stopped; dropped");
            }
        });
        Ok(Ok(()))
    }
}

/// A fired timer: `handle-timer(tag)`, or only a chain event when the actor does not export
/// `theater:extension/timer-handler`.
struct Fired {
    tag: String,
}

impl Delivery for Fired {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let tag = self.tag;
            actor.ctx().record(
                "timer.fired",
                EventData::new().str("tag", &tag),
                "timer fired".into(),
            );
            if !actor.has_export(&HANDLE_TIMER) {
                actor.ctx().record(
                    "callback.not-exported",
                    EventData::new()
                        .str("function", "handle-timer")
                        .str("tag", &tag),
                    "handle-timer not exported; timer recorded only".into(),
                );
                return Ok(());
            }
            let summary = EventData::new().str("tag", &tag);
            actor
                .call::<(String,), (Option<Vec<u8>>,)>(HANDLE_TIMER, (tag,), summary, None)
                .await
        })
    }
}
