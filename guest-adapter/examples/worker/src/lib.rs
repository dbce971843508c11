//! `example-worker`: a counter worker for the example supervisor (and the adapter's tests).
//!
//! Its state is a decimal counter (start bytes or init state; default 0). Messages, through
//! `handle-request` (reply) or `handle-send` (no reply): `ping`, `inc` (count one up and reply
//! the new count), `get`, `fail` (the call returns err: the worker fails), `trap` (a wasm trap),
//! `exit [data]` (`runtime.shutdown`: a normal exit), `loop` (spins until the host's deadline or
//! a kill ends the call). Start bytes `fail-init` make `init` fail.

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use theater::simple::runtime;

struct Worker;

export!(Worker);

type State = Option<Vec<u8>>;

fn count(state: &State) -> u64 {
    state
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs one message; returns the new state and the reply.
fn dispatch(state: State, msg: &[u8]) -> Result<(State, String), String> {
    let msg = String::from_utf8_lossy(msg);
    let (verb, rest) = msg.split_once(' ').unwrap_or((&msg, ""));
    match verb {
        "ping" => Ok((state, "pong".into())),
        "get" => {
            let n = count(&state);
            Ok((state, n.to_string()))
        }
        "inc" => {
            let n = count(&state) + 1;
            Ok((Some(n.to_string().into_bytes()), n.to_string()))
        }
        "fail" => Err("worker failing on purpose".into()),
        "trap" => panic!("worker trapping on purpose"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = core::hint::black_box(n.wrapping_add(1));
            }
        }
        "exit" => {
            let data = (!rest.is_empty()).then_some(rest.as_bytes());
            runtime::shutdown(data)?;
            Ok((state, "bye".into()))
        }
        other => Ok((state, format!("unknown verb `{other}`"))),
    }
}

impl Actor for Worker {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        if state.as_deref() == Some(b"fail-init") {
            return Err("worker refuses to start (fail-init)".into());
        }
        let n = count(&state);
        runtime::log(&format!("worker {id} starting at {n}"));
        Ok((Some(n.to_string().into_bytes()),))
    }
}

impl MessageServerClient for Worker {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        dispatch(state, &msg).map(|(state, _)| (state,))
    }

    fn handle_request(
        state: State,
        (_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let (state, reply) = dispatch(state, &msg)?;
        Ok((state, (Some(reply.into_bytes()),)))
    }

    fn handle_channel_open(
        state: State,
        _: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        let refuse = ChannelAccept {
            accepted: false,
            message: None,
        };
        Ok((state, (refuse,)))
    }

    fn handle_channel_message(state: State, _: (String, Vec<u8>)) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_channel_close(state: State, _: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}
