//! `trapper`: a child that traps, for the failure-notification tests.
//!
//! `init` traps if its init state is exactly `trap-in-init` and succeeds otherwise; every
//! `handle-send` and `handle-request` traps, so the parent hears `handle-child-error` (`internal`).

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};

struct Trapper;

export!(Trapper);

type State = Option<Vec<u8>>;

impl Actor for Trapper {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        if state.as_deref() == Some(b"trap-in-init") {
            panic!("trapper: trapping in init on purpose");
        }
        Ok((state,))
    }
}

impl MessageServerClient for Trapper {
    fn handle_send(_state: State, _params: (Vec<u8>,)) -> Result<(State,), String> {
        panic!("trapper: trapping on purpose")
    }

    fn handle_request(
        _state: State,
        _params: (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        panic!("trapper: trapping on purpose")
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
