//! `bench-parent`: a parent that runs supervisor operations in loops, for the benchmarks
//! (`just bench`). The host times each operation; this actor only drives them.
//!
//! Requests (space-separated): `spawn-n <n> <manifest>`, `stop-n <n>` (first n live children),
//! `stop-all` (newest first), `restart-n <n>` (the first child, n times), `request-n <n> <id>`,
//! `events <id>` (reads a child's chain once), `crash-n <n> <manifest>` (spawns one child and
//! crashes it n times: each `handle-child-error` restarts it and crashes it again),
//! `crashes-left`, `cycle-n <n> <manifest>` (soak: n times spawn a child, crash it, restart it
//! from `handle-child-error`, stop it), `cycles-left`, `send <id> <msg>`, `count`.

wit_bindgen::generate!({ world: "full-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use exports::theater::simple::supervisor_handlers::Guest as Handlers;
use std::sync::atomic::{AtomicU32, Ordering};
use theater::simple::types::WitActorError;
use theater::simple::{message_server_host, supervisor};

struct BenchParent;

export!(BenchParent);

type State = Option<Vec<u8>>;

/// Crashes still to provoke in a `crash-n` run (kept in the instance's memory: this actor's
/// state bytes stay untouched so the host's state handling is not what is measured).
static CRASHES_LEFT: AtomicU32 = AtomicU32::new(0);

/// Soak cycles still to run (`cycle-n`).
static CYCLES_LEFT: AtomicU32 = AtomicU32::new(0);

/// The child manifest of the `cycle-n` run (kept in memory like the counters above).
static CYCLE_MANIFEST: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Spawns a child and makes it crash (`boom` traps the `minimal` actor).
fn spawn_and_crash(manifest: &str) -> Result<String, String> {
    let id = supervisor::spawn(manifest, None)?;
    message_server_host::send(&id, b"boom")?;
    Ok(id)
}

fn run(msg: &str) -> String {
    let mut words = msg.split(' ');
    let verb = words.next().unwrap_or("");
    let mut arg = || words.next().unwrap_or("").to_string();
    match verb {
        "spawn-n" => {
            let n: u32 = arg().parse().unwrap_or(0);
            let manifest = arg();
            for i in 0..n {
                if let Err(e) = supervisor::spawn(&manifest, None) {
                    return format!("err spawn {i}: {e}");
                }
            }
            format!("ok {n}")
        }
        "stop-n" | "stop-all" => {
            let mut kids = supervisor::list_children();
            if verb == "stop-n" {
                kids.truncate(arg().parse().unwrap_or(0));
            }
            for id in kids.iter().rev() {
                if let Err(e) = supervisor::stop_child(id) {
                    return format!("err stop {id}: {e}");
                }
            }
            format!("ok {}", kids.len())
        }
        "restart-n" => {
            let n: u32 = arg().parse().unwrap_or(0);
            let Some(first) = supervisor::list_children().into_iter().next() else {
                return "err no child".into();
            };
            for _ in 0..n {
                if let Err(e) = supervisor::restart_child(&first) {
                    return format!("err restart: {e}");
                }
            }
            format!("ok {n}")
        }
        "request-n" => {
            let n: u32 = arg().parse().unwrap_or(0);
            let id = arg();
            for _ in 0..n {
                if let Err(e) = message_server_host::request(&id, b"ping") {
                    return format!("err request: {e}");
                }
            }
            format!("ok {n}")
        }
        "events" => match supervisor::get_child_events(&arg()) {
            Ok(ev) => format!("ok {}", ev.len()),
            Err(e) => format!("err {e}"),
        },
        "crash-n" => {
            let n: u32 = arg().parse().unwrap_or(0);
            CRASHES_LEFT.store(n, Ordering::SeqCst);
            match supervisor::spawn(&arg(), None) {
                Ok(id) => match message_server_host::send(&id, b"boom") {
                    Ok(()) => format!("ok {id}"),
                    Err(e) => format!("err {e}"),
                },
                Err(e) => format!("err {e}"),
            }
        }
        "cycle-n" => {
            let n: u32 = arg().parse().unwrap_or(0);
            let manifest = arg();
            *CYCLE_MANIFEST.lock().unwrap() = manifest.clone();
            CYCLES_LEFT.store(n, Ordering::SeqCst);
            match spawn_and_crash(&manifest) {
                Ok(id) => format!("ok {id}"),
                Err(e) => format!("err {e}"),
            }
        }
        "cycles-left" => format!("ok {}", CYCLES_LEFT.load(Ordering::SeqCst)),
        "crashes-left" => format!("ok {}", CRASHES_LEFT.load(Ordering::SeqCst)),
        "send" => {
            let id = arg();
            match message_server_host::send(&id, arg().as_bytes()) {
                Ok(()) => "ok".into(),
                Err(e) => format!("err {e}"),
            }
        }
        "count" => format!("ok {}", supervisor::list_children().len()),
        other => format!("err unknown verb {other}"),
    }
}

impl Actor for BenchParent {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}

impl MessageServerClient for BenchParent {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        run(&String::from_utf8_lossy(&msg));
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let reply = run(&String::from_utf8_lossy(&msg));
        Ok((state, (Some(reply.into_bytes()),)))
    }

    fn handle_channel_open(
        state: State,
        _: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        Ok((
            state,
            (ChannelAccept {
                accepted: false,
                message: None,
            },),
        ))
    }

    fn handle_channel_message(state: State, _: (String, Vec<u8>)) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_channel_close(state: State, _: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}

impl Handlers for BenchParent {
    fn handle_child_error(
        state: State,
        (id, _err): (String, WitActorError),
    ) -> Result<(State,), String> {
        let cycles = CYCLES_LEFT.load(Ordering::SeqCst);
        if cycles > 0 {
            // One soak cycle: the child crashed; restart it, stop it, start the next one.
            supervisor::restart_child(&id)?;
            supervisor::stop_child(&id)?;
            CYCLES_LEFT.store(cycles - 1, Ordering::SeqCst);
            if cycles > 1 {
                spawn_and_crash(&CYCLE_MANIFEST.lock().unwrap())?;
            }
            return Ok((state,));
        }
        let left = CRASHES_LEFT.load(Ordering::SeqCst);
        if left > 0 {
            CRASHES_LEFT.store(left - 1, Ordering::SeqCst);
            if left > 1 {
                supervisor::restart_child(&id)?;
                message_server_host::send(&id, b"boom")?;
            }
        }
        Ok((state,))
    }

    fn handle_child_exit(state: State, _: (String, Option<Vec<u8>>)) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_child_external_stop(state: State, _: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}
