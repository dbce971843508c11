//! Everything wasmtime: the engines (a pooled one and an on-demand fallback), the components
//! compiled for them, the store data of an actor and its live instance.
//!
//! The rest of the host reaches an actor only through what is here: [`store::ActorCtx`] (what
//! host functions see) and [`instance::Running`] (the actor's task owns it). The system is
//! reached back through the [`host::HostOps`] trait, so nothing here depends on it.

pub mod channels;
pub mod components;
pub mod host;
pub mod instance;
pub mod messaging;
pub mod outstanding;
pub mod store;
pub(crate) mod waits;

use crate::config::Allocator;
use components::{ComponentCache, HandlerSurface, LoadedComponent};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use store::ActorStore;
use wasmtime::component::Linker;
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

/// Interval of the epoch ticker: how often running wasm yields to tokio.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The wasmtime `Config` this host uses for an allocator and cache directory: async component
/// model with epoch interruption. Public so benchmarks can build a raw-wasmtime baseline with
/// exactly the same engine settings.
pub fn engine_config(allocator: &Allocator, cache_dir: Option<&Path>) -> wasmtime::Result<Config> {
    let mut wc = Config::new();
    wc.wasm_component_model(true).epoch_interruption(true);
    match allocator {
        Allocator::Pooling {
            max_instances,
            max_memory_bytes,
            max_concurrent_calls,
        } => {
            let n = *max_instances;
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(4))
                .total_memories(n)
                .total_tables(n.saturating_mul(2))
                .total_stacks(n.saturating_add(*max_concurrent_calls))
                .max_memory_size(*max_memory_bytes)
                .max_memories_per_component(2)
                .max_tables_per_component(4)
                .max_core_instances_per_component(8);
            wc.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
                .memory_reservation(*max_memory_bytes as u64)
                .memory_guard_size(64 << 10)
                .memory_reservation_for_growth(0)
                .memory_init_cow(true);
        }
        Allocator::OnDemand { max_memory_bytes } => {
            wc.memory_reservation(*max_memory_bytes as u64)
                .memory_guard_size(64 << 10)
                .memory_reservation_for_growth(0);
        }
    }
    if let Some(dir) = cache_dir {
        let mut cc = CacheConfig::new();
        cc.with_directory(dir);
        wc.cache(Some(Cache::new(cc)?));
    }
    Ok(wc)
}

/// One wasmtime engine with its linker and the components compiled for it.
pub(crate) struct EngineSet {
    pub engine: Engine,
    pub linker: Linker<ActorStore>,
    pub components: ComponentCache,
}

/// Adds the handlers' interfaces to a linker (the handler registry's `add_to_linker`).
pub(crate) type AddToLinker<'a> = &'a dyn Fn(&mut Linker<ActorStore>) -> wasmtime::Result<()>;

impl EngineSet {
    /// An engine with `config`, its linker holding WASI 0.2 and what `add` adds.
    pub fn new(config: &Config, add: AddToLinker<'_>) -> wasmtime::Result<Self> {
        let engine = Engine::new(config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        add(&mut linker)?;
        Ok(Self {
            engine,
            linker,
            components: ComponentCache::default(),
        })
    }

    /// The component at `path`, compiled for this engine (once per content).
    pub async fn load(
        &self,
        handlers: &HandlerSurface,
        path: &Path,
    ) -> Result<Arc<LoadedComponent>, String> {
        self.components
            .load(&self.engine, &self.linker, handlers, path)
            .await
    }
}
