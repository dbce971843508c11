//! # theater-supervision: the guest SDK
//!
//! Write an OTP-style supervising actor in a few lines: declare the children and a strategy,
//! get restarts for free, and still handle whatever you like yourself.
//!
//! ```ignore
//! use theater_supervision::prelude::*;
//!
//! struct Shop;
//!
//! impl Supervisor for Shop {
//!     fn flags(_me: &str, _state: &State) -> SupervisorFlags {
//!         flags(Strategy::OneForOne).intensity(5, 10_000)
//!     }
//!     fn children(_me: &str, _state: &State) -> Vec<ChildSpec> {
//!         vec![worker("cart", "cart.toml"), worker("payments", "payments.toml").transient()]
//!     }
//! }
//!
//! theater_supervision::export_supervisor!(Shop);
//! ```
//!
//! Build the crate for `wasm32-unknown-unknown`, make it a component with
//! `wasm-tools component new`, then plug the adapter in:
//! `wac plug --plug supervision-adapter.wasm shop.wasm -o shop.composed.wasm`.
//! The composed actor imports only `theater:simple/*` and `theater:extension/*`.
//!
//! What the SDK writes for you (see [`Actor`]): `init` starts the supervisor with
//! [`Supervisor::flags`] and [`Supervisor::children`]; the `supervisor-handlers` exports and
//! `handle-timer` delegate to the adapter and then call your [`Supervisor::on_child_event`] /
//! [`Supervisor::on_timer`] hooks with the adapter's [`Report`]; if the adapter gives up (restart
//! intensity exceeded) the handler returns its error, so this actor fails and its own parent
//! hears about it. Messages go to [`Supervisor::handle_request`] and [`Supervisor::handle_send`].

#![deny(missing_docs)]

pub mod messaging;

/// The generated bindings, once for every crate using the SDK (world
/// `theater:supervision/supervised-actor`).
#[allow(missing_docs, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        world: "theater:supervision/supervised-actor",
        path: ["../../wit", "../../wit/extension", "../../wit/supervision"],
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "theater_supervision::bindings",
        export_macro_name: "export_supervised_actor",
    });
}

use bindings::exports::theater::extension::timer_handler::Guest as TimerHandler;
use bindings::exports::theater::simple::actor::Guest as ActorGuest;
use bindings::exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use bindings::exports::theater::simple::supervisor_handlers::Guest as SupervisorHandlers;
pub use messaging::{Accept, Channel};
use std::marker::PhantomData;

/// Timers (`theater:extension/timer`): your own tags reach [`Supervisor::on_timer`].
pub use bindings::theater::extension::timer;
/// The raw `theater:simple` interfaces, for anything the adapter does not do.
pub use bindings::theater::simple::{
    message_server_host, runtime, supervisor as raw, types::WitActorError, types::WitErrorType,
};
/// The high-level supervisor API (the adapter's export): `start-child`, `terminate-child`,
/// `restart-child`, `delete-child`, `which-children`, `count-children`, ...
pub use bindings::theater::supervision::supervisor as api;
pub use bindings::theater::supervision::supervisor::{
    Action, Backoff, ChildCounts, ChildInfo, ChildSpec, ChildStatus, ChildType, Intensity, Report,
    RestartMode, RestartType, Strategy, SupervisorFlags,
};

/// `running`, `restarting`, `stopped`.
impl std::fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Stopped => "stopped",
        })
    }
}

/// `operation-timeout`, `internal`, ...: the WIT name.
impl std::fmt::Display for WitErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OperationTimeout => "operation-timeout",
            Self::ChannelClosed => "channel-closed",
            Self::ShuttingDown => "shutting-down",
            Self::FunctionNotFound => "function-not-found",
            Self::TypeMismatch => "type-mismatch",
            Self::Internal => "internal",
            Self::SerializationError => "serialization-error",
            Self::UpdateComponentError => "update-component-error",
            Self::Paused => "paused",
        })
    }
}

/// The kind, then the error text (UTF-8, lossy): `internal: handle-send returned err: ...`.
impl std::fmt::Display for WitActorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.data {
            Some(text) => write!(f, "{}: {}", self.error_type, String::from_utf8_lossy(text)),
            None => write!(f, "{}", self.error_type),
        }
    }
}

