//! `test-supervisor`: a supervising actor (guest SDK) configured by its init state, for the
//! adapter's end-to-end tests.
//!
//! The init state is text, one setting per line:
//!
//! ```text
//! strategy one-for-one|one-for-all|rest-for-one|simple-one-for-one
//! intensity <max-restarts> <period-ms>
//! backoff <initial-ms> <max-ms> <jitter-percent>
//! max <n>                         (simple-one-for-one: most dynamic children)
//! child <name> <manifest> [permanent|transient|temporary] [fresh|resume] [bytes=<text>] [shutdown=<ms>] [supervisor]
//! ```
//!
//! Every child event appends `event <error|exit|external-stop> <child-name|-> <action>` to the
//! state, so the state is the record of what the adapter did. Requests (fields separated by
//! spaces) answer `ok ...` or `err ...`: `ping`, `which` (`name id status restarts` per line),
//! `count` (`specs active restarting supervisors workers`), `events`, `start-child <child line
//! without "child">`, `dynamic [bytes]`, `terminate <c>`, `restart <c>`, `delete <c>`,
//! `stop-children`, `ask <child-name> <msg...>` (a request to that child), `timer <delay-ms>
//! <tag>` (`theater:extension/timer.set-timer`; a timer of its own is recorded as
//! `event timer <tag> -` when it fires).

use theater_supervision::ChildType;
use theater_supervision::prelude::*;
use theater_supervision::{message_server_host, timer};

struct TestSupervisor;

fn text(state: &State) -> String {
    String::from_utf8_lossy(state.as_deref().unwrap_or_default()).into_owned()
}

fn setting<'a>(state: &'a str, key: &str) -> Option<Vec<&'a str>> {
    state.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(key)).then(|| words.collect())
    })
}

fn num<T: std::str::FromStr + Default>(words: &[&str], i: usize) -> T {
    words
        .get(i)
        .and_then(|w| w.parse().ok())
        .unwrap_or_default()
}

/// `<name> <manifest> [options...]` as a child spec.
fn parse_child(words: &[&str]) -> Result<ChildSpec, String> {
    let (Some(name), Some(manifest)) = (words.first(), words.get(1)) else {
        return Err("usage: <name> <manifest> [options]".into());
    };
    let mut spec = worker(name, manifest);
    for w in &words[2..] {
        spec = match *w {
            "permanent" => spec,
            "transient" => spec.transient(),
            "temporary" => spec.temporary(),
            "fresh" => spec,
            "resume" => spec.resume(),
            "supervisor" => ChildSpec {
                child_type: ChildType::Supervisor,
                ..spec
            },
            w if w.starts_with("bytes=") => spec.start_bytes(&w.as_bytes()[6..]),
            w if w.starts_with("shutdown=") => spec.shutdown_ms(num(&[&w[9..]], 0)),
            other => return Err(format!("unknown child option `{other}`")),
        };
    }
    Ok(spec)
}

fn action(a: &Action) -> String {
    match a {
        Action::Ignored => "ignored".into(),
        Action::Restarted(names) => format!("restarted:{}", names.join(",")),
        Action::Scheduled(ms) => format!("scheduled:{ms}"),
        Action::KeptDown => "kept-down".into(),
        Action::Removed => "removed".into(),
    }
}

fn answer<T>(r: Result<T, String>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => format!("ok {}", ok(v)).trim_end().to_string(),
        Err(e) => format!("err {e}"),
    }
}

impl Supervisor for TestSupervisor {
    fn flags(_me: &str, state: &State) -> SupervisorFlags {
        let t = text(state);
        let strategy = match setting(&t, "strategy").as_deref() {
            Some(["one-for-all"]) => Strategy::OneForAll,
            Some(["rest-for-one"]) => Strategy::RestForOne,
            Some(["simple-one-for-one"]) => Strategy::SimpleOneForOne,
            _ => Strategy::OneForOne,
        };
        let mut f = flags(strategy);
        if let Some(w) = setting(&t, "intensity") {
            f = f.intensity(num(&w, 0), num(&w, 1));
        }
        if let Some(w) = setting(&t, "backoff") {
            f = f.backoff(num(&w, 0), num(&w, 1), num(&w, 2));
        }
        if let Some(w) = setting(&t, "max") {
            f = f.max_children(num(&w, 0));
        }
        f
    }

