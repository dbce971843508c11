//! `counter`: a child whose state is a decimal `u64` as UTF-8 text, for the state and resume tests.
//!
//! `init` starts a fresh counter at `0` and refuses a saved state that is not a number, so
//! `resume` can be shown to hand the saved state to `init`. Messages: `inc` (reply: the new
//! value), `get` (the value), `add <n>` (the new value); anything else replies `err ...`.

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};

struct Counter;

export!(Counter);

type State = Option<Vec<u8>>;

fn parse(state: &State) -> Result<u64, String> {
    let text = state
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    text.trim()
        .parse()
        .map_err(|_| format!("counter: saved state is not a number: {text}"))
}

/// Runs one message; returns the new state and the reply.
fn dispatch(state: State, msg: &[u8]) -> Result<(State, String), String> {
    let value = parse(&state)?;
    let msg = String::from_utf8_lossy(msg);
    let new = match msg.split_once(' ') {
        None if msg == "inc" => value.wrapping_add(1),
        None if msg == "get" => return Ok((state, value.to_string())),
        Some(("add", n)) => match n.trim().parse::<u64>() {
            Ok(n) => value.wrapping_add(n),
            Err(_) => return Ok((state, format!("err not a number: {n}"))),
        },
        _ => return Ok((state, format!("err unknown verb {msg}"))),
    };
    Ok((Some(new.to_string().into_bytes()), new.to_string()))
}

impl Actor for Counter {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        let value = match state {
            None => 0,
            Some(_) => parse(&state)?,
        };
        Ok((Some(value.to_string().into_bytes()),))
    }
}

impl MessageServerClient for Counter {
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
