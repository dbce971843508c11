//! `supervisor-parent`: the parent the end-to-end tests drive.
//!
//! Tests send it requests whose fields are joined by the unit separator `\u{1f}` (field 0 is the
//! verb); it performs the matching `theater:simple/supervisor`, `message-server-host` or `runtime`
//! call and replies `ok`, `ok <payload>` or `err <message>`.
//!
//! Its state is UTF-8 lines: line 1 is `policy <name>`, every later line is a record appended by a
//! supervisor callback or by the policy's reaction to it. The state is threaded through every call
//! and no line is ever dropped, so `callbacks` shows everything the host told the parent.
//!
//! Policies (set with the `policy` verb or the init state): `none`, `restart` (restart a failed
//! child), `stop-others` (stop every listed child after an error or exit), `fail-on-callback`,
//! `trap-on-callback` and `shutdown-on-exit`.

wit_bindgen::generate!({ world: "full-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use exports::theater::simple::supervisor_handlers::{Guest as SupervisorHandlers, WitActorError};
use theater::simple::types::WitErrorType;
use theater::simple::{message_server_host, runtime, supervisor};

struct Parent;

export!(Parent);

type State = Option<Vec<u8>>;

/// Separates the fields of a request.
const SEP: char = '\u{1f}';

/// The state text, or a fresh `policy none` if there is none yet.
fn text(state: &State) -> String {
    match state {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => "policy none".to_string(),
    }
}

fn policy(text: &str) -> &str {
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("policy ").unwrap_or(first)
}

fn append(text: &mut String, line: &str) {
    text.push('\n');
    text.push_str(line);
}

fn done(result: Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("err {e}"),
    }
}

fn value(result: Result<String, String>) -> String {
    match result {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("err {e}"),
    }
}

fn error_type(e: WitErrorType) -> &'static str {
    match e {
        WitErrorType::OperationTimeout => "operation-timeout",
        WitErrorType::ChannelClosed => "channel-closed",
        WitErrorType::ShuttingDown => "shutting-down",
        WitErrorType::FunctionNotFound => "function-not-found",
        WitErrorType::TypeMismatch => "type-mismatch",
        WitErrorType::Internal => "internal",
        WitErrorType::SerializationError => "serialization-error",
        WitErrorType::UpdateComponentError => "update-component-error",
        WitErrorType::Paused => "paused",
    }
}

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

/// `ok <n>` for the parent's own chain, after checking each event links to the previous.
fn own_chain() -> String {
    let chain = runtime::get_chain();
    let mut previous = None;
    for (i, meta) in chain.events.iter().enumerate() {
        if meta.event.parent != previous {
            return format!("err chain not linked at {i}");
        }
        previous = Some(meta.hash);
    }
    format!("ok {}", chain.events.len())
}

/// Runs one request; returns the new state text and the reply.
fn dispatch(state: State, msg: &[u8]) -> Result<(String, String), String> {
    let mut text = text(&state);
    let msg = String::from_utf8_lossy(msg);
    let fields: Vec<&str> = msg.split(SEP).collect();
    let field = |i: usize| fields.get(i).copied();
    let required = |i: usize| field(i).ok_or(format!("missing field {i}"));
    let verb = fields[0];

    let reply = match verb {
        "spawn" => match required(1) {
            Ok(manifest) => value(supervisor::spawn(manifest, field(2).map(str::as_bytes))),
            Err(e) => format!("err {e}"),
        },
        "resume" => match (required(1), required(2)) {
            (Ok(manifest), Ok(saved)) => {
                value(supervisor::resume(manifest, Some(saved.as_bytes())))
            }
            (Err(e), _) | (_, Err(e)) => format!("err {e}"),
        },
        "list" => format!("ok {}", supervisor::list_children().join(",")),
        "stop" => required(1).map_or_else(
            |e| format!("err {e}"),
            |id| done(supervisor::stop_child(id)),
        ),
        "restart" => required(1).map_or_else(
            |e| format!("err {e}"),
            |id| done(supervisor::restart_child(id)),
        ),
        "state" => match required(1).and_then(supervisor::get_child_state) {
            Ok(None) => "ok none".to_string(),
            Ok(Some(bytes)) => format!("ok some {}", String::from_utf8_lossy(&bytes)),
            Err(e) => format!("err {e}"),
        },
        "events" => required(1).map_or_else(|e| format!("err {e}"), child_events),
        "callbacks" => {
            let records: Vec<&str> = text.lines().skip(1).collect();
            format!("ok {}", records.join("\n"))
        }
        "send" => match (required(1), required(2)) {
            (Ok(id), Ok(m)) => done(message_server_host::send(id, m.as_bytes())),
            (Err(e), _) | (_, Err(e)) => format!("err {e}"),
        },
        "request" => match (required(1), required(2)) {
            (Ok(id), Ok(m)) => value(
                message_server_host::request(id, m.as_bytes())
                    .map(|r| String::from_utf8_lossy(&r).into_owned()),
            ),
            (Err(e), _) | (_, Err(e)) => format!("err {e}"),
        },
        "shutdown" => done(runtime::shutdown(field(1).map(str::as_bytes))),
        "fail" => return Err("parent failing on purpose".to_string()),
        "trap" => panic!("parent trapping on purpose"),
        "chain" => own_chain(),
        "policy" => match required(1) {
            Ok(name) => {
                let rest: Vec<&str> = text.lines().skip(1).collect();
                let mut new = format!("policy {name}");
                for line in rest {
                    append(&mut new, line);
                }
                text = new;
                "ok".to_string()
            }
            Err(e) => format!("err {e}"),
        },
        "log" => match required(1) {
            Ok(m) => {
                runtime::log(m);
                "ok".to_string()
            }
            Err(e) => format!("err {e}"),
        },
        "loop" => spin(),
        other => format!("err unknown verb {other}"),
    };
    Ok((text, reply))
}

