//! `example-supervisor`: a complete supervising actor written with the guest SDK.
//!
//! It supervises three counter workers (`examples/worker`) one for one, at most 5 restarts in
//! 10 s, each restart after a backoff of 50 ms doubling up to 1 s:
//!
//! - `counter`: permanent, restarted fresh (from its start bytes);
//! - `ledger`: permanent, restarted from its last state (`resume`), starting at 100;
//! - `job`: transient, restarted only if it fails, not when it exits normally.
//!
//! Then it plays a short scenario on its own timers (`theater:extension/timer`, the same timers
//! the adapter uses for backoff, so the actor never blocks): it counts on `counter` and `ledger`
//! and makes both fail; after the restarts it shows that `counter` starts over and `ledger`
//! continues; it lets `job` exit normally (it stays down), lists its children and shuts down.
//! Run it with `just example` (see the README's walkthrough).
//!
//! Requests (`handle-request`), for using it as a long-lived supervisor: `which` lists the
//! children (`name id status restarts` per line), `count`, and `ask <child> <msg>` forwards a
//! request to a child by name. Out-of-band answers: `hold` is not answered at once (it stays
//! outstanding), `release <text>` answers every held request with `<text>`. Channels: it
//! accepts any channel and echoes each message on it (`echo: <msg>`).

use theater_supervision::prelude::*;
use theater_supervision::{message_server_host, messaging, timer};

struct Example;

/// A request to a child by name; the reply as text.
fn ask(child: &str, msg: &str) -> String {
    let id = child_id(child).ok_or_else(|| format!("no child {child}"));
    match id.and_then(|id| message_server_host::request(&id, msg.as_bytes())) {
        Ok(r) => String::from_utf8_lossy(&r).into_owned(),
        Err(e) => format!("error: {e}"),
    }
}

/// A message to a child by name, without waiting.
fn tell(child: &str, msg: &str) -> Result<(), String> {
    let id = child_id(child).ok_or_else(|| format!("no child {child}"))?;
    message_server_host::send(&id, msg.as_bytes())
}

fn which() -> String {
    api::which_children()
        .iter()
        .map(|c| format!("{} {} (restarts: {})", c.name, c.status, c.restarts))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Supervisor for Example {
    fn flags(_me: &str, _state: &State) -> SupervisorFlags {
        flags(Strategy::OneForOne)
            .intensity(5, 10_000)
            .backoff(50, 1000, 0)
    }

    fn children(_me: &str, _state: &State) -> Vec<ChildSpec> {
        vec![
            worker("counter", "worker.toml"),
            worker("ledger", "worker.toml").resume().start_bytes("100"),
            worker("job", "worker.toml").transient(),
        ]
    }

    fn init(state: State, _me: &str) -> Result<State, String> {
        runtime::log(&format!("children started: {}", which()));
        timer::set_timer(10, "step 1")?;
        Ok(state)
    }

    fn on_child_event(
        state: State,
        event: ChildEvent<'_>,
        report: &Report,
    ) -> Result<State, String> {
        let what = match event {
            ChildEvent::Error { .. } => "failed",
            ChildEvent::Exit { .. } => "exited",
            ChildEvent::ExternalStop { .. } => "was stopped from outside",
        };
        let child = report.child.as_deref().unwrap_or("?");
        runtime::log(&format!("{child} {what}; the adapter: {}", report.action));
        Ok(state)
    }

    fn on_timer(state: State, tag: &str) -> Result<State, String> {
        match tag {
            "step 1" => {
                ask("counter", "inc");
                runtime::log(&format!("counter at {}", ask("counter", "inc")));
                runtime::log(&format!("ledger at {}", ask("ledger", "inc")));
                runtime::log("making counter and ledger fail");
                tell("counter", "fail")?;
                tell("ledger", "fail")?;
                timer::set_timer(500, "step 2")?;
            }
            "step 2" => {
                runtime::log(&format!("after the restarts: {}", which()));
                runtime::log(&format!("counter at {} (fresh)", ask("counter", "get")));
                runtime::log(&format!("ledger at {} (resumed)", ask("ledger", "get")));
                runtime::log("letting job exit normally");
                tell("job", "exit")?;
                timer::set_timer(100, "step 3")?;
            }
            "step 3" => {
                runtime::log(&format!("children: {}", which()));
                runtime::shutdown(Some(b"example finished"))?;
            }
            _ => {}
        }
        Ok(state)
    }

    fn handle_request(
        state: State,
        _id: &str,
        msg: &[u8],
    ) -> Result<(State, Option<Vec<u8>>), String> {
        let msg = String::from_utf8_lossy(msg);
        let reply = match msg.split_once(' ') {
            None if msg == "which" => which(),
            None if msg == "count" => {
                let c = api::count_children();
                format!(
                    "specs {} active {} restarting {}",
                    c.specs, c.active, c.restarting
                )
            }
            Some(("ask", rest)) => {
                let (child, m) = rest.split_once(' ').unwrap_or((rest, "ping"));
                ask(child, m)
            }
            // Answered later, by `release`.
            None if msg == "hold" => return Ok((state, None)),
            Some(("release", text)) => {
                let held = messaging::outstanding();
                for id in &held {
                    messaging::respond(id, text.as_bytes())?;
                }
                format!("released {}", held.len())
            }
            _ => format!("unknown request `{msg}`"),
        };
        Ok((state, Some(reply.into_bytes())))
    }

    fn on_channel_open(
        state: State,
        _ch: &str,
        _initial: &[u8],
    ) -> Result<(State, Accept), String> {
        Ok((state, Accept::yes()))
    }

    fn on_channel_message(state: State, ch: &str, msg: &[u8]) -> Result<State, String> {
        let mut echo = b"echo: ".to_vec();
        echo.extend_from_slice(msg);
        Channel::from_id(ch).send(&echo)?;
        Ok(state)
    }
}

theater_supervision::export_supervisor!(Example);
