//! `{{name}}`: a supervisor written with the guest SDK (`theater-supervision`). `./build.sh`
//! plugs the guest adapter into it (`wac plug`), which restarts its children by the strategy.
//!
//! It keeps one HTTP worker (`web.toml`, the crate in `web/`) alive: one for one, restarted at
//! once, at most 10 restarts in 10 s. While the worker restarts, the host keeps its socket bound
//! and answers `503`; then the same worker id serves again on the same address.

use theater_supervision::prelude::*;

struct {{Type}};

impl Supervisor for {{Type}} {
    fn flags(_me: &str, _state: &State) -> SupervisorFlags {
        flags(Strategy::OneForOne).intensity(10, 10_000)
    }

    // Paths are relative to {{name}}.toml.
    fn children(_me: &str, _state: &State) -> Vec<ChildSpec> {
        vec![worker("web", "web.toml")]
    }

    fn init(state: State, me: &str) -> Result<State, String> {
        runtime::log(&format!("{{name}} {me} started, supervising: web"));
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
}

theater_supervision::export_supervisor!({{Type}});
