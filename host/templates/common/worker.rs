//! `{{worker_name}}`: a worker actor against the raw `theater:simple` WIT (world `message-actor`).
//!
//! Its state is a decimal counter. Messages, by `handle-request` (with a reply) or `handle-send`
//! (no reply): `ping` (replies `pong`), `inc` (counts one up, replies the new count), `get`,
//! and `fail` (the call returns an error: the worker fails and its supervisor hears about it).

wit_bindgen::generate!({ world: "message-actor", path: "{{wit}}" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{ChannelAccept, Guest as Client};
use theater::simple::runtime;

struct Worker;

type State = Option<Vec<u8>>;

fn count(state: &State) -> u64 {
    let text = String::from_utf8_lossy(state.as_deref().unwrap_or_default());
    text.trim().parse().unwrap_or(0)
}

/// Runs one message: the new state and the reply.
fn dispatch(state: State, msg: &[u8]) -> Result<(State, String), String> {
    match &*String::from_utf8_lossy(msg) {
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
        other => Ok((state, format!("unknown message `{other}`"))),
    }
}

impl Actor for Worker {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        let n = count(&state);
        runtime::log(&format!("{{worker_name}} {id} starting at {n}"));
        Ok((Some(n.to_string().into_bytes()),))
    }
}

impl Client for Worker {
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

    // Channels are refused.
    fn handle_channel_open(
        s: State,
        _: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        let refuse = ChannelAccept {
            accepted: false,
            message: None,
        };
        Ok((s, (refuse,)))
    }

    fn handle_channel_message(s: State, _: (String, Vec<u8>)) -> Result<(State,), String> {
        Ok((s,))
    }

    fn handle_channel_close(s: State, _: (String,)) -> Result<(State,), String> {
        Ok((s,))
    }
}

export!(Worker);