    fn children(_me: &str, state: &State) -> Vec<ChildSpec> {
        text(state)
            .lines()
            .filter_map(|l| l.strip_prefix("child "))
            .map(|l| parse_child(&l.split_whitespace().collect::<Vec<_>>()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("bad child line: {e}"))
    }

    fn on_child_event(
        state: State,
        event: ChildEvent<'_>,
        report: &Report,
    ) -> Result<State, String> {
        let kind = match event {
            ChildEvent::Error { .. } => "error",
            ChildEvent::Exit { .. } => "exit",
            ChildEvent::ExternalStop { .. } => "external-stop",
        };
        let child = report.child.as_deref().unwrap_or("-");
        let mut t = text(&state);
        t.push_str(&format!(
            "\nevent {kind} {child} {}",
            action(&report.action)
        ));
        Ok(Some(t.into_bytes()))
    }

    fn on_timer(state: State, tag: &str) -> Result<State, String> {
        let mut t = text(&state);
        t.push_str(&format!("\nevent timer {tag} -"));
        Ok(Some(t.into_bytes()))
    }

    fn handle_request(
        state: State,
        _id: &str,
        msg: &[u8],
    ) -> Result<(State, Option<Vec<u8>>), String> {
        let msg = String::from_utf8_lossy(msg);
        let words: Vec<&str> = msg.split_whitespace().collect();
        let arg = |i: usize| words.get(i).copied().unwrap_or_default().to_string();
        let reply = match words.first().copied().unwrap_or_default() {
            "ping" => "ok pong".into(),
            "which" => {
                let lines: Vec<String> = api::which_children()
                    .iter()
                    .map(|c| {
                        let id = c.id.as_deref().unwrap_or("-");
                        format!("{} {id} {} {}", c.name, c.status, c.restarts)
                    })
                    .collect();
                format!("ok {}", lines.join("\n"))
            }
            "count" => {
                let c = api::count_children();
                format!(
                    "ok {} {} {} {} {}",
                    c.specs, c.active, c.restarting, c.supervisors, c.workers
                )
            }
            "events" => {
                let t = text(&state);
                let lines: Vec<&str> = t.lines().filter(|l| l.starts_with("event ")).collect();
                format!("ok {}", lines.join("\n"))
            }
            "start-child" => answer(
                parse_child(&words[1..]).and_then(|spec| api::start_child(&spec)),
                |id| id,
            ),
            "dynamic" => {
                let bytes = words.get(1).map(|b| b.as_bytes());
                answer(api::start_dynamic_child(bytes), |id| id)
            }
            "terminate" => answer(api::terminate_child(&arg(1)), |()| String::new()),
            "restart" => answer(api::restart_child(&arg(1)), |id| id),
            "delete" => answer(api::delete_child(&arg(1)), |()| String::new()),
            "stop-children" => answer(api::stop_children(), |()| String::new()),
            "timer" => answer(timer::set_timer(num(&words, 1), &arg(2)), |()| {
                String::new()
            }),
            "ask" => {
                let id = child_id(&arg(1)).ok_or_else(|| format!("no child {}", arg(1)));
                let m = words.get(2..).unwrap_or_default().join(" ");
                answer(
                    id.and_then(|id| message_server_host::request(&id, m.as_bytes())),
                    |r| String::from_utf8_lossy(&r).into_owned(),
                )
            }
            other => format!("err unknown request `{other}`"),
        };
        Ok((state, Some(reply.into_bytes())))
    }
}

theater_supervision::export_supervisor!(TestSupervisor);
