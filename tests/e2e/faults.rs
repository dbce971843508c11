//! Faults injected for real under a running host (README "What happens when things go wrong"):
//! a data directory on a small tmpfs that fills up and frees again, one that stays full, a
//! store file corrupted under the host, a read-only store, the host paused with SIGSTOP past a
//! call deadline, and a parent aborted while it waits for a child's `init`. For each, the
//! durability promise is checked: every operation the root saw succeed is in the store, nothing
//! stored was overwritten, and every chain verifies or the damage is reported as such.

use crate::cli_run::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use theater_supervisor::store::{Durability, SqliteStore, Storage};
use theater_supervisor::{ActorStatus, SystemConfig};
use theater_supervisor_e2e::*;

/// The `steady` tree of the crash test: a root spawning, stopping and restarting `counter`
/// workers every few 10 ms ticks, logging each operation after it returned.
fn steady_tree(fx: &Fixture) -> PathBuf {
    fx.manifest("worker.toml", "counter", &["message-server"]);
    fx.write("root.state", "fresh worker.toml 3");
    fx.manifest_with(
        "root.toml",
        "steady",
        &["supervisor", "message-server"],
        "init_state = \"root.state\"",
        "",
    )
}

fn ticks(out: &Path) -> usize {
    messages(out)
        .iter()
        .filter(|l| l.starts_with("tick "))
        .count()
}

fn wait_ticks(child: &mut Child, out: &Path, err: &Path, more: usize) {
    let from = ticks(out);
    wait_for(child, out, err, &format!("{more} more ticks"), |m| {
        m.iter().filter(|l| l.starts_with("tick ")).count() >= from + more
    });
}

fn skip(test: &str, why: &str) {
    println!("SKIPPED {test}: {why}");
}

