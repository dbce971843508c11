//! `looper`: a child that never returns, for the deadline (`operation-timeout`) tests.
//!
//! `init` spins forever if its init state is exactly `loop-in-init`; the message `loop` spins
//! forever; `eat` allocates memory without end; `ping` replies `pong`. Spinning makes no host
//! calls, so only the host's deadline (epoch interruption) can end the call.

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};

struct Looper;

export!(Looper);

type State = Option<Vec<u8>>;

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates (and touches) 1 MiB after another, keeping all of it, until the host stops it.
fn eat() -> ! {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(core::hint::black_box(vec![1u8; 1 << 20]));
    }
}

fn dispatch(msg: &[u8]) -> String {
    match msg {
        b"loop" => spin(),
        b"ping" => "pong".to_string(),
        b"eat" => eat(),
        _ => format!("err unknown verb {}", String::from_utf8_lossy(msg)),
    }
}

impl Actor for Looper {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        if state.as_deref() == Some(b"loop-in-init") {
            spin();
        }
        Ok((state,))
    }
}

impl MessageServerClient for Looper {
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
