//! The host's errors. Inside the host they are typed; at the WIT boundary (the handlers' host
//! functions) and in the embedding API each becomes its `Display` text, which is what a guest
//! or a person reads: that text is the contract, the variants are for code.

use crate::lifecycle::ActorId;
use crate::manifest::ManifestError;
use theater_core::status::ActorStatus;

/// An id as shown in error messages: at most 100 characters (a hostile id may be megabytes).
pub(crate) fn short_id(id: &str) -> std::borrow::Cow<'_, str> {
    match id.char_indices().nth(100) {
        Some((i, _)) => format!("{}... ({} bytes)", &id[..i], id.len()).into(),
        None => id.into(),
    }
}

/// Why a message was not queued in an actor's mailbox.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MailboxError {
    /// The actor already has `capacity` messages waiting.
    #[error(
        "mailbox of actor `{actor}` is full ({capacity} messages waiting); it is not keeping up, try again later"
    )]
    Full {
        /// The actor.
        actor: ActorId,
        /// [`crate::SystemConfig::mailbox_capacity`].
        capacity: usize,
    },
    /// The actor stopped.
    #[error("actor `{actor}` stopped before the message was queued")]
    Closed {
        /// The actor.
        actor: ActorId,
    },
}

/// Why a host operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// No actor of this host has the id.
    #[error("unknown actor id `{}`: no actor with this id exists", short_id(.0))]
    UnknownActor(ActorId),
    /// The caller has no child with the id.
    #[error("unknown child id `{}`: no actor with this id exists", short_id(.0))]
    UnknownChild(ActorId),
    /// The actor is not the caller's child: a parent may only manage its own children.
    #[error(
        "permission denied: actor `{}` is not a child of this actor (a parent may only manage its own children)",
        short_id(.0)
    )]
    NotYourChild(ActorId),
    /// The calling actor's manifest lacks the handler the call needs.
    #[error("permission denied: this actor has no `{0}` handler in its manifest")]
    NoHandler(&'static str),
    /// The actor already stopped or failed.
    #[error("actor `{0}` is not running (it already stopped)")]
    NotRunning(ActorId),
    /// The caller's child already stopped or failed.
    #[error("child `{0}` is not running (it already stopped)")]
    ChildNotRunning(ActorId),
    /// A host-wide cap ([`crate::SystemConfig::max_actors`], `max_depth`) was reached.
    #[error("limit reached: {0}")]
    LimitReached(String),
    /// A manifest could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The component imports an interface of a handler its manifest lacks.
    #[error(
        "{origin}: the component imports {interface} but the manifest has no `[[handler]] type = \"{handler}\"`"
    )]
    MissingHandler {
        /// The manifest.
        origin: String,
        /// The imported interface.
        interface: String,
        /// The handler that provides it.
        handler: String,
    },
    /// Loading, instantiating or initialising the actor failed.
    #[error("{origin}: {message}")]
    StartFailed {
        /// The manifest.
        origin: String,
        /// What failed.
        message: String,
    },
    /// The target of a message does not export the function the message is for.
    #[error(
        "actor `{actor}` ({name}) does not accept messages: it does not export theater:simple/message-server-client.{function}"
    )]
    NotAccepting {
        /// The target.
        actor: ActorId,
        /// Its manifest name.
        name: String,
        /// The missing export (`handle-send`, `handle-request`).
        function: &'static str,
    },
    /// The target of a message is not running.
    #[error("actor `{actor}` ({name}) is not running (status: {status:?})")]
    NotReceiving {
        /// The target.
        actor: ActorId,
        /// Its manifest name.
        name: String,
        /// Its status.
        status: ActorStatus,
    },
    /// The message was not queued.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    /// The request would wait on an actor that is already waiting on the caller.
    #[error(
        "request refused: actor `{to}` is waiting on this call ({cycle} -> {to}), so the request would deadlock"
    )]
    Deadlock {
        /// The target.
        to: ActorId,
        /// The actors waiting, from the target to the caller.
        cycle: String,
    },
    /// The target stopped before it answered.
    #[error("actor `{0}` stopped before answering the request")]
    NoAnswer(ActorId),
    /// The calling actor has no outstanding request with this id.
    #[error(
        "unknown request id `{}`: this actor has no outstanding request with this id (never received here, or already answered, cancelled or timed out)",
        short_id(.0)
    )]
    UnknownRequest(String),
    /// The request got no answer within [`crate::SystemConfig::request_timeout`].
    #[error(
        "request to actor `{to}` timed out: no answer within the host's request timeout of {timeout:?}"
    )]
    RequestTimeout {
        /// The target.
        to: ActorId,
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// The channel id is not one of the calling actor's open channels.
    #[error(
        "channel `{}` is closed or is not one of this actor's channels (only its two ends may use a channel id)",
        short_id(.0)
    )]
    UnknownChannel(String),
    /// The channel was not accepted yet.
    #[error("channel `{0}` is not open yet: its target has not accepted it")]
    ChannelNotOpen(String),
    /// The target of `open-channel` refused it (or could not answer).
    #[error("open-channel to actor `{to}` refused: {message}")]
    ChannelRefused {
        /// The target.
        to: ActorId,
        /// The target's message (UTF-8, lossy), or why there is none.
        message: String,
    },
    /// The event store failed or refused, so the operation is not recorded.
    #[error("{0}")]
    Store(String),
    /// Refused by a handler's own check (its message says why), or any other failure.
    #[error("{0}")]
    Refused(String),
}

