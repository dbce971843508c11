//! End-to-end tests: real guest components (built by `just guests`) on the real host.
//! One module per part of the contract.

mod adapter;
mod chain;
mod cli;
mod crash;
mod deadlocks;
mod errors;
mod hostile;
mod limits;
mod messaging;
mod model;
mod notifications;
mod operations;
mod permissions;
mod readme;
mod resume;
mod signals;
mod templates;