/// Busy-loops forever without touching the host, so only the host's deadline can end the call.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

enum Callback {
    Error,
    Exit,
    ExternalStop,
}

/// Records a callback in the state, then reacts to it according to the policy.
fn on_callback(state: State, kind: Callback, id: &str, line: &str) -> Result<(State,), String> {
    let mut text = text(&state);
    append(&mut text, line);
    match (policy(&text), kind) {
        ("restart", Callback::Error) => {
            let line = match supervisor::restart_child(id) {
                Ok(()) => format!("restarted {id} ok"),
                Err(e) => format!("restarted {id} err {e}"),
            };
            append(&mut text, &line);
        }
        ("stop-others", Callback::Error | Callback::Exit) => {
            for other in supervisor::list_children() {
                let line = match supervisor::stop_child(&other) {
                    Ok(()) => format!("stopped {other} ok"),
                    Err(e) => format!("stopped {other} err {e}"),
                };
                append(&mut text, &line);
            }
        }
        ("shutdown-on-exit", Callback::Exit) => {
            if let Err(e) = runtime::shutdown(None) {
                runtime::log(&format!("parent: shutdown failed: {e}"));
            }
        }
        ("fail-on-callback", _) => return Err("parent handler failing on purpose".to_string()),
        ("trap-on-callback", _) => panic!("parent handler trapping on purpose"),
        _ => {}
    }
    Ok((Some(text.into_bytes()),))
}

impl Actor for Parent {
    fn init(state: State, (id,): (String,)) -> Result<(State,), String> {
        runtime::log(&format!("parent {id} started"));
        Ok((Some(text(&state).into_bytes()),))
    }
}

impl MessageServerClient for Parent {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        let (text, _reply) = dispatch(state, &msg)?;
        Ok((Some(text.into_bytes()),))
    }

    fn handle_request(
        state: State,
        (_request_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let (text, reply) = dispatch(state, &msg)?;
        Ok((Some(text.into_bytes()), (Some(reply.into_bytes()),)))
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

impl SupervisorHandlers for Parent {
    fn handle_child_error(
        state: State,
        (id, e): (String, WitActorError),
    ) -> Result<(State,), String> {
        let data = e
            .data
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let line = format!("error {id} {} {data}", error_type(e.error_type));
        on_callback(state, Callback::Error, &id, &line)
    }

    fn handle_child_exit(
        state: State,
        (id, data): (String, Option<Vec<u8>>),
    ) -> Result<(State,), String> {
        let line = match data {
            Some(bytes) => format!("exit {id} some {}", String::from_utf8_lossy(&bytes)),
            None => format!("exit {id} none"),
        };
        on_callback(state, Callback::Exit, &id, &line)
    }

    fn handle_child_external_stop(state: State, (id,): (String,)) -> Result<(State,), String> {
        on_callback(
            state,
            Callback::ExternalStop,
            &id,
            &format!("external-stop {id}"),
        )
    }
}