impl From<String> for HostError {
    /// A handler's own refusal (`permission denied: ...`) or another message, as given.
    fn from(message: String) -> Self {
        Self::Refused(message)
    }
}

impl From<&str> for HostError {
    fn from(message: &str) -> Self {
        Self::Refused(message.to_string())
    }
}

impl From<crate::store::StoreError> for HostError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<HostError> for String {
    /// The text a guest or a person reads.
    fn from(e: HostError) -> Self {
        e.to_string()
    }
}

/// What host operations return.
pub type HostResult<T> = Result<T, HostError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The text is the contract with guests and people: these are the messages the host always
    /// gave.
    #[test]
    fn errors_read_as_the_messages_guests_get() {
        let long = "x".repeat(300);
        for (e, want) in [
            (
                HostError::UnknownChild("c1".into()),
                "unknown child id `c1`: no actor with this id exists".to_string(),
            ),
            (
                HostError::UnknownActor(long.clone()),
                format!(
                    "unknown actor id `{}... (300 bytes)`: no actor with this id exists",
                    &long[..100]
                ),
            ),
            (
                HostError::NotYourChild("c2".into()),
                "permission denied: actor `c2` is not a child of this actor (a parent may only manage its own children)".into(),
            ),
            (
                HostError::NoHandler("supervisor"),
                "permission denied: this actor has no `supervisor` handler in its manifest".into(),
            ),
            (
                HostError::MissingHandler {
                    origin: "/m/a.toml".into(),
                    interface: "example:kv/store".into(),
                    handler: "kv".into(),
                },
                "/m/a.toml: the component imports example:kv/store but the manifest has no `[[handler]] type = \"kv\"`".into(),
            ),
            (
                HostError::Deadlock {
                    to: "a".into(),
                    cycle: "a -> b".into(),
                },
                "request refused: actor `a` is waiting on this call (a -> b -> a), so the request would deadlock".into(),
            ),
            (
                MailboxError::Full {
                    actor: "a".into(),
                    capacity: 3,
                }
                .into(),
                "mailbox of actor `a` is full (3 messages waiting); it is not keeping up, try again later".into(),
            ),
            (
                HostError::from("permission denied: max_children = 1 reached".to_string()),
                "permission denied: max_children = 1 reached".into(),
            ),
        ] {
            assert_eq!(String::from(e), want);
        }
    }
}
