//! The `theater-supervisor` command line: one module per verb, each a clap struct with `exec`.

pub mod data;
mod events;
mod new;
mod printable;
mod run;
mod signals;
pub mod store_select;
mod tree;
mod verify;

pub use events::EventsCommand;
pub use new::{NewCommand, NewError, Template};
pub use run::RunCommand;
pub use tree::TreeCommand;
pub use verify::VerifyCommand;
