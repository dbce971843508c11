//! Settings of an [`ActorSystem`](crate::ActorSystem): limits, the allocator, the store, where
//! log lines go.

use crate::metrics::OpTimings;
use crate::store::Storage;
use crate::tree::ActorId;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a stopped actor's in-flight call may take before it is killed.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// One log line written by an actor through `runtime.log`.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The actor's id.
    pub actor_id: ActorId,
    /// The actor's manifest name.
    pub actor_name: String,
    /// The message.
    pub message: String,
}

/// Where `runtime.log` lines go besides `tracing`.
pub type LogSink = Arc<dyn Fn(&LogLine) + Send + Sync>;

/// Settings of an [`ActorSystem`].
#[derive(Clone)]
pub struct SystemConfig {
    /// How long a stopped actor's in-flight call may run before the actor is killed.
    pub shutdown_timeout: Duration,
    /// Deadline of every export call (init, handlers); past it the actor fails with
    /// `operation-timeout`. The host-wide ceiling of the manifests' `limits.call_timeout_ms`.
    pub call_timeout: Duration,
    /// Host-wide ceiling (and default) of the manifests' `limits.table_elements`. The ceiling of
    /// `limits.memory_bytes` is the allocator's `max_memory_bytes`.
    pub table_elements: u64,
    /// Live actors this host runs at most (every tree together); a start past it is refused.
    pub max_actors: usize,
    /// Deepest supervision tree: a root is at depth 0; spawning a child deeper is refused.
    pub max_depth: u32,
    /// Receives every `runtime.log` line.
    pub log_sink: Option<LogSink>,
    /// Let guests built for WASI write to the host's stdout/stderr.
    pub inherit_stdio: bool,
    /// How instance memory is allocated.
    pub allocator: Allocator,
    /// Directory of the on-disk compiled-component cache (wasmtime's cache, keyed by the
    /// component bytes and the engine's configuration); `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// When set, host functions record how long supervisor operations take (benchmarks).
    pub timings: Option<Arc<OpTimings>>,
    /// Durable store of every actor's record, chain and state (see [`crate::store`]); `None`
    /// keeps everything in memory only.
    pub storage: Option<Arc<dyn Storage>>,
    /// With a store: events of each chain kept in memory (the newest; older ones are read back
    /// from the store). 0 keeps all.
    pub memory_events: usize,
    /// Records (state, chain) of ended actors kept in memory for `get-child-state` /
    /// `get-child-events`; older ones are dropped (with a store, those two then read it).
    pub retain_stopped: usize,
    /// Messages (`send`/`request`) that may wait in one actor's mailbox; more are refused with
    /// an error. Callbacks to parents are not counted.
    pub mailbox_capacity: usize,
    /// How long a request may wait for its answer: an outstanding request (its target's
    /// `handle-request` returned `none`) still unanswered this long after it was made ends with
    /// `err` for its requester.
    pub request_timeout: Duration,
    /// This host's id, recorded in every `lifecycle.start` event (the chain shows where each
    /// actor ran; `run --host-id`, with a shared store the lease owner). `None` records none.
    pub host_id: Option<String>,
}

/// How instances get their linear memories and tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// wasmtime's pooling allocator: `max_instances` slots reserved up front, memories
    /// initialised copy-on-write from the component's image. When the pool is full, further
    /// instances come from an on-demand engine (compiled again for it, once per component).
    Pooling {
        /// Live component instances the pool holds.
        max_instances: u32,
        /// Largest linear memory an instance may grow to (also the slot reservation).
        max_memory_bytes: usize,
        /// Extra async stacks beyond one per instance (a live store keeps the stack of its last
        /// call for reuse, so the pool holds `max_instances + max_concurrent_calls` stacks).
        max_concurrent_calls: u32,
    },
    /// wasmtime's on-demand allocator: mmap per instance; memories reserve `max_memory_bytes`.
    OnDemand {
        /// Largest linear memory an instance may grow to (also the reservation).
        max_memory_bytes: usize,
    },
}

impl Allocator {
    /// Largest linear memory an instance may grow to.
    pub fn max_memory_bytes(&self) -> usize {
        match self {
            Self::Pooling {
                max_memory_bytes, ..
            }
            | Self::OnDemand { max_memory_bytes } => *max_memory_bytes,
        }
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Self::Pooling {
            max_instances: 1_000,
            max_memory_bytes: 64 << 20,
            max_concurrent_calls: 1_000,
        }
    }
}

impl Default for SystemConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            call_timeout: Duration::from_secs(30),
            table_elements: 100_000,
            max_actors: 10_000,
            max_depth: 32,
            log_sink: None,
            inherit_stdio: true,
            allocator: Allocator::default(),
            cache_dir: None,
            timings: None,
            storage: None,
            memory_events: 1024,
            retain_stopped: 1_000,
            mailbox_capacity: 10_000,
            request_timeout: Duration::from_secs(30),
            host_id: None,
        }
    }
}
