//! Host-side bindings for the `theater:simple` WIT package and this project's
//! `theater:extension` package (world `theater:extension/host`, which includes
//! `theater:simple/host`).

wasmtime::component::bindgen!({
    path: ["../wit", "../wit/extension"],
    world: "theater:extension/host",
    imports: { default: async | trappable | tracing },
    exports: { default: async },
});

pub use theater::simple::types::{WitActorError, WitErrorType};
