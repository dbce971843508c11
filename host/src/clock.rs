//! The host clock that call deadlines are measured on: monotonic time minus the time the whole
//! host process was not running (stopped with SIGSTOP, a suspended VM, a machine starved for
//! seconds). A deadline bounds an actor's own work, so a host pause must not use it up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A gap between two ticks longer than this is counted as a host pause (beyond one tick).
const PAUSE_THRESHOLD: Duration = Duration::from_millis(50);

/// Monotonic time of one actor system, with host pauses taken out.
#[derive(Debug)]
pub(crate) struct HostClock {
    base: Instant,
    /// Nanoseconds of host pauses seen so far.
    paused: AtomicU64,
    /// Nanoseconds after `base` of the last tick.
    last_tick: AtomicU64,
}

impl Default for HostClock {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            paused: AtomicU64::new(0),
            last_tick: AtomicU64::new(0),
        }
    }
}

impl HostClock {
    /// Time since the clock started, host pauses excluded.
    pub fn now(&self) -> Duration {
        self.base
            .elapsed()
            .saturating_sub(Duration::from_nanos(self.paused.load(Ordering::Acquire)))
    }

    /// Called by the epoch ticker every `interval` (before it increments the epoch, so a
    /// deadline check woken by the tick sees the pause already taken out). A gap since the
    /// previous tick of more than [`PAUSE_THRESHOLD`] means the process was not running: all
    /// of it but one interval is a pause. Returns the pause counted, if any.
    pub fn tick(&self, interval: Duration) -> Option<Duration> {
        let now = self.base.elapsed().as_nanos() as u64;
        let last = self.last_tick.swap(now, Ordering::AcqRel);
        let gap = Duration::from_nanos(now.saturating_sub(last));
        if last != 0 && gap > PAUSE_THRESHOLD {
            let pause = gap.saturating_sub(interval);
            self.paused
                .fetch_add(pause.as_nanos() as u64, Ordering::AcqRel);
            return Some(pause);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_between_ticks_is_taken_out_of_the_clock() {
        let clock = HostClock::default();
        assert_eq!(clock.tick(Duration::from_millis(5)), None);
        std::thread::sleep(Duration::from_millis(120));
        let before = clock.now();
        let pause = clock.tick(Duration::from_millis(5)).expect("a pause");
        assert!(pause >= Duration::from_millis(110), "{pause:?}");
        let after = clock.now();
        assert!(after < before, "{after:?} !< {before:?}");
        assert!(after < Duration::from_millis(20), "{after:?}");
    }

    #[test]
    fn regular_ticks_leave_the_clock_alone() {
        let clock = HostClock::default();
        for _ in 0..5 {
            assert_eq!(clock.tick(Duration::from_millis(5)), None);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(clock.now() >= Duration::from_millis(25));
    }
}
