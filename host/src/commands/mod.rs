//! The `theater-supervisor` command line: one module per verb, each a clap struct with `exec`.

mod run;
mod verify;

pub use run::RunCommand;
pub use verify::VerifyCommand;
