//! The `theater-supervisor` command line: one module per verb, each a clap struct with `exec`.

pub mod data;
mod events;
mod run;
pub mod store_select;
mod tree;
mod verify;

pub use events::EventsCommand;
pub use run::RunCommand;
pub use tree::TreeCommand;
pub use verify::VerifyCommand;
