//! `theater-supervisor new`: each working template is generated into an empty directory, built
//! with its own `build.sh` (a real cargo build for wasm32-unknown-unknown, `wasm-tools component
//! new`, `wac plug` of the guest adapter) and run with `./build.sh run` on the CLI; its output is
//! checked, then a real signal stops it. The `http` template's worker is built for
//! `wasm32-wasip2` and answered on a real socket: it serves, crashes on `/crash` (500), is
//! restarted by the supervisor and serves again on the same address.

use std::time::Duration;
use theater_supervisor_e2e::shell::UserShell;

/// A cold build of the SDK and wit-bindgen takes a few minutes on a loaded 2-core machine;
/// later ones reuse the shared target directory.
const BUILD: Duration = Duration::from_secs(900);

/// The `[name 1a2b3c4d]` prefix of a log line: (name, short id).
fn prefix(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (inside, _) = rest.split_once("] ")?;
    inside.rsplit_once(' ')
}

#[test]
fn the_supervisor_template_builds_runs_and_restarts_its_failing_worker() {
    let sh = UserShell::new();
    let work = sh.dir().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = sh
        .command("theater-supervisor new market --template supervisor", &work)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("cd market && ./build.sh run"), "{said}");
    for f in [
        "market.toml",
        "worker.toml",
        "build.sh",
        "supervisor/src/lib.rs",
        "worker/src/lib.rs",
    ] {
        assert!(work.join("market").join(f).is_file(), "{f} not written");
    }

    let mut run = sh.start("./build.sh run", &work.join("market"));
    run.wait_for_line("-> restarted worker", BUILD);
    let out = run.output.clone();
    let find = |needle: &str| {
        out.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{}", out.join("\n")))
    };
    // Built, composed, started: the worker first (the adapter starts it in the supervisor's
    // init), then the supervisor's own start line.
    let plugged = find("wac plug: the guest adapter into build/market.wasm");
    let worker_up = find("starting at 0");
    let started = find("started, supervising: worker");
    assert!(
        plugged < worker_up && worker_up < started,
        "{}",
        out.join("\n")
    );
    let (_, shop_id) = prefix(&out[started]).unwrap();
    // The failure, with its kind and text (not bytes), and the restart: the same worker id
    // starts again.
    let failed = find(
        "supervisor: `worker` failed (internal: handle-send returned err: worker failing on purpose): restarting worker (one-for-one)",
    );
    let again = out
        .iter()
        .skip(failed)
        .position(|l| l.contains("starting at 0"))
        .map(|i| i + failed)
        .unwrap_or_else(|| panic!("the worker did not start again:\n{}", out.join("\n")));
    assert_eq!(
        prefix(&out[again]),
        prefix(&out[worker_up]),
        "same worker id"
    );
    let hook = find("-> restarted worker");
    assert!(
        out[hook].contains("failed: internal: handle-send returned err: worker failing on purpose"),
        "{}",
        out[hook]
    );
    assert!(
        !out.iter().any(|l| l.contains("[104, 97")),
        "bytes printed: {}",
        out.join("\n")
    );

    // SIGTERM: the tree stops gracefully, one line per actor, children first, then the summary.
    run.signal("TERM");
    let (code, out) = run.finish(Duration::from_secs(60));
    let text = out.join("\n");
    assert_eq!(code, Some(143), "{text}");
    let (_, worker_id) = prefix(&out[worker_up]).unwrap();
    let stopped_worker = find_in(&out, &format!("stopped worker {worker_id}: graceful"));
    let stopped_shop = find_in(&out, &format!("stopped market {shop_id}: graceful"));
    let summary = find_in(&out, "stopped 2 actors in ");
    assert!(
        stopped_worker < stopped_shop && stopped_shop < summary,
        "{text}"
    );
    assert!(
        out[summary].ends_with(": 2 graceful, 0 killed after the shutdown timeout"),
        "{text}"
    );
}

fn find_in(out: &[String], needle: &str) -> usize {
    out.iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{}", out.join("\n")))
}

