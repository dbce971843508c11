//! `spawner`: a parent that spawns children from inside its own `init`, for the
//! "spawning from init must not deadlock" test and the nested-tree tests.
//!
//! Its init state holds manifest paths, one per line (`<manifest> send <msg>` also sends the
//! new child `<msg>`); `init` spawns each and its state becomes the child ids, one per line.
//! Requests: `children` (`ok ` + live ids joined by `,`), `state`,
//! `stop-all` and `shutdown`. Each supervisor callback appends `error <id>`, `exit <id>` or
//! `external-stop <id>` to its state.

wit_bindgen::generate!({ world: "full-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use exports::theater::simple::supervisor_handlers::{Guest as SupervisorHandlers, WitActorError};
use theater::simple::{message_server_host, runtime, supervisor};

struct Spawner;

export!(Spawner);

type State = Option<Vec<u8>>;

fn append(state: State, line: &str) -> State {
    let mut text = state
        .map(|s| String::from_utf8_lossy(&s).into_owned())
        .unwrap_or_default();
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(line);
    Some(text.into_bytes())
}

fn dispatch(state: &State, msg: &[u8]) -> String {
    match msg {
        b"children" => format!("ok {}", supervisor::list_children().join(",")),
        b"state" => state
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned(),
        b"stop-all" => {
            for id in supervisor::list_children() {
                if let Err(e) = supervisor::stop_child(&id) {
                    return format!("err {e}");
                }
            }
            "ok".to_string()
        }
        b"shutdown" => match runtime::shutdown(None) {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("err {e}"),
        },
        _ => format!("err unknown verb {}", String::from_utf8_lossy(msg)),
    }
}

impl Actor for Spawner {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        let manifests = state
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let mut ids = Vec::new();
        for line in manifests.lines().map(str::trim).filter(|l| !l.is_empty()) {
            // `<manifest> send <msg>`: spawn it, then send it <msg> (`loop` keeps it busy).
            let (manifest, msg) = match line.split_once(" send ") {
                Some((m, msg)) => (m, Some(msg)),
                None => (line, None),
            };
            let id = supervisor::spawn(manifest, None).map_err(|e| format!("spawner: {e}"))?;
            if let Some(msg) = msg {
                message_server_host::send(&id, msg.as_bytes())
                    .map_err(|e| format!("spawner: send: {e}"))?;
            }
            ids.push(id);
        }
        Ok((Some(ids.join("\n").into_bytes()),))
    }
}

impl MessageServerClient for Spawner {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        dispatch(&state, &msg);
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_request_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let reply = dispatch(&state, &msg);
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

impl SupervisorHandlers for Spawner {
    fn handle_child_error(
        state: State,
        (id, _e): (String, WitActorError),
    ) -> Result<(State,), String> {
        Ok((append(state, &format!("error {id}")),))
    }

    fn handle_child_exit(
        state: State,
        (id, _data): (String, Option<Vec<u8>>),
    ) -> Result<(State,), String> {
        Ok((append(state, &format!("exit {id}")),))
    }

    fn handle_child_external_stop(state: State, (id,): (String,)) -> Result<(State,), String> {
        Ok((append(state, &format!("external-stop {id}")),))
    }
}
