//! `quitter`: a child that shuts itself down on request, for the `handle-child-exit` tests.
//!
//! `quit` calls `runtime::shutdown(none)`, `quit <data>` calls `runtime::shutdown(some(data))`;
//! both reply `ok` (or `err <message>` if the host refuses).

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use theater::simple::runtime;

struct Quitter;

export!(Quitter);

type State = Option<Vec<u8>>;

fn dispatch(msg: &[u8]) -> String {
    let msg = String::from_utf8_lossy(msg);
    let result = match msg.split_once(' ') {
        None if msg == "quit" => runtime::shutdown(None),
        Some(("quit", data)) => runtime::shutdown(Some(data.as_bytes())),
        _ => return format!("err unknown verb {msg}"),
    };
    match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("err {e}"),
    }
}

impl Actor for Quitter {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("quitter {id} init"));
        Ok((state,))
    }
}

impl MessageServerClient for Quitter {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        dispatch(&msg);
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_request_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let reply = dispatch(&msg);
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
