//! The parts of theater-supervisor that need no WebAssembly runtime: actor manifests, the
//! SHA-256 event chain with its canonical encoding, the JSON events file, and actor statuses.
//! Kept apart so the parsers can be fuzzed and reused without building wasmtime.
#![deny(missing_docs)]

pub mod chain;
pub mod diagnose;
pub mod events_file;
pub mod manifest;
pub mod status;
