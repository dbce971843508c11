//! A wasmtime component host that gives WebAssembly component actors **supervision**.
//!
//! Actors written against the `theater:simple` WIT package (Theater 0.1.x signatures) run here
//! unchanged: a parent spawns, resumes, lists, restarts and stops children, reads their state
//! and event chain, and is called back when a child fails, exits or is stopped from outside.
//! Every operation is recorded in a per-actor SHA-256 hash chain.
//!
//! The host is made of [handlers](handler::Handler), one per manifest `[[handler]] type`:
//! [`ActorSystem::new`] registers the built-in ones ([`handlers`]); [`ActorSystem::builder`]
//! takes an embedder's own next to them (see `docs/handlers.md` and `examples/kv`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use theater_supervisor::{ActorSystem, RootOutcome, SystemConfig};
//! let system = ActorSystem::new(SystemConfig::default())?;
//! let root = system.start_root("demo/root.toml").await?;
//! match system.wait_root().await {
//!     RootOutcome::Shutdown(_) => println!("root {root} finished"),
//!     other => println!("root ended: {other:?}"),
//! }
//! for actor in system.actors() {
//!     let chain = system.chain(&actor.id).unwrap();
//!     theater_supervisor::chain::verify(&chain, None)?;
//! }
//! # Ok(()) }
//! ```
//!
//! Requests, messages, an external stop and a chain (the README's embedding example):
//!
//! ```no_run
//! use theater_supervisor::{ActorSystem, RootOutcome, SystemConfig};
//! # async fn demo() -> anyhow::Result<()> {
//! let system = ActorSystem::new(SystemConfig::default())?;
//! let root = system.start_root("demo/root.toml").await?;   // returns after init succeeded
//! let reply = system.request(&root, b"hello".to_vec()).await?; // handle-request
//! system.send(&root, b"tick".to_vec())?;                       // handle-send
//! system.stop_actor(&root).await?;  // external stop: the parent (if any) gets handle-child-external-stop
//! let chain = system.chain(&root).unwrap();                   // any actor's chain, also after it stopped
//! theater_supervisor::chain::verify(&chain, None)?;
//! let outcome: RootOutcome = system.wait_root().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bindings;
mod clock;
pub mod cluster;
#[cfg(feature = "cli")]
pub mod commands;
mod config;
mod engine;
mod error;
pub mod handler;
pub mod handlers;
pub mod io;
pub mod lifecycle;
pub mod metrics;
pub mod permissions;
pub mod store;
mod system;
mod tree;

pub use theater_core::{chain, events_file, manifest};

pub use chain::{ChainError, ChainEvent};
pub use config::{Allocator, LogLine, LogSink, SystemConfig};
pub use engine::components::ExportTable;
pub use engine::engine_config;
pub use engine::instance::{ActorCall, Delivery, DeliveryFuture, ExportResult};
pub use engine::messaging;
pub use engine::store::{ActorCtx, ActorStore, CallPath, Waiting};
pub use error::{HostError, HostResult, MailboxError};
pub use system::{
    ActorInfo, ActorStatus, ActorSystem, ActorSystemBuilder, ResumeReport, RootOutcome, SystemError,
};
pub use tree::ActorId;
