//! Host-side bindings for the `theater:simple` WIT package (world `theater:simple/host`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "theater:simple/host",
    imports: { default: async | trappable | tracing },
    exports: { default: async },
});

pub use theater::simple::types::{ChainEvent as WitChainEvent, WitActorError, WitErrorType};