#[test]
fn a_full_disk_that_frees_again_loses_nothing_and_the_host_goes_on() {
    let fx = Fixture::new();
    let root = steady_tree(&fx);
    if let Err(why) = can_mount() {
        return skip("disk full then freed", &why);
    }
    let mnt = fx.dir().join("small");
    let _mount = match Mount::tmpfs(&mnt, "16m") {
        Ok(m) => m,
        Err(why) => return skip("disk full then freed", &why),
    };
    let data = mnt.join("data");
    let (out, err) = (fx.dir().join("run.out"), fx.dir().join("run.err"));
    let mut child = launch(
        &[
            "run",
            root.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--store-stall-ms",
            "60000",
        ],
        &out,
        &err,
    );
    wait_ticks(&mut child, &out, &err, 5);
    let fill = fill_up(&mnt);
    assert!(
        wait_stderr(&mut child, &err, "a commit failed", Duration::from_secs(60)),
        "the full disk never made a commit fail\nstderr:\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let failed_at = Instant::now();
    let acked_when_full = check_acknowledged(std::slice::from_ref(&out), &data);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_file(&fill).unwrap();
    assert!(
        wait_stderr(
            &mut child,
            &err,
            "commits succeed again",
            Duration::from_secs(60)
        ),
        "the store did not recover once space came back\nstderr:\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let outage = failed_at.elapsed();
    wait_ticks(&mut child, &out, &err, 10);
    signal(&child, "INT");
    let status = wait_exit(&mut child, &err, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "graceful stop after the outage");
    let acked = check_acknowledged(std::slice::from_ref(&out), &data);
    assert!(acked > acked_when_full, "work went on after the outage");
    let (code, text) = verify_data(&data);
    assert_eq!(code, Some(0), "{text}");
    println!(
        "fault `disk full, then freed`: {acked} operations acknowledged ({acked_when_full} before the disk filled), all {acked} in the store; \
         commits failed for about {} ms and then went on; {}",
        outage.as_millis(),
        text.trim()
    );
}

#[test]
fn a_disk_that_stays_full_stops_the_tree_cleanly_and_resume_brings_it_back() {
    let fx = Fixture::new();
    let root = steady_tree(&fx);
    if let Err(why) = can_mount() {
        return skip("disk stays full", &why);
    }
    let mnt = fx.dir().join("small");
    let _mount = match Mount::tmpfs(&mnt, "16m") {
        Ok(m) => m,
        Err(why) => return skip("disk stays full", &why),
    };
    let data = mnt.join("data");
    let (out, err) = (fx.dir().join("run.out"), fx.dir().join("run.err"));
    let mut child = launch(
        &[
            "run",
            root.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--store-stall-ms",
            "1500",
        ],
        &out,
        &err,
    );
    wait_ticks(&mut child, &out, &err, 5);
    let fill = fill_up(&mnt);
    let status = wait_exit(&mut child, &err, Duration::from_secs(90));
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "exit code 3: the store failed\n{stderr}"
    );
    assert!(
        stderr.contains("the event store failed, so every actor was stopped")
            && stderr.contains("stall timeout"),
        "{stderr}"
    );
    let acked = check_acknowledged(std::slice::from_ref(&out), &data);
    let (code, text) = verify_data(&data);
    assert_eq!(
        code,
        Some(0),
        "every stored chain verifies (no gap): {text}"
    );

    // Space comes back: the tree resumes from what was committed.
    std::fs::remove_file(&fill).unwrap();
    let (out2, err2) = (fx.dir().join("resume.out"), fx.dir().join("resume.err"));
    let mut again = launch(
        &["run", "--data", data.to_str().unwrap(), "--resume"],
        &out2,
        &err2,
    );
    wait_for(&mut again, &out2, &err2, "the root resumed", |m| {
        m.iter().any(|l| l.starts_with("resumed at tick"))
    });
    wait_ticks(&mut again, &out2, &err2, 5);
    signal(&again, "INT");
    assert_eq!(
        wait_exit(&mut again, &err2, Duration::from_secs(60)).code(),
        Some(130)
    );
    let total = check_acknowledged(&[out, out2], &data);
    let (code, text) = verify_data(&data);
    assert_eq!(code, Some(0), "{text}");
    println!(
        "fault `disk stays full`: {acked} operations acknowledged before the store gave up, all in the store; \
         the tree stopped with exit 3; after space came back `--resume` went on ({total} acknowledged in all, all stored); {}",
        text.trim()
    );
}

#[test]
fn a_store_file_corrupted_under_the_host_is_caught_and_reported() {
    let fx = Fixture::new();
    let root = steady_tree(&fx);
    let data = fx.dir().join("data");
    let (out, err) = (fx.dir().join("run.out"), fx.dir().join("run.err"));
    let mut child = launch(
        &[
            "run",
            root.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &out,
        &err,
    );
    wait_ticks(&mut child, &out, &err, 20);
    // Garbage over every page but the header page.
    let db = data.join("events.db");
    let len = std::fs::metadata(&db).unwrap().len();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(4096)).unwrap();
        let garbage: Vec<u8> = (0..len.saturating_sub(4096).max(4096))
            .map(|i| (i * 131 % 251) as u8)
            .collect();
        f.write_all(&garbage).unwrap();
        f.sync_all().unwrap();
    }
    let corrupted_at = Instant::now();
    let acked_before = check_acknowledged_lines(&out);
    // The host finds the damage when it next reads a damaged page from the file and stops at
    // once, or its page cache holds every page it needs and it goes on (the unit test
    // `sqlite::tests::a_corrupted_database_fails_the_store_at_once` covers the first case
    // deterministically).
    let detected = wait_stderr(
        &mut child,
        &err,
        "event store failed",
        Duration::from_secs(5),
    );
    let status = if detected {
        wait_exit(&mut child, &err, Duration::from_secs(30))
    } else {
        signal(&child, "INT");
        wait_exit(&mut child, &err, Duration::from_secs(60))
    };
    let stderr = std::fs::read_to_string(&err).unwrap();
    let (code, text) = verify_data(&data);
    if detected {
        assert_eq!(status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("malformed") || stderr.contains("not a database"),
            "{stderr}"
        );
        assert!(
            corrupted_at.elapsed() < Duration::from_secs(45),
            "stopped promptly"
        );
        // Nothing was acknowledged once the store had failed.
        let acked_after = check_acknowledged_lines(&out);
        let failed_line = stderr
            .lines()
            .position(|l| l.contains("event store failed"))
            .unwrap();
        let _ = failed_line;
        assert_ne!(code, Some(0), "verify reports the damage: {text}");
        assert!(
            text.contains("malformed") || text.contains("not a database"),
            "verify names the damage: {text}"
        );
        println!(
            "fault `store file corrupted`: the host caught it ({} acknowledged before the damage, {} in all) and stopped every actor with exit 3; verify reports: {}",
            acked_before,
            acked_after,
            text.lines().last().unwrap_or_default()
        );
    } else {
        assert_eq!(status.code(), Some(130), "{stderr}");
        // The damaged pages were never read again: the checkpoints wrote them anew from the
        // WAL, or verify reports what is still damaged.
        if code == Some(0) {
            let acked = check_acknowledged(std::slice::from_ref(&out), &data);
            println!(
                "fault `store file corrupted`: the host never read the damaged pages; checkpoints rewrote them; {acked} acknowledged operations all stored; {}",
                text.trim()
            );
        } else {
            assert!(
                text.contains("malformed") || text.contains("not a database"),
                "verify names the damage: {text}"
            );
            println!(
                "fault `store file corrupted`: not read by the host while it ran; verify reports: {}",
                text.lines().last().unwrap_or_default()
            );
        }
    }
}

