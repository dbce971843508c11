//! SIGTERM is Ctrl-C: a real SIGTERM to the CLI stops the tree gracefully (a busy child is
//! killed after its shutdown timeout), prints one line per actor and a summary, writes the
//! `--events` file and exits 143. What actors print (manifest names, log text) is escaped: one
//! line per log message, no terminal control characters.

use std::time::Duration;
use theater_supervisor_e2e::shell::UserShell;
use theater_supervisor_e2e::*;

#[test]
fn sigterm_stops_the_tree_like_ctrl_c_and_prints_how_each_actor_stopped() {
    let fx = Fixture::new();
    fx.manifest("looper.toml", "looper", &["message-server"]);
    // A manifest name that tries to forge a log line of another actor.
    let evil = manifest_text("evil", &component("child"), &["message-server"], "", "").replace(
        "name = \"evil\"",
        "name = \"evil\\n[root 00000000] forged\"",
    );
    fx.write("evil.toml", evil);
    fx.manifest_with(
        "root.toml",
        "spawner",
        &["supervisor", "message-server"],
        "init_state = \"kids.txt\"",
        "",
    );
    // The looper spins in `handle-send` (a stop must kill it after the shutdown timeout); the
    // child logs text with an ANSI escape and a bell.
    fx.write(
        "kids.txt",
        "looper.toml send loop\nevil.toml send log \u{1b}[31mred\u{7} text\n",
    );
    let events = fx.dir().join("events.json");
    let sh = UserShell::new();
    let script = format!(
        "exec theater-supervisor run root.toml --events {}",
        events.display()
    );
    let mut run = sh.start(&script, fx.dir());
    run.wait_for_line("red", Duration::from_secs(60));
    // The looper got `loop` before the child got its message; give its call a moment to begin.
    std::thread::sleep(Duration::from_millis(500));
    run.signal("TERM");
    let (code, out) = run.finish(Duration::from_secs(60));
    let text = out.join("\n");
    assert_eq!(code, Some(143), "{text}");

    // Escaped: nothing starts a line as if it were the root's, no raw control characters.
    assert!(
        !out.iter().any(|l| l.starts_with("[root 00000000]")),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("[evil\\n[root 00000000] forged ")
                && l.ends_with("] \\u{1b}[31mred\\u{7} text")),
        "{text}"
    );

    let find = |needle: &str| {
        out.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{text}"))
    };
    find("terminated (SIGTERM): stopping the actor tree (3 running");
    // Children newest first (the child, then the looper), then the root.
    let looper = find("stopped looper ");
    assert!(
        out[looper].ends_with(": killed after the shutdown timeout (5000 ms)"),
        "{text}"
    );
    let child = find("stopped evil\\n[root 00000000] forged ");
    assert!(out[child].ends_with(": graceful"), "{text}");
    let root = find("stopped root ");
    assert!(out[root].ends_with(": graceful"), "{text}");
    let summary = find("stopped 3 actors in ");
    assert!(child < looper && looper < root && root < summary, "{text}");
    assert!(
        out[summary].ends_with(": 2 graceful, 1 killed after the shutdown timeout"),
        "{text}"
    );
    find("wrote 3 actors' event chains to");

    // The events file is complete and verifies.
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&events).unwrap()).unwrap();
    let actors = file["actors"].as_array().unwrap();
    assert_eq!(actors.len(), 3);
    for a in actors {
        assert_eq!(a["status"], "stopped", "{a}");
    }
    let killed = actors
        .iter()
        .filter(|a| {
            a["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["event_type"] == "lifecycle.killed")
        })
        .count();
    assert_eq!(killed, 1);
    let verify = std::process::Command::new(cli_bin())
        .arg("verify")
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