/// The child's name (when the adapter knows it) and what the adapter did:
/// `worker: restarted worker`, `restart scheduled in 50 ms`.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.child {
            Some(child) => write!(f, "{child}: {}", self.action),
            None => write!(f, "{}", self.action),
        }
    }
}

/// `ignored`, `restarted a, b`, `restart scheduled in 50 ms`, `kept down`, `removed`.
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ignored => f.write_str("ignored"),
            Self::Restarted(names) => write!(f, "restarted {}", names.join(", ")),
            Self::Scheduled(ms) => write!(f, "restart scheduled in {ms} ms"),
            Self::KeptDown => f.write_str("kept down"),
            Self::Removed => f.write_str("removed"),
        }
    }
}

/// An actor's state bytes, threaded through every call by the host.
pub type State = Option<Vec<u8>>;

/// Everything a supervising actor needs in scope: the [`Supervisor`] trait and its types, the
/// builders ([`flags`], [`worker`], [`supervisor`]), and the modules for everything else:
/// [`api`] (the adapter's high-level calls), [`raw`] (`theater:simple/supervisor`),
/// [`runtime`] (`log`, `shutdown`, `get-chain`), [`message_server_host`] (`send`, `request` to
/// any actor) and [`timer`] (`set-timer`, `now-ms`).
pub mod prelude {
    pub use crate::{
        Accept, Action, Channel, ChildEvent, ChildInfo, ChildSpec, ChildSpecExt, FlagsExt, Report,
        RestartMode, RestartType, State, Strategy, Supervisor, SupervisorFlags, WitActorError,
        WitErrorType, api, child_id, flags, message_server_host, messaging, raw, runtime,
        supervisor, timer, worker,
    };
}

/// A child event as the host reported it to the parent. `{event}` reads
/// `child <id> failed: internal: handle-send returned err: ...`; `{event:?}` shows the same
/// fields, the error and exit data as text (UTF-8, lossy), never as bytes.
#[derive(Clone, Copy)]
pub enum ChildEvent<'a> {
    /// `handle-child-error`: the child failed.
    Error {
        /// The child's id.
        id: &'a str,
        /// What went wrong.
        error: &'a WitActorError,
    },
    /// `handle-child-exit`: the child shut down (or its parent's stop finished; data none).
    Exit {
        /// The child's id.
        id: &'a str,
        /// What it passed to `runtime.shutdown`.
        data: Option<&'a [u8]>,
    },
    /// `handle-child-external-stop`: someone other than its parent stopped it.
    ExternalStop {
        /// The child's id.
        id: &'a str,
    },
}

impl ChildEvent<'_> {
    /// The child's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Error { id, .. } | Self::Exit { id, .. } | Self::ExternalStop { id } => id,
        }
    }
}

/// Bytes shown as text (UTF-8, lossy), quoted, in `Debug` output.
struct Text<'a>(&'a [u8]);

impl std::fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.0))
    }
}

impl std::fmt::Debug for ChildEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error { id, error } => f
                .debug_struct("Error")
                .field("id", id)
                .field("kind", &format_args!("{}", error.error_type))
                .field("error", &error.data.as_deref().map(Text))
                .finish(),
            Self::Exit { id, data } => f
                .debug_struct("Exit")
                .field("id", id)
                .field("data", &data.map(Text))
                .finish(),
            Self::ExternalStop { id } => f.debug_struct("ExternalStop").field("id", id).finish(),
        }
    }
}

impl std::fmt::Display for ChildEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error { id, error } => write!(f, "child {id} failed: {error}"),
            Self::Exit { id, data: None } => write!(f, "child {id} exited"),
            Self::Exit { id, data: Some(d) } => {
                write!(f, "child {id} exited: {}", String::from_utf8_lossy(d))
            }
            Self::ExternalStop { id } => write!(f, "child {id} was stopped from outside"),
        }
    }
}

/// A supervising actor. Only [`Supervisor::children`] is required; every other method has a
/// default.
pub trait Supervisor {
    /// Strategy, intensity, backoff. `me` is this actor's id, `state` its init state.
    /// Default: one-for-one, 3 restarts in 5 s, no backoff.
    fn flags(_me: &str, _state: &State) -> SupervisorFlags {
        flags(Strategy::OneForOne)
    }