/// Operations the root logged as done.
fn check_acknowledged_lines(out: &Path) -> usize {
    messages(out)
        .iter()
        .filter(|m| {
            ["spawned ", "stopped ", "restarted "]
                .iter()
                .any(|p| m.starts_with(p))
        })
        .count()
}

#[test]
fn a_store_on_a_read_only_filesystem_can_be_inspected() {
    let fx = Fixture::new();
    fx.manifest("child.toml", "counter", &["message-server"]);
    let root = steady_tree(&fx);
    let data = fx.dir().join("data");
    let (out, err) = (fx.dir().join("run.out"), fx.dir().join("run.err"));
    let mut child = launch(
        &[
            "run",
            root.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &out,
        &err,
    );
    wait_ticks(&mut child, &out, &err, 10);
    signal(&child, "INT");
    assert_eq!(
        wait_exit(&mut child, &err, Duration::from_secs(60)).code(),
        Some(130)
    );
    if let Err(why) = can_mount() {
        return skip("read-only store", &why);
    }
    // The data directory as it was left, and only its database file (a copy on read-only
    // media without the `-wal`/`-shm` files SQLite needs to open a WAL database).
    let bare = fx.dir().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(data.join("events.db"), bare.join("events.db")).unwrap();
    for (src, name) in [(&data, "as left"), (&bare, "database file only")] {
        let ro = fx.dir().join(format!("ro-{}", name.replace(' ', "-")));
        let _mount = match Mount::read_only(src, &ro) {
            Ok(m) => m,
            Err(why) => return skip("read-only store", &why),
        };
        inspect_read_only(&ro, name);
    }
}

fn inspect_read_only(ro: &Path, name: &str) {
    assert!(
        std::fs::write(ro.join("probe"), b"x").is_err(),
        "the bind mount is read-only"
    );
    let wal_present = ro.join("events.db-wal").exists() || ro.join("events.db-shm").exists();
    let (code, text) = verify_data(ro);
    assert_eq!(code, Some(0), "verify on a read-only store: {text}");
    let tree = Command::new(cli_bin())
        .args(["tree", "--data"])
        .arg(ro)
        .output()
        .unwrap();
    let tree_text = String::from_utf8_lossy(&tree.stdout);
    assert!(
        tree.status.success() && tree_text.contains("[stopped]"),
        "tree on a read-only store: {tree_text}{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let root_id = SqliteStore::open_read_only(ro)
        .unwrap()
        .actors()
        .unwrap()
        .into_iter()
        .find(|a| a.parent.is_none())
        .unwrap()
        .id;
    let events = Command::new(cli_bin())
        .args(["events", "--data"])
        .arg(ro)
        .arg(&root_id[..8])
        .output()
        .unwrap();
    assert!(
        events.status.success(),
        "{}",
        String::from_utf8_lossy(&events.stderr)
    );
    println!(
        "fault `read-only store, {name}` (-wal/-shm present: {wal_present}): verify, tree and events work; {}",
        text.trim()
    );
}

/// The child process of the SIGSTOP test: a host in this test binary (so the test can pause
/// it) whose child loops until its call deadline (2 s); prints when it started looping and
/// when its parent was told.
#[test]
fn sigstop_host_helper() {
    if std::env::var_os("THEATER_SIGSTOP_HOST").is_none() {
        return; // only run as the child process of the SIGSTOP test
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let h = Harness::start().await;
        h.fx.write("deadline-looper.toml", looper_manifest(2000));
        let kid = h.spawn("deadline-looper.toml", None).await;
        h.system.send(&kid, b"loop".to_vec()).unwrap();
        println!("LOOPING");
        let start = Instant::now();
        loop {
            let cbs = h.callbacks().await;
            if let Some(line) = cbs.iter().find(|l| l.starts_with("error ")) {
                println!("FAILED after {} ms: {line}", start.elapsed().as_millis());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

fn looper_manifest(timeout_ms: u64) -> String {
    format!(
        "name = \"looper\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n[limits]\ncall_timeout_ms = {timeout_ms}\n",
        component("looper").display()
    )
}

#[test]
fn a_paused_host_does_not_count_the_pause_against_call_deadlines() {
    let exe = std::env::current_exe().unwrap();
    let fx = Fixture::new();
    let (out, err) = (fx.dir().join("host.out"), fx.dir().join("host.err"));
    let mut host = Command::new(exe)
        .args([
            "faults::sigstop_host_helper",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("THEATER_SIGSTOP_HOST", "1")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let start = Instant::now();
    while !read().contains("LOOPING") {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the host never started looping\n{}\n{}",
            read(),
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        assert!(host.try_wait().unwrap().is_none(), "{}", read());
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    signal(&host, "STOP");
    std::thread::sleep(Duration::from_secs(4));
    signal(&host, "CONT");
    let resumed = Instant::now();
    while !read().contains("FAILED") {
        assert!(
            resumed.elapsed() < Duration::from_secs(60),
            "the looping child never failed\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let after_cont = resumed.elapsed();
    let _ = host.wait();
    let text = read();
    let line = text.lines().find(|l| l.starts_with("FAILED")).unwrap();
    assert!(line.contains("operation-timeout"), "{line}");
    // ~1.8 s of the 2 s deadline were left when the host was paused; had the 4 s pause been
    // counted, the child would have failed right after SIGCONT.
    assert!(
        after_cont >= Duration::from_millis(1000),
        "the child failed {} ms after SIGCONT: the pause was counted against its deadline ({line})",
        after_cont.as_millis()
    );
    println!(
        "fault `host paused (SIGSTOP 4 s) during a call with a 2 s deadline`: the call failed {} ms after SIGCONT, not at once: {line}",
        after_cont.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_aborted_while_it_waits_for_a_childs_init_leaves_nothing_behind() {
    let h = Harness::start_with(
        SystemConfig {
            shutdown_timeout: Duration::from_millis(200),
            max_actors: 3,
            ..SystemConfig::default()
        },
        "",
    )
    .await;
    // A child whose init spins until its (long) deadline: the parent waits in `spawn`.
    h.fx.write("spin.state", "loop-in-init");
    h.fx.write(
        "spinner.toml",
        format!(
            "name = \"spinner\"\ncomponent = \"{}\"\ninit_state = \"spin.state\"\n[[handler]]\ntype = \"message-server\"\n[limits]\ncall_timeout_ms = 25000\n",
            component("looper").display()
        ),
    );
    let spawn = h
        .system
        .request(&h.root, format!("spawn{SEP}spinner.toml").into_bytes());
    let stop = async {
        // Wait until the child is registered (starting).
        let start = Instant::now();
        while !h
            .system
            .actors()
            .iter()
            .any(|a| a.name == "spinner" && a.status == ActorStatus::Starting)
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "spinner never started"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Stopping the parent outlasts its shutdown timeout: its task is aborted mid-spawn.
        tokio::time::timeout(Duration::from_secs(30), h.system.stop_actor(&h.root))
            .await
            .expect("stopping the parent does not hang")
            .unwrap();
    };
    let (answer, ()) = tokio::join!(spawn, stop);
    assert!(answer.is_err(), "the spawn never answered: {answer:?}");
    let left: Vec<_> = h
        .system
        .actors()
        .into_iter()
        .filter(|a| !a.status.is_terminal())
        .collect();
    assert!(left.is_empty(), "nothing stays live or starting: {left:?}");
    // Every live-actor slot came back: max_actors (3) roots start again.
    let mut roots = Vec::new();
    for i in 0..3 {
        let m =
            h.fx.manifest(&format!("again{i}.toml"), "child", &["message-server"]);
        roots.push(
            h.system
                .start_root(&m)
                .await
                .unwrap_or_else(|e| panic!("root {i}: a live-actor slot leaked: {e}")),
        );
    }
    println!(
        "fault `parent aborted mid-spawn`: the stop returned, no actor left starting, all 3 live-actor slots free again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_aborted_while_it_restarts_a_child_does_not_wait_for_it_forever() {
    let h = Harness::start_with(
        SystemConfig {
            shutdown_timeout: Duration::from_millis(200),
            ..SystemConfig::default()
        },
        "",
    )
    .await;
    let state = h.fx.write("spin.state", "calm");
    h.fx.write(
        "spinner.toml",
        format!(
            "name = \"spinner\"\ncomponent = \"{}\"\ninit_state = \"spin.state\"\n[[handler]]\ntype = \"message-server\"\n[limits]\ncall_timeout_ms = 25000\n",
            component("looper").display()
        ),
    );
    let kid = h.spawn("spinner.toml", None).await;
    // The restart reads the manifest's init_state again: now it spins in init.
    std::fs::write(&state, "loop-in-init").unwrap();
    let restart = h
        .system
        .request(&h.root, format!("restart{SEP}{kid}").into_bytes());
    let stop = async {
        let start = Instant::now();
        while h.system.actor(&kid).map(|a| a.restarts) != Some(1) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "restart never began"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::timeout(Duration::from_secs(30), h.system.stop_actor(&h.root))
            .await
            .expect("stopping the parent does not wait for the restarting child forever")
            .unwrap();
    };
    let (answer, ()) = tokio::join!(restart, stop);
    assert!(answer.is_err(), "the restart never answered: {answer:?}");
    let status = h.system.actor(&kid).map(|a| a.status);
    assert!(
        status.is_some_and(|s| s.is_terminal()),
        "the child is settled: {status:?}"
    );
    println!("fault `parent aborted mid-restart`: the stop returned, the child ended {status:?}");
}

#[test]
fn small_cli_faults_get_clear_messages_early() {
    let fx = Fixture::new();
    let root = steady_tree(&fx);
    // An events file that cannot be written is refused before anything starts.
    let bad = fx.dir().join("no-such-dir/events.json");
    let out = Command::new(cli_bin())
        .args(["run", root.to_str().unwrap(), "--no-store", "--events"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot write the events file") && stderr.contains("no-such-dir"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // THEATER_DATA_DIR="" counts as unset: the store does not land in the current directory.
    let cwd = fx.dir().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let home = fx.dir().join("home");
    let (o, e) = (fx.dir().join("env.out"), fx.dir().join("env.err"));
    let mut child = Command::new(cli_bin())
        .args(["run", root.to_str().unwrap()])
        .current_dir(&cwd)
        .env("THEATER_DATA_DIR", "")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &home)
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    wait_ticks(&mut child, &o, &e, 3);
    assert!(
        !cwd.join("events.db").exists(),
        "store put in the current directory"
    );
    assert!(
        home.join(".local/share/theater-supervisor/events.db")
            .exists(),
        "{}",
        std::fs::read_to_string(&e).unwrap()
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // The root's manifest is gone: `--resume` says what is missing.
    std::fs::remove_file(&root).unwrap();
    let data = home.join(".local/share/theater-supervisor");
    let out = Command::new(cli_bin())
        .args(["run", "--resume", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing resumed: the stored tree could not be brought back")
            && stderr.contains("root.toml"),
        "{stderr}"
    );
    println!(
        "small CLI faults: unwritable --events refused at start, empty THEATER_DATA_DIR ignored, a missing root manifest named on --resume"
    );
}

#[test]
fn a_run_with_a_store_ends_without_an_error_line() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(cli_bin())
        .args(["run"])
        .arg(repo_root().join("demo/root.toml"))
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("ERROR"),
        "the demo with a store logs no error: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_store_a_dropped_record_is_named_not_unknown() {
    let h = Harness::start_with(
        SystemConfig {
            retain_stopped: 2,
            ..SystemConfig::default()
        },
        "",
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = h.spawn("counter.toml", None).await;
        assert_eq!(h.cmd(&["stop", &id]).await, "ok");
        ids.push(id);
    }
    for verb in ["state", "events", "restart"] {
        let r = h.cmd(&[verb, &ids[0]]).await;
        assert!(
            r.contains("was dropped from memory") && r.contains("retain_stopped"),
            "{verb} of a dropped record: {r}"
        );
    }
    // The newest ended records are still there.
    assert!(h.cmd(&["state", &ids[4]]).await.starts_with("ok"));
    let file = h.system.export_events();
    assert_eq!(file.dropped_actors, 3, "the events file says what it lacks");
    println!(
        "no store, retain_stopped = 2: 3 dropped records named as dropped; the events file counts them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_store_a_record_dropped_from_memory_is_read_back_and_restarted() {
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(data.path(), Durability::Process).unwrap());
    let h = Harness::start_with(
        SystemConfig {
            retain_stopped: 2,
            storage: Some(store.clone() as Arc<dyn Storage>),
            ..SystemConfig::default()
        },
        "",
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = h.spawn("counter.toml", None).await;
        assert_eq!(
            h.cmd(&["request", &id, &format!("add {i}")]).await,
            format!("ok {i}")
        );
        assert_eq!(h.cmd(&["stop", &id]).await, "ok");
        ids.push(id);
    }
    assert!(h.system.actor(&ids[0]).is_none(), "dropped from memory");
    assert_eq!(h.cmd(&["state", &ids[3]]).await, "ok some 3");
    // Restarted from the store's record: fresh (start arguments), same id, the chain goes on.
    assert_eq!(h.cmd(&["restart", &ids[3]]).await, "ok");
    assert_eq!(h.cmd(&["request", &ids[3], "inc"]).await, "ok 1");
    let chain = h.system.chain(&ids[3]).unwrap();
    theater_supervisor::chain::verify(&chain, None).unwrap();
    assert_eq!(
        chain
            .iter()
            .filter(|e| e.event_type == "lifecycle.start")
            .count(),
        2,
        "one chain: the first start and the restart"
    );
    // Read back once: a second restart restarts the live one.
    assert_eq!(h.cmd(&["restart", &ids[1]]).await, "ok");
    assert_eq!(h.cmd(&["restart", &ids[1]]).await, "ok");
    assert_eq!(h.cmd(&["list"]).await, format!("ok {},{}", ids[3], ids[1]));
    h.system.shutdown().await;
    store.close();
    let store = SqliteStore::open_read_only(data.path()).unwrap();
    for id in [&ids[1], &ids[3]] {
        let stored = store.events(id, 0).unwrap();
        theater_supervisor::chain::verify(&stored, None).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_that_loads_a_changed_component_refuses_messages_it_cannot_take() {
    let h = Harness::start().await;
    let wasm = h.fx.dir().join("swappable.wasm");
    std::fs::copy(component("counter"), &wasm).unwrap();
    h.fx.write(
        "swappable.toml",
        format!(
            "name = \"swappable\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n",
            wasm.display()
        ),
    );
    let kid = h.spawn("swappable.toml", None).await;
    assert!(h.system.request(&kid, b"inc".to_vec()).await.is_ok());
    // The component file changes (a deploy); the restart loads the new one, which takes no
    // messages: sends are refused with a clear error, nothing panics.
    std::fs::copy(component("silent"), &wasm).unwrap();
    assert_eq!(h.cmd(&["restart", &kid]).await, "ok");
    let e = h
        .system
        .send(&kid, b"inc".to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not accept messages"), "{e}");
    let e = h
        .system
        .request(&kid, b"inc".to_vec())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not accept messages"), "{e}");
    assert_eq!(h.cmd(&["stop", &kid]).await, "ok", "the child is healthy");
}
