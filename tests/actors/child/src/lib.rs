//! `child`: a well-behaved, versatile child for the supervision tests.
//!
//! Messages are space-separated text verbs: `ping`, `state`, `set <text>`, `trap`, `fail`,
//! `shutdown [<data>]`, `request <actor-id> <msg...>`, `loop` and `log <msg>`. The same verbs work
//! for `handle-send` (reply discarded) and `handle-request`. An init state of exactly `fail-init`
//! makes `init` refuse to start.

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use theater::simple::{message_server_host, runtime};

struct Child;

export!(Child);

type State = Option<Vec<u8>>;

fn done(result: Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("err {e}"),
    }
}

/// Busy-loops forever without touching the host, so only the host's deadline can end the call.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

/// Runs one message; returns the new state and the reply.
fn dispatch(state: State, msg: &[u8]) -> Result<(State, String), String> {
    let msg = String::from_utf8_lossy(msg);
    let (verb, rest) = match msg.split_once(' ') {
        Some((verb, rest)) => (verb, Some(rest)),
        None => (&*msg, None),
    };
    let reply = match (verb, rest) {
        ("ping", _) => "pong".to_string(),
        ("state", _) => match &state {
            Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            None => "none".to_string(),
        },
        ("set", Some(text)) => return Ok((Some(text.as_bytes().to_vec()), "ok".to_string())),
        ("trap", _) => panic!("child trapping on purpose"),
        ("fail", _) => return Err("child failing on purpose".to_string()),
        ("shutdown", data) => done(runtime::shutdown(data.map(str::as_bytes))),
        ("request", Some(rest)) => match rest.split_once(' ') {
            Some((target, m)) => match message_server_host::request(target, m.as_bytes()) {
                Ok(response) => format!("ok {}", String::from_utf8_lossy(&response)),
                Err(e) => format!("err {e}"),
            },
            None => "err usage: request <actor-id> <msg>".to_string(),
        },
        ("loop", _) => spin(),
        ("log", Some(m)) => {
            runtime::log(m);
            "ok".to_string()
        }
        _ => "err unknown verb".to_string(),
    };
    Ok((state, reply))
}

impl Actor for Child {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("child {id} init"));
        if state.as_deref() == Some(b"fail-init") {
            return Err("child refused init state".to_string());
        }
        Ok((state,))
    }
}

impl MessageServerClient for Child {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        let (state, _reply) = dispatch(state, &msg)?;
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_request_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let (state, reply) = dispatch(state, &msg)?;
        Ok((state, (Some(reply.into_bytes()),)))
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
