//! `kv-actor`: the guest of `examples/kv`, using the embedder's own `example:kv/store`.
//!
//! Requests (UTF-8): `set <key> <value>` answers `ok` or `err <message>`, `get <key>` answers
//! the value or `none`, `crash` traps (its parent then decides what happens).

wit_bindgen::generate!({
    world: "example:kv/kv-actor",
    path: ["../../../wit", "../../../examples/kv/wit"],
    generate_all,
});

use example::kv::store;
use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{ChannelAccept, Guest as Client};
use theater::simple::runtime;

struct KvActor;

export!(KvActor);

type State = Option<Vec<u8>>;

impl Actor for KvActor {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("kv-actor {id} starting"));
        Ok((state,))
    }
}

impl Client for KvActor {
    fn handle_send(state: State, _: (Vec<u8>,)) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let msg = String::from_utf8_lossy(&msg).into_owned();
        let mut words = msg.splitn(3, ' ');
        let reply = match (words.next(), words.next(), words.next()) {
            (Some("set"), Some(key), Some(value)) => match store::set(key, value) {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("err {e}"),
            },
            (Some("get"), Some(key), None) => store::get(key).unwrap_or_else(|| "none".into()),
            (Some("crash"), None, None) => panic!("kv-actor crashing on purpose"),
            _ => format!("err unknown request {msg}"),
        };
        Ok((state, (Some(reply.into_bytes()),)))
    }

    fn handle_channel_open(
        s: State,
        _: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        Ok((
            s,
            (ChannelAccept {
                accepted: false,
                message: None,
            },),
        ))
    }

    fn handle_channel_message(s: State, _: (String, Vec<u8>)) -> Result<(State,), String> {
        Ok((s,))
    }

    fn handle_channel_close(s: State, _: (String,)) -> Result<(State,), String> {
        Ok((s,))
    }
}
