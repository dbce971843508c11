//! `plain-parent`: a parent that does **not** export `supervisor-handlers`, for the test that a
//! parent without handlers still works (callbacks only land in its chain, nothing is called).
//!
//! Requests (fields joined by `\u{1f}`): `spawn␟<manifest>` (`ok <id>` / `err <message>`),
//! `list` (`ok ` + child ids joined by `,`) and `events␟<id>` (`ok <n>` and one event type per
//! line, after checking the chain's hash links).

wit_bindgen::generate!({
    inline: "
        package test:plain;
        world plain-parent {
            import theater:simple/runtime;
            import theater:simple/supervisor;
            import theater:simple/message-server-host;
            export theater:simple/actor;
            export theater:simple/message-server-client;
        }
    ",
    path: "../../../wit",
    // `types` is reached only through the imported interfaces: generate it too.
    generate_all,
});

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use theater::simple::{runtime, supervisor};

struct PlainParent;

export!(PlainParent);

type State = Option<Vec<u8>>;

const SEP: char = '\u{1f}';

/// `ok <n>\n<event-type>...` for a child's chain, after checking each event links to the previous.
fn child_events(id: &str) -> String {
    let events = match supervisor::get_child_events(id) {
        Ok(events) => events,
        Err(e) => return format!("err {e}"),
    };
    let mut previous: Option<&Vec<u8>> = None;
    let mut reply = format!("ok {}", events.len());
    for (i, event) in events.iter().enumerate() {
        if event.parent_hash.as_ref() != previous {
            return format!("err chain not linked at {i}");
        }
        previous = Some(&event.hash);
        reply.push('\n');
        reply.push_str(&event.event_type);
    }
    reply
}

fn dispatch(msg: &[u8]) -> String {
    let msg = String::from_utf8_lossy(msg);
    let fields: Vec<&str> = msg.split(SEP).collect();
    match fields.as_slice() {
        ["spawn", manifest] => match supervisor::spawn(manifest, None) {
            Ok(id) => format!("ok {id}"),
            Err(e) => format!("err {e}"),
        },
        ["list"] => format!("ok {}", supervisor::list_children().join(",")),
        ["events", id] => child_events(id),
        [verb, ..] => format!("err unknown verb {verb}"),
        [] => unreachable!("split yields at least one field"),
    }
}

impl Actor for PlainParent {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("plain parent {id} started"));
        Ok((state,))
    }
}

impl MessageServerClient for PlainParent {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        dispatch(&msg);
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_request_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        Ok((state, (Some(dispatch(&msg).into_bytes()),)))
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
