//! End-to-end tests: real guest components (built by `just guests`) on the real host.
//! One module per part of the contract.

mod adapter;
mod chain;
mod channels;
mod cli;
mod cli_run;
mod crash;
mod deadlocks;
mod errors;
mod faults;
mod hostile;
mod io;
mod limits;
mod messaging;
mod model;
mod notifications;
mod operations;
mod outstanding;
mod permissions;
mod readme;
mod resume;
mod shared_store;
mod signals;
mod templates;
