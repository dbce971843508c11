//! `steady`: a root that keeps its tree busy, for the crash test (SIGKILL the host at a random
//! moment, then `run --data DIR --resume`).
//!
//! Fresh start: its init state is `fresh <worker-manifest> <n>`; `init` spawns `n` workers (the
//! `counter` actor) and logs `spawned <id>` after each spawn returned. Every tick (a 10 ms timer)
//! it sends `inc` to every child and logs `tick <n>`; every 4th tick it stops its oldest child
//! (`stopped <id>`) and spawns a new one (`spawned <id>`); every 6th tick it restarts its newest
//! child (`restarted <id>`). Each line is logged after the operation returned, so the test knows
//! the operation's events must be in the store. Its state is `tick <n> <worker-manifest>`.
//! Resumed (state starts with `tick`): it spawns nothing, logs `resumed at tick <n>`, and logs
//! `recovered <id>` for every child the host brings back.

wit_bindgen::generate!({
    world: "theater:extension/recoverable-actor",
    path: ["../../../wit", "../../../wit/extension"],
    generate_all,
});

use exports::theater::extension::recovery_handler::Guest as RecoveryHandler;
use exports::theater::extension::timer_handler::Guest as TimerHandler;
use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use exports::theater::simple::supervisor_handlers::{Guest as SupervisorHandlers, WitActorError};
use theater::extension::timer;
use theater::simple::{message_server_host, runtime, supervisor};

struct Steady;

export!(Steady);

type State = Option<Vec<u8>>;

const TICK_MS: u64 = 10;

/// (tick, worker manifest) from a `tick <n> <manifest>` state.
fn parse(state: &State) -> Result<(u64, String), String> {
    let text = String::from_utf8_lossy(state.as_deref().unwrap_or_default()).into_owned();
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("tick"), Some(n), Some(m)) => Ok((
            n.parse()
                .map_err(|_| format!("bad tick in state `{text}`"))?,
            m.to_string(),
        )),
        _ => Err(format!("unexpected state `{text}`")),
    }
}

fn state(tick: u64, manifest: &str) -> State {
    Some(format!("tick {tick} {manifest}").into_bytes())
}

fn spawn(manifest: &str) -> Result<(), String> {
    let id = supervisor::spawn(manifest, None).map_err(|e| format!("spawn: {e}"))?;
    runtime::log(&format!("spawned {id}"));
    Ok(())
}

fn arm() -> Result<(), String> {
    timer::set_timer(TICK_MS, "tick")
}

impl Actor for Steady {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        let text = String::from_utf8_lossy(state.as_deref().unwrap_or_default()).into_owned();
        let mut words = text.split_whitespace();
        let new = match words.next() {
            Some("fresh") => {
                let manifest = words.next().ok_or("fresh state without a manifest")?;
                let n: u32 = words.next().and_then(|n| n.parse().ok()).unwrap_or(3);
                for _ in 0..n {
                    spawn(manifest)?;
                }
                runtime::log("started");
                self::state(0, manifest)
            }
            Some("tick") => {
                let (tick, _) = parse(&state)?;
                runtime::log(&format!("resumed at tick {tick}"));
                state
            }
            _ => return Err(format!("unexpected init state `{text}`")),
        };
        arm()?;
        Ok((new,))
    }
}

impl TimerHandler for Steady {
    fn handle_timer(state: State, _params: (String,)) -> Result<(State,), String> {
        let (tick, manifest) = parse(&state)?;
        let tick = tick + 1;
        let children = supervisor::list_children();
        for c in &children {
            if let Err(e) = message_server_host::request(c, b"inc") {
                runtime::log(&format!("inc {c} failed: {e}"));
            }
        }
        if tick % 4 == 0 {
            if let Some(oldest) = children.first() {
                supervisor::stop_child(oldest).map_err(|e| format!("stop: {e}"))?;
                runtime::log(&format!("stopped {oldest}"));
            }
            spawn(&manifest)?;
        }
        if tick % 6 == 0
            && let Some(newest) = supervisor::list_children().last()
        {
            supervisor::restart_child(newest).map_err(|e| format!("restart: {e}"))?;
            runtime::log(&format!("restarted {newest}"));
        }
        runtime::log(&format!("tick {tick}"));
        arm()?;
        Ok((self::state(tick, &manifest),))
    }
}

impl RecoveryHandler for Steady {
    fn handle_child_recovered(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("recovered {id}"));
        Ok((state,))
    }
}

impl SupervisorHandlers for Steady {
    fn handle_child_error(
        state: State,
        (id, e): (String, WitActorError),
    ) -> Result<(State,), String> {
        let why = e.data.map(|d| String::from_utf8_lossy(&d).into_owned());
        runtime::log(&format!("child error {id}: {why:?}"));
        Ok((state,))
    }

    fn handle_child_exit(
        state: State,
        (id, _): (String, Option<Vec<u8>>),
    ) -> Result<(State,), String> {
        runtime::log(&format!("child exit {id}"));
        Ok((state,))
    }

    fn handle_child_external_stop(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("child external stop {id}"));
        Ok((state,))
    }
}

impl MessageServerClient for Steady {
    fn handle_send(state: State, _params: (Vec<u8>,)) -> Result<(State,), String> {
        Ok((state,))
    }

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
