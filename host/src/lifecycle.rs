//! What happens to an actor, as the supervision tree sees it: how it was started, why it is
//! stopped, how it ended. Plain data (no wasmtime): handlers hear these through
//! [`Handler::lifecycle`](crate::handler::Handler::lifecycle).

use std::time::Instant;

/// How an actor was first started; a restart starts it again the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// A root, started by the host ([`crate::ActorSystem::start_root`]).
    Root,
    /// `supervisor.spawn`: init gets the spawn bytes, else the manifest's `init_state`.
    Spawn,
    /// `supervisor.resume`: init gets the saved state.
    Resume,
}

impl StartMode {
    /// The name stored with the actor (`root`, `spawn`, `resume`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Spawn => "spawn",
            Self::Resume => "resume",
        }
    }

    /// The mode [`StartMode::name`] names (a stored start mode).
    pub fn from_name(name: &str) -> Self {
        match name {
            "root" => Self::Root,
            "resume" => Self::Resume,
            _ => Self::Spawn,
        }
    }
}

/// Why an actor is being stopped by someone other than itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Its parent called `stop-child`.
    ByParent,
    /// The host API or the CLI stopped it (or the host is shutting down).
    External,
    /// Its parent is stopping (children stop first).
    ParentStopping,
    /// Its parent called `restart-child`: it starts again with the same id.
    Restart,
}

impl StopReason {
    /// The name recorded in the chain.
    pub fn name(self) -> &'static str {
        match self {
            Self::ByParent => "stopped-by-parent",
            Self::External => "stopped-externally",
            Self::ParentStopping => "parent-stopping",
            Self::Restart => "restart",
        }
    }
}

/// What kind of failure ended an actor (the WIT `wit-error-type` a parent is told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// An export returned `err`, trapped, or a limit was hit.
    Internal,
    /// An export ran past its deadline.
    OperationTimeout,
}

impl FailureKind {
    /// The kebab-case name, as in the WIT.
    pub fn name(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::OperationTimeout => "operation-timeout",
        }
    }
}

/// A failed call (or start), as reported to the parent.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What happened, for people (the parent gets it as the error's data).
    pub message: String,
    /// When it was detected (for crash-to-callback timing).
    pub at: Instant,
}

impl Failure {
    /// An `internal` failure with this message, detected now.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Internal,
            message: message.into(),
            at: Instant::now(),
        }
    }
}

/// How an actor ended.
#[derive(Clone, Debug)]
pub enum End {
    /// It called `runtime.shutdown(data)`.
    Shutdown(Option<Vec<u8>>),
    /// A call failed (or it could not be brought back after a host restart).
    Failed(Failure),
    /// Someone else stopped it.
    Stopped(StopReason),
}

impl End {
    /// Why it is stopping, as recorded in `lifecycle.stopping`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Shutdown(_) => "shutdown",
            Self::Failed(_) => "failed",
            Self::Stopped(r) => r.name(),
        }
    }
}

/// A step in an actor's life, told to every registered handler.
#[derive(Clone, Copy, Debug)]
pub enum Lifecycle<'a> {
    /// It started for the first time (as a root, by `spawn` or `resume`): `init` succeeded.
    Started,
    /// `restart-child` started it again with the same id: `init` succeeded.
    Restarted,
    /// [`crate::ActorSystem::resume`] brought it back after a host restart: `init` succeeded.
    Resumed,
    /// It is about to stop (its in-flight call may still finish).
    Stopping(&'a End),
    /// It ended and its end is durable (its parent may be told).
    Stopped(&'a End),
}
