//! `http-supervisor`: the supervisor of the HTTP demo (`just demo-http`), written with the guest
//! SDK. It keeps one `http-worker` (`tests/wasi-actors/http-worker`, a `wasm32-wasip2`
//! component serving `wasi:http/incoming-handler`) alive: one for one, permanent, restarted
//! fresh at once (no backoff), at most 10 restarts in 10 s. The host's `http-server` handler
//! keeps the worker's socket bound while it restarts (requests get `503` meanwhile), so the
//! worker serves again on the same address.

use theater_supervision::prelude::*;

struct HttpSupervisor;

impl Supervisor for HttpSupervisor {
    fn flags(_me: &str, _state: &State) -> SupervisorFlags {
        flags(Strategy::OneForOne).intensity(10, 10_000)
    }

    fn children(_me: &str, _state: &State) -> Vec<ChildSpec> {
        vec![worker("web", "worker.toml")]
    }

    fn init(state: State, _me: &str) -> Result<State, String> {
        let web = api::which_children();
        let id = web.first().and_then(|c| c.id.as_deref()).unwrap_or("?");
        runtime::log(&format!("supervising the HTTP worker `web` ({id})"));
        Ok(state)
    }

    fn on_child_event(
        state: State,
        event: ChildEvent<'_>,
        _report: &Report,
    ) -> Result<State, String> {
        // The adapter logs what it did (the restart); this adds why.
        if let ChildEvent::Error { error, .. } = event {
            let why = error
                .data
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            runtime::log(&format!("`web` failed: {why}"));
        }
        Ok(state)
    }
}

theater_supervision::export_supervisor!(HttpSupervisor);