#[test]
fn the_worker_template_builds_and_runs_until_ctrl_c() {
    let sh = UserShell::new();
    let work = sh.dir().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = sh
        .command("theater-supervisor new tally --template worker", &work)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = sh.start("./build.sh run", &work.join("tally"));
    run.wait_for_line("starting at 0", BUILD);
    let up = run
        .output
        .iter()
        .position(|l| l.contains("starting at 0"))
        .unwrap();
    let (name, id) = prefix(&run.output[up]).unwrap();
    assert_eq!(name, "tally");
    let id = id.to_string();
    run.signal("INT");
    let (code, out) = run.finish(Duration::from_secs(60));
    let text = out.join("\n");
    assert_eq!(code, Some(130), "{text}");
    find_in(
        &out,
        "interrupted (SIGINT): stopping the actor tree (1 running",
    );
    find_in(&out, &format!("stopped tally {id}: graceful"));
    find_in(&out, "stopped 1 actor in ");
}

#[test]
fn new_refuses_what_it_cannot_write_and_writes_nothing() {
    let sh = UserShell::new();
    let work = sh.dir().join("work");
    std::fs::create_dir(&work).unwrap();
    let run = |cmd: &str| {
        let out = sh.command(cmd, &work).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("theater-supervisor new Shop");
    assert_eq!(code, Some(1));
    assert!(err.contains("`Shop` cannot be a project name"), "{err}");
    let (code, err) = run("theater-supervisor new shop --checkout /nonexistent");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("`/nonexistent` is not a theater-supervisor checkout"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "nothing written"
    );
    std::fs::create_dir(work.join("taken")).unwrap();
    let (code, err) = run("theater-supervisor new taken");
    assert_eq!(code, Some(1));
    assert!(err.contains("`taken` already exists"), "{err}");
    assert_eq!(std::fs::read_dir(work.join("taken")).unwrap().count(), 0);
}

#[test]
fn the_http_template_serves_crashes_is_restarted_and_serves_again() {
    let sh = UserShell::new();
    let work = sh.dir().join("work");
    std::fs::create_dir(&work).unwrap();
    let port = crate::io::free_port();
    let out = sh
        .command(
            &format!("theater-supervisor new site --template http --port {port}"),
            &work,
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!("curl http://127.0.0.1:{port}/")),
        "{said}"
    );
    let mut run = sh.start("./build.sh run", &work.join("site"));
    run.wait_for_line("started, supervising: web", BUILD);
    let ready = run
        .output
        .iter()
        .position(|l| l.starts_with("[web ") && l.ends_with(" ready"))
        .unwrap_or_else(|| panic!("no ready line:\n{}", run.output.join("\n")));
    let (name, web_id) = prefix(&run.output[ready]).unwrap();
    assert_eq!(name, "web");
    let web_id = web_id.to_string();

    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = rt.block_on(crate::io::get(addr, "/"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("hello from ") && body.ends_with(": request 1\n"),
        "{body}"
    );
    assert!(body.contains(&web_id), "{body} (web is {web_id})");
    let (status, _) = rt.block_on(crate::io::get(addr, "/crash"));
    assert_eq!(status, 500);
    run.wait_for_line("-> restarted web", Duration::from_secs(30));
    // Served again on the same address by the same actor, a fresh instance (request 1 again);
    // while it restarts the host answers 503.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = rt.block_on(crate::io::get(addr, "/"));
        match status {
            200 => break body,
            503 if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => panic!("{status} {body}"),
        }
    };
    assert!(
        body.ends_with(": request 1\n") && body.contains(&web_id),
        "{body}"
    );

    run.signal("INT");
    let (code, out) = run.finish(Duration::from_secs(60));
    let text = out.join("\n");
    assert_eq!(code, Some(130), "{text}");
    find_in(&out, &format!("stopped web {web_id}: graceful"));
    find_in(&out, "stopped 2 actors in ");
    // Stopped for good: the address is closed.
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}
