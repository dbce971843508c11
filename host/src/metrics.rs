//! Optional timing of supervisor operations, for benchmarks: when [`SystemConfig::timings`]
//! is set, host functions record how long each operation took, as seen by the host.
//!
//! [`SystemConfig::timings`]: crate::SystemConfig::timings

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Operations whose duration is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `supervisor.spawn`: call to `Ok(id)`, child init included.
    Spawn,
    /// `supervisor.resume`.
    Resume,
    /// `supervisor.stop-child`: call to return (child gone).
    StopChild,
    /// `supervisor.restart-child`: call to return (new init done).
    RestartChild,
    /// `supervisor.get-child-events`.
    GetChildEvents,
    /// `message-server-host.request`: round trip seen by the requester.
    Request,
    /// From a child's failing call returning to the start of the parent's `handle-child-error`.
    CrashToCallback,
}

/// Recorded durations per operation, in nanoseconds.
#[derive(Debug, Default)]
pub struct OpTimings {
    samples: Mutex<HashMap<Op, Vec<u64>>>,
}

impl OpTimings {
    /// Records one duration.
    pub fn record(&self, op: Op, d: Duration) {
        self.samples
            .lock()
            .expect("timings lock")
            .entry(op)
            .or_default()
            .push(d.as_nanos() as u64);
    }

    /// Takes (and clears) the samples of one operation.
    pub fn take(&self, op: Op) -> Vec<u64> {
        self.samples
            .lock()
            .expect("timings lock")
            .remove(&op)
            .unwrap_or_default()
    }
}