    /// The children, started in this order by `init` (for `simple-one-for-one`: the template).
    /// `me` is this actor's id, `state` its init state.
    fn children(me: &str, state: &State) -> Vec<ChildSpec>;

    /// Called by `init` after every child started; returns the actor's state.
    fn init(state: State, _me: &str) -> Result<State, String> {
        Ok(state)
    }

    /// Called after the adapter handled a child event (`report` says what it did; `ignored` for
    /// a child it does not manage). An err fails this actor.
    fn on_child_event(
        state: State,
        _event: ChildEvent<'_>,
        _report: &Report,
    ) -> Result<State, String> {
        Ok(state)
    }

    /// Called for a timer whose tag is not the adapter's.
    fn on_timer(state: State, _tag: &str) -> Result<State, String> {
        Ok(state)
    }

    /// `handle-request`: returns the new state and the response. `None` leaves the request
    /// outstanding: answer it later with [`messaging::respond`] (or [`messaging::cancel`]);
    /// the requester waits until then (or until this actor ends, or the host's request
    /// timeout). Default: `None`.
    fn handle_request(
        state: State,
        _request_id: &str,
        _msg: &[u8],
    ) -> Result<(State, Option<Vec<u8>>), String> {
        Ok((state, None))
    }

    /// `handle-send`. Default: ignore the message.
    fn handle_send(state: State, _msg: &[u8]) -> Result<State, String> {
        Ok(state)
    }

    /// `handle-channel-open`: another actor opens a channel to this one (`initial` is its
    /// first message). Default: refuse.
    fn on_channel_open(
        state: State,
        _channel: &str,
        _initial: &[u8],
    ) -> Result<(State, messaging::Accept), String> {
        Ok((state, messaging::Accept::no("this actor takes no channels")))
    }

    /// `handle-channel-message`: a message on one of this actor's channels. Default: ignore.
    fn on_channel_message(state: State, _channel: &str, _msg: &[u8]) -> Result<State, String> {
        Ok(state)
    }

    /// `handle-channel-close`: the other end closed a channel, or ended. Default: nothing.
    fn on_channel_close(state: State, _channel: &str) -> Result<State, String> {
        Ok(state)
    }
}

/// The exports of a supervising actor `T`, written once here. Use [`export_supervisor!`].
pub struct Actor<T>(PhantomData<T>);

impl<T: Supervisor> ActorGuest for Actor<T> {
    fn init(state: State, (me,): (String,)) -> Result<(State,), String> {
        api::start(T::flags(&me, &state), &T::children(&me, &state))?;
        Ok((T::init(state, &me)?,))
    }
}

impl<T: Supervisor> SupervisorHandlers for Actor<T> {
    fn handle_child_error(
        state: State,
        (id, error): (String, WitActorError),
    ) -> Result<(State,), String> {
        let report = api::on_child_error(&id, &error)?;
        let event = ChildEvent::Error {
            id: &id,
            error: &error,
        };
        Ok((T::on_child_event(state, event, &report)?,))
    }

    fn handle_child_exit(state: State, (id, data): (String, State)) -> Result<(State,), String> {
        let report = api::on_child_exit(&id, data.as_deref())?;
        let event = ChildEvent::Exit {
            id: &id,
            data: data.as_deref(),
        };
        Ok((T::on_child_event(state, event, &report)?,))
    }

    fn handle_child_external_stop(state: State, (id,): (String,)) -> Result<(State,), String> {
        let report = api::on_child_external_stop(&id)?;
        let event = ChildEvent::ExternalStop { id: &id };
        Ok((T::on_child_event(state, event, &report)?,))
    }
}

impl<T: Supervisor> TimerHandler for Actor<T> {
    fn handle_timer(state: State, (tag,): (String,)) -> Result<(State,), String> {
        let report = api::on_timer(&tag)?;
        if matches!(report.action, Action::Ignored) {
            return Ok((T::on_timer(state, &tag)?,));
        }
        Ok((state,))
    }
}

