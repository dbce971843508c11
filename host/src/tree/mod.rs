//! The supervision tree's bookkeeping, free of wasmtime: actor ids, each actor's children in
//! start order, mailboxes, the registry of records and the checks of parent operations.

mod children;
mod mailbox;
mod registry;

pub(crate) use children::ChildList;
pub(crate) use mailbox::{Mailbox, MailboxRx, QueueError};
pub(crate) use registry::{ActorRecord, Registry, StartArgs};

pub use crate::lifecycle::ActorId;

pub(crate) use crate::error::short_id;
