//! `{{name}}`: a supervisor written with the guest SDK (`theater-supervision`). `./build.sh`
//! plugs the guest adapter into it (`wac plug`), which restarts its children by the strategy.
//!
//! It supervises one worker (`worker.toml`, the crate in `worker/`). To show a restart, it asks
//! the worker to fail once, 100 ms after it started (delete `init`'s timer and `on_timer` to stop
//! that); then it keeps running until it is stopped (Ctrl-C). Requests: `inc` and `get` go to the
//! worker, `which` lists the children.

use theater_supervision::prelude::*;

struct {{Type}};

const DEMO: &str = "demo: make the worker fail";

impl Supervisor for {{Type}} {
    // One for one, at most 3 restarts within 5 s (else this supervisor gives up and fails).
    fn flags(_me: &str, _state: &State) -> SupervisorFlags {
        flags(Strategy::OneForOne).intensity(3, 5_000)
    }

    // Started in this order, stopped in reverse order; paths are relative to {{name}}.toml.
    fn children(_me: &str, _state: &State) -> Vec<ChildSpec> {
        vec![worker("worker", "worker.toml")]
    }

    fn init(state: State, me: &str) -> Result<State, String> {
        runtime::log(&format!("{{name}} {me} started, supervising: worker"));
        timer::set_timer(100, DEMO)?;
        Ok(state)
    }

    // After the adapter handled a child's failure, exit or stop (`report` says what it did).
    fn on_child_event(
        state: State,
        event: ChildEvent<'_>,
        report: &Report,
    ) -> Result<State, String> {
        runtime::log(&format!("{event} -> {}", report.action));
        Ok(state)
    }

    fn on_timer(state: State, tag: &str) -> Result<State, String> {
        if tag == DEMO {
            let id = child_id("worker").ok_or("no child named worker")?;
            runtime::log("demo: asking the worker to fail");
            message_server_host::send(&id, b"fail")?;
        }
        Ok(state)
    }

    fn handle_request(
        state: State,
        _id: &str,
        msg: &[u8],
    ) -> Result<(State, Option<Vec<u8>>), String> {
        let reply = match msg {
            b"which" => api::which_children()
                .iter()
                .map(|c| format!("{} {} (restarts: {})", c.name, c.status, c.restarts))
                .collect::<Vec<_>>()
                .join(", ")
                .into_bytes(),
            _ => {
                let id = child_id("worker").ok_or("no child named worker")?;
                message_server_host::request(&id, msg)?
            }
        };
        Ok((state, Some(reply)))
    }
}

theater_supervision::export_supervisor!({{Type}});
