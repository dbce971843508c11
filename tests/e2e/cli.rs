//! The `theater-supervisor` CLI: run prints every actor's log lines and exits by the root's
//! outcome; `--events` writes the chains; `verify` checks them and names a broken event.

use std::path::PathBuf;
use std::process::Command;
use theater_supervisor_e2e::*;

fn bin() -> PathBuf {
    cli_bin()
}

/// The CLI with its default data directory in a fresh temporary directory (never the user's
/// `~/.local/share`; one per run, since a data directory takes one host at a time).
fn cli() -> Command {
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = DATA.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut c = Command::new(bin());
    c.env("THEATER_DATA_DIR", dir.path().join(format!("data-{n}")));
    c
}

#[test]
fn run_the_demo_tree_then_verify_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.json");
    let out = cli()
        .args(["run", "demo/root.toml", "--events"])
        .arg(&events)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stdout}\n{stderr}");
    // Log lines carry the actor name and a short id.
    assert!(
        stdout.lines().any(|l| l.starts_with("[demo-root ")),
        "{stdout}"
    );
    assert!(stdout.contains("failed"), "the crash is reported: {stdout}");
    assert!(stdout.contains("resumed counter continues at"), "{stdout}");

    let ok = cli().arg("verify").arg(&events).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: "));

    // Flip one character of one event's data: verify names the actor and the event.
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&events).unwrap()).unwrap();
    let data = file["actors"][0]["events"][2]["data"]
        .as_str()
        .unwrap()
        .replacen('{', "[", 1);
    file["actors"][0]["events"][2]["data"] = serde_json::Value::String(data);
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&file).unwrap()).unwrap();
    let bad = cli().arg("verify").arg(&tampered).output().unwrap();
    let said = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{said}");
    assert!(
        said.contains("event #2") && said.contains("demo-root"),
        "{said}"
    );

    // Drop the last event of an actor: the recorded head no longer matches.
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&events).unwrap()).unwrap();
    file["actors"][1]["events"].as_array_mut().unwrap().pop();
    std::fs::write(&tampered, serde_json::to_vec(&file).unwrap()).unwrap();
    let bad = cli().arg("verify").arg(&tampered).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("cut off the end"));
}

#[test]
fn a_failing_root_exits_non_zero_with_the_reason() {
    let fx = Fixture::new();
    let m = fx.manifest("bad-root.toml", "init-fail", &[]);
    let out = cli().arg("run").arg(&m).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("init-fail: refusing to start"), "{stderr}");

    let m = fx.write("nothing.toml", "name = [");
    let out = cli().arg("run").arg(&m).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid manifest"));
}

#[test]
fn ctrl_c_stops_the_tree_gracefully_and_still_writes_the_events() {
    use std::io::{BufRead, BufReader};
    let fx = Fixture::new();
    let all = ["supervisor", "message-server"];
    // A parent that never shuts down by itself, with a child spawned at start.
    fx.manifest("child.toml", "child", &["message-server"]);
    fx.manifest_with(
        "root.toml",
        "spawner",
        &all,
        "init_state = \"kids.txt\"",
        "",
    );
    fx.write("kids.txt", "child.toml");
    let events = fx.dir().join("events.json");
    let mut child = cli()
        .arg("run")
        .arg(fx.dir().join("root.toml"))
        .arg("--events")
        .arg(&events)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the child's init log line: the tree is up.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("init") {
        line.clear();
    }
    assert!(line.contains("init"), "the tree never came up");
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&events).unwrap()).unwrap();
    let actors = file["actors"].as_array().unwrap();
    assert_eq!(actors.len(), 2);
    for a in actors {
        assert_eq!(a["status"], "stopped", "{a}");
        let last = a["events"].as_array().unwrap().last().unwrap();
        assert_eq!(last["event_type"], "lifecycle.stopped");
    }
    let verify = cli().arg("verify").arg(&events).status().unwrap();
    assert!(verify.success());
}

#[test]
fn the_store_commands_show_verify_and_catch_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = cli()
        .args(["run", "demo/root.toml", "--data"])
        .arg(&data)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // tree: the root with its three children, each with its status.
    let tree = cli().args(["tree", "--data"]).arg(&data).output().unwrap();
    let tree = String::from_utf8_lossy(&tree.stdout).into_owned();
    let lines: Vec<&str> = tree.lines().collect();
    assert!(
        lines[0].starts_with("demo-root ") && lines[0].contains("[stopped]"),
        "{tree}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("  ")).count(),
        3,
        "{tree}"
    );
    assert!(
        tree.contains("trapper") && tree.contains("1 restarts"),
        "{tree}"
    );
    assert!(tree.contains("4 actors in"), "{tree}");
    let root = lines[0].split_whitespace().nth(1).unwrap().to_string();

    // events: by unique prefix, human form and JSON (which verifies as an events file).
    let human = cli()
        .args(["events", "--data"])
        .arg(&data)
        .arg(&root[..8])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(human.starts_with(&format!("demo-root {root}")), "{human}");
    assert!(
        human.contains("lifecycle.start") && human.contains("supervisor.spawn"),
        "{human}"
    );
    let json = cli()
        .args(["events", "--json", "--data"])
        .arg(&data)
        .arg(&root)
        .output()
        .unwrap();
    let file: theater_supervisor::events_file::EventsFile =
        serde_json::from_slice(&json.stdout).expect("events --json is an events file");
    assert_eq!(file.actors.len(), 1);
    assert!(file.verify().is_empty());
    let missing = cli()
        .args(["events", "--data"])
        .arg(&data)
        .arg("no-such-actor")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no actor `no-such-actor`"));

    // verify --data: ok, then one changed byte in a stored event is caught and named.
    let ok = cli()
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let db = rusqlite::Connection::open(data.join("events.db")).unwrap();
    db.execute(
        "UPDATE events SET data = CAST('{\"tampered\":1}' AS BLOB) WHERE actor = ?1 AND idx = 3",
        [&root],
    )
    .unwrap();
    drop(db);
    let bad = cli()
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("BROKEN {root}")) && text.contains("3"),
        "{text}"
    );
}
