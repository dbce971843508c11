//! `minimal`: the smallest useful child, for benchmarks. `init` keeps the state it is given and
//! calls no host function; `handle-request` echoes the message; `handle-send` traps on `boom`
//! (crash benchmarks) and otherwise does nothing.

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};

struct Minimal;

export!(Minimal);

type State = Option<Vec<u8>>;

impl Actor for Minimal {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}

impl MessageServerClient for Minimal {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        if msg == b"boom" {
            core::arch::wasm32::unreachable();
        }
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        Ok((state, (Some(msg),)))
    }

    fn handle_channel_open(
        state: State,
        _: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        Ok((
            state,
            (ChannelAccept {
                accepted: false,
                message: None,
            },),
        ))
    }

    fn handle_channel_message(state: State, _: (String, Vec<u8>)) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_channel_close(state: State, _: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}
