//! Actor lifecycle status.

/// Lifecycle status of an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActorStatus {
    /// Loading or running `init`.
    Starting,
    /// Live: takes messages.
    Running,
    /// Being stopped: takes no new messages.
    Stopping,
    /// Stopped (shutdown, stop-child, external stop, parent stopped).
    Stopped,
    /// Failed (a call returned err, trapped or timed out).
    Failed,
}

impl ActorStatus {
    /// True for `stopped` and `failed`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Stopped | Self::Failed)
    }
}
