//! The supervision tree's bookkeeping, free of wasmtime: actor ids, each actor's children in
//! start order, mailboxes, the registry of records and the checks of parent operations.

mod children;
mod mailbox;
mod registry;

pub(crate) use children::ChildList;
pub(crate) use mailbox::{Mailbox, MailboxRx, QueueError};
pub(crate) use registry::{ActorRecord, Registry, StartArgs};

pub use crate::lifecycle::ActorId;

/// An id as shown in error messages: at most 100 characters (a hostile id may be megabytes).
pub(crate) fn short_id(id: &str) -> std::borrow::Cow<'_, str> {
    match id.char_indices().nth(100) {
        Some((i, _)) => format!("{}... ({} bytes)", &id[..i], id.len()).into(),
        None => id.into(),
    }
}

pub(crate) fn unknown(id: &str) -> String {
    format!(
        "unknown actor id `{}`: no actor with this id exists",
        short_id(id)
    )
}

pub(crate) fn not_your_child(id: &str) -> String {
    format!(
        "permission denied: actor `{}` is not a child of this actor (a parent may only manage its own children)",
        short_id(id)
    )
}

/// Like [`not_your_child`] with the id as given (the message parent operations always gave).
pub(crate) fn not_your_child_plain(id: &str) -> String {
    format!(
        "permission denied: actor `{id}` is not a child of this actor (a parent may only manage its own children)"
    )
}

pub(crate) fn unknown_child(id: &str) -> String {
    format!(
        "unknown child id `{}`: no actor with this id exists",
        short_id(id)
    )
}
