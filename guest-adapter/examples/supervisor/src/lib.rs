//! `example-supervisor`: a complete supervising actor written with the guest SDK.
//!
//! It supervises three counter workers (`examples/worker`) one for one: `counter` (permanent,
//! restarted fresh), `ledger` (permanent, restarted from its last state) and `job`
//! (transient: restarted only if it fails). At most 5 restarts in 10 s, with a backoff of
//! 50 ms doubling up to 1 s. The manifests `worker.toml` sit next to this actor's manifest.
//!
//! Requests: `which` lists the children (`name id status restarts` per line), `count`,
//! `ask <child> <msg>` forwards a message to a child by name and returns its reply.

use theater_supervision::message_server_host;
use theater_supervision::prelude::*;

struct Example;

impl Supervisor for Example {
    fn flags(_me: &str, _state: &State) -> SupervisorFlags {
        flags(Strategy::OneForOne).intensity(5, 10_000).backoff(50, 1000, 10)
    }

    fn children(_me: &str, _state: &State) -> Vec<ChildSpec> {
        vec![
            worker("counter", "worker.toml"),
            worker("ledger", "worker.toml").resume().start_bytes("100"),
            worker("job", "worker.toml").transient(),
        ]
    }

    fn on_child_event(state: State, event: ChildEvent<'_>, report: &Report) -> Result<State, String> {
        runtime::log(&format!("event {event:?}: {:?}", report.action));
        Ok(state)
    }

    fn handle_request(state: State, _id: &str, msg: &[u8]) -> Result<(State, Option<Vec<u8>>), String> {
        let msg = String::from_utf8_lossy(msg);
        let reply = match msg.split_once(' ') {
            None if msg == "which" => api::which_children()
                .iter()
                .map(|c| {
                    let id = c.id.as_deref().unwrap_or("-");
                    format!("{} {id} {:?} {}", c.name, c.status, c.restarts)
                })
                .collect::<Vec<_>>()
                .join("\n"),
            None if msg == "count" => format!("{:?}", api::count_children()),
            Some(("ask", rest)) => {
                let (child, m) = rest.split_once(' ').unwrap_or((rest, "ping"));
                let id = api::which_children()
                    .into_iter()
                    .find(|c| c.name == child)
                    .and_then(|c| c.id)
                    .ok_or_else(|| format!("no child {child}"));
                match id.and_then(|id| message_server_host::request(&id, m.as_bytes())) {
                    Ok(r) => String::from_utf8_lossy(&r).into_owned(),
                    Err(e) => format!("error: {e}"),
                }
            }
            _ => format!("unknown request `{msg}`"),
        };
        Ok((state, Some(reply.into_bytes())))
    }
}

theater_supervision::export_supervisor!(Example);
