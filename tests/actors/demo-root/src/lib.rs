//! `demo-root`: the root actor of the README demo (`theater-supervisor run demo/root.toml`).
//!
//! It tells a supervision story through `runtime::log`:
//! 1. `init` spawns a counter (`counter.toml`, init bytes `0`), increments it three times with
//!    requests and reads its state back with `get-child-state`;
//! 2. it spawns a trapper (`trapper.toml`) and sends it `boom`, which traps asynchronously;
//! 3. the host then calls `handle-child-error` for the trapper: the root restarts it, saves the
//!    counter's state, stops the counter, resumes a new counter from the saved state, shows it
//!    continues where the old one stopped, prints the old counter's event chain and shuts down
//!    with `demo finished`.
//!
//! State: `counter=<id>\ntrapper=<id>`.

wit_bindgen::generate!({ world: "full-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use exports::theater::simple::supervisor_handlers::{Guest as SupervisorHandlers, WitActorError};
use theater::simple::types::WitErrorType;
use theater::simple::{message_server_host, runtime, supervisor};

struct DemoRoot;

export!(DemoRoot);

type State = Option<Vec<u8>>;

fn log(msg: &str) {
    runtime::log(msg);
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn request(id: &str, msg: &str) -> Result<String, String> {
    message_server_host::request(id, msg.as_bytes()).map(|r| lossy(&r))
}

/// The child ids kept in the state.
struct Ids {
    counter: String,
    trapper: String,
}

impl Ids {
    fn load(state: &State) -> Ids {
        let text = state.as_deref().map(lossy).unwrap_or_default();
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .unwrap_or_default()
                .to_string()
        };
        Ids {
            counter: get("counter"),
            trapper: get("trapper"),
        }
    }

    fn save(&self) -> State {
        Some(format!("counter={}\ntrapper={}", self.counter, self.trapper).into_bytes())
    }
}

fn error_type(e: WitErrorType) -> &'static str {
    match e {
        WitErrorType::OperationTimeout => "operation-timeout",
        WitErrorType::ChannelClosed => "channel-closed",
        WitErrorType::ShuttingDown => "shutting-down",
        WitErrorType::FunctionNotFound => "function-not-found",
        WitErrorType::TypeMismatch => "type-mismatch",
        WitErrorType::Internal => "internal",
        WitErrorType::SerializationError => "serialization-error",
        WitErrorType::UpdateComponentError => "update-component-error",
        WitErrorType::Paused => "paused",
    }
}

/// Act 1: a counter that counts, and a trapper that is about to fail.
fn start() -> Result<Ids, String> {
    let counter = supervisor::spawn("counter.toml", Some(b"0"))?;
    log(&format!("spawned counter {counter}"));
    for _ in 0..3 {
        log(&format!("counter says {}", request(&counter, "inc")?));
    }
    let saved = supervisor::get_child_state(&counter)?;
    log(&format!(
        "counter state is {}",
        saved.as_deref().map(lossy).unwrap_or_default()
    ));

    let trapper = supervisor::spawn("trapper.toml", None)?;
    log(&format!("spawned trapper {trapper}; sending it `boom`"));
    message_server_host::send(&trapper, b"boom")?;
    Ok(Ids { counter, trapper })
}

/// Act 2, after the trapper failed: restart it, then move the counter to a new actor.
fn recover(ids: &mut Ids) -> Result<(), String> {
    match supervisor::restart_child(&ids.trapper) {
        Ok(()) => log(&format!(
            "restarted trapper {} (same id, fresh state)",
            ids.trapper
        )),
        Err(e) => log(&format!("could not restart trapper {}: {e}", ids.trapper)),
    }

    let old = ids.counter.clone();
    let saved = supervisor::get_child_state(&old)?;
    log(&format!(
        "saved counter state {}",
        saved.as_deref().map(lossy).unwrap_or_default()
    ));
    supervisor::stop_child(&old)?;
    log(&format!("stopped counter {old}"));

    ids.counter = supervisor::resume("counter.toml", saved.as_deref())?;
    log(&format!("resumed counter as {}", ids.counter));
    log(&format!(
        "resumed counter continues at {}",
        request(&ids.counter, "get")?
    ));

    let events = supervisor::get_child_events(&old)?;
    let first: Vec<&str> = events
        .iter()
        .take(5)
        .map(|e| e.event_type.as_str())
        .collect();
    log(&format!(
        "old counter {old} left {} chain events, starting with: {}",
        events.len(),
        first.join(", ")
    ));
    Ok(())
}

impl Actor for DemoRoot {
    fn init(_state: State, (id,): (String,)) -> Result<(State,), String> {
        log(&format!("root {id} starting"));
        let ids = start()?;
        Ok((ids.save(),))
    }
}

impl SupervisorHandlers for DemoRoot {
    fn handle_child_error(
        state: State,
        (id, e): (String, WitActorError),
    ) -> Result<(State,), String> {
        let data = e.data.as_deref().map(lossy).unwrap_or_default();
        log(&format!(
            "child {id} failed: {} {data}",
            error_type(e.error_type)
        ));
        let mut ids = Ids::load(&state);
        if id != ids.trapper {
            return Ok((state,));
        }
        let outcome = match recover(&mut ids) {
            Ok(()) => b"demo finished".to_vec(),
            Err(e) => {
                log(&format!("recovery failed: {e}"));
                format!("demo failed: {e}").into_bytes()
            }
        };
        runtime::shutdown(Some(&outcome))?;
        Ok((ids.save(),))
    }

    fn handle_child_exit(
        state: State,
        (id, data): (String, Option<Vec<u8>>),
    ) -> Result<(State,), String> {
        let data = data
            .as_deref()
            .map(lossy)
            .unwrap_or_else(|| "none".to_string());
        log(&format!("child {id} exited ({data})"));
        Ok((state,))
    }

    fn handle_child_external_stop(state: State, (id,): (String,)) -> Result<(State,), String> {
        log(&format!("child {id} was stopped from outside"));
        Ok((state,))
    }
}

impl MessageServerClient for DemoRoot {
    fn handle_send(state: State, _params: (Vec<u8>,)) -> Result<(State,), String> {
        Ok((state,))
    }

    /// Any request is answered with the root's state, so the demo can be inspected.
    fn handle_request(
        state: State,
        _params: (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let reply = state.clone();
        Ok((state, (reply,)))
    }

    fn handle_channel_open(
        state: State,
        _params: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        Ok((
            state,
            (ChannelAccept {
                accepted: false,
                message: None,
            },),
        ))
    }

    fn handle_channel_message(
        state: State,
        _params: (String, Vec<u8>),
    ) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_channel_close(state: State, _params: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}