impl<T: Supervisor> MessageServerClient for Actor<T> {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        Ok((T::handle_send(state, &msg)?,))
    }

    fn handle_request(
        state: State,
        (id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let (state, response) = T::handle_request(state, &id, &msg)?;
        Ok((state, (response,)))
    }

    fn handle_channel_open(
        state: State,
        (channel, initial): (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        let (state, accept) = T::on_channel_open(state, &channel, &initial)?;
        Ok((state, (accept.wit(),)))
    }

    fn handle_channel_message(
        state: State,
        (channel, msg): (String, Vec<u8>),
    ) -> Result<(State,), String> {
        Ok((T::on_channel_message(state, &channel, &msg)?,))
    }

    fn handle_channel_close(state: State, (channel,): (String,)) -> Result<(State,), String> {
        Ok((T::on_channel_close(state, &channel)?,))
    }
}

/// Exports a [`Supervisor`] as the actor's component exports.
#[macro_export]
macro_rules! export_supervisor {
    ($ty:ty) => {
        type __TheaterSupervisedActor = $crate::Actor<$ty>;
        $crate::bindings::export_supervised_actor!(
            __TheaterSupervisedActor with_types_in $crate::bindings
        );
    };
}

/// The current (or, when stopped, last) id of the child named `name`.
pub fn child_id(name: &str) -> Option<String> {
    api::which_children()
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| c.id)
}

/// Supervisor flags with this strategy and the defaults: intensity none (3 in 5 s), no backoff,
/// no dynamic-children limit.
pub fn flags(strategy: Strategy) -> SupervisorFlags {
    SupervisorFlags {
        strategy,
        intensity: None,
        backoff: None,
        max_children: 0,
    }
}

/// Builder methods on [`SupervisorFlags`].
pub trait FlagsExt {
    /// At most `max_restarts` restarts within `period_ms`.
    fn intensity(self, max_restarts: u32, period_ms: u64) -> Self;
    /// Wait `initial_ms`, doubling per restart up to `max_ms`, ± `jitter_percent`.
    fn backoff(self, initial_ms: u64, max_ms: u64, jitter_percent: u8) -> Self;
    /// `simple-one-for-one`: at most this many dynamic children.
    fn max_children(self, n: u32) -> Self;
}

impl FlagsExt for SupervisorFlags {
    fn intensity(mut self, max_restarts: u32, period_ms: u64) -> Self {
        self.intensity = Some(Intensity {
            max_restarts,
            period_ms,
        });
        self
    }

    fn backoff(mut self, initial_ms: u64, max_ms: u64, jitter_percent: u8) -> Self {
        self.backoff = Some(Backoff {
            initial_ms,
            max_ms,
            jitter_percent,
        });
        self
    }

    fn max_children(mut self, n: u32) -> Self {
        self.max_children = n;
        self
    }
}

/// A `permanent`, `fresh`-restarting worker child started from `manifest`.
pub fn worker(name: &str, manifest: &str) -> ChildSpec {
    ChildSpec {
        name: name.to_string(),
        manifest: manifest.to_string(),
        start_bytes: None,
        restart: RestartType::Permanent,
        mode: RestartMode::Fresh,
        shutdown_ms: None,
        child_type: ChildType::Worker,
    }
}

/// Like [`worker`], for a child that is itself a supervisor.
pub fn supervisor(name: &str, manifest: &str) -> ChildSpec {
    ChildSpec {
        child_type: ChildType::Supervisor,
        ..worker(name, manifest)
    }
}

/// Builder methods on [`ChildSpec`].
pub trait ChildSpecExt {
    /// Restarted only after a failure.
    fn transient(self) -> Self;
    /// Never restarted.
    fn temporary(self) -> Self;
    /// Restarted from its last state instead of fresh.
    fn resume(self) -> Self;
    /// `spawn`'s init bytes.
    fn start_bytes(self, bytes: impl Into<Vec<u8>>) -> Self;
    /// How long it may take to stop before it is killed (0: at once).
    fn shutdown_ms(self, ms: u64) -> Self;
}

impl ChildSpecExt for ChildSpec {
    fn transient(mut self) -> Self {
        self.restart = RestartType::Transient;
        self
    }

    fn temporary(mut self) -> Self {
        self.restart = RestartType::Temporary;
        self
    }

    fn resume(mut self) -> Self {
        self.mode = RestartMode::Resume;
        self
    }

    fn start_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.start_bytes = Some(bytes.into());
        self
    }

    fn shutdown_ms(mut self, ms: u64) -> Self {
        self.shutdown_ms = Some(ms);
        self
    }
}
