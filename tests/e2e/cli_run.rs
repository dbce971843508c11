//! Running the CLI as a real process for the fault tests: launch it with its output in files,
//! read the actors' log lines, wait for a line, send signals, mount small filesystems, and check
//! the durability promise against the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use theater_supervisor::ActorStatus;
use theater_supervisor::store::{SqliteStore, Storage};
use theater_supervisor_e2e::*;

pub fn launch(args: &[&str], out: &Path, err: &Path) -> Child {
    Command::new(cli_bin())
        .args(args)
        .stdout(std::fs::File::create(out).expect("stdout file"))
        .stderr(std::fs::File::create(err).expect("stderr file"))
        .stdin(Stdio::null())
        .spawn()
        .expect("start the CLI")
}

/// The messages of the actors' log lines (`[name id] message`).
pub fn messages(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("] ").map(|(_, m)| m.to_string()))
        .collect()
}

/// Polls until `pred` holds for the run's output (60 s at most: the first start compiles the
/// components in a debug build on a loaded machine).
pub fn wait_for(
    child: &mut Child,
    out: &Path,
    err: &Path,
    what: &str,
    pred: impl Fn(&[String]) -> bool,
) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if pred(&messages(out)) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the CLI exited ({status}) while waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(out).unwrap_or_default(),
                std::fs::read_to_string(err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "timed out waiting for {what}\nstderr:\n{}",
        std::fs::read_to_string(err).unwrap_or_default()
    );
}

pub fn is_live(status: ActorStatus, restarts: u32) -> bool {
    matches!(status, ActorStatus::Running | ActorStatus::Stopping)
        || (status == ActorStatus::Starting && restarts > 0)
}

/// Polls the run's stderr until it contains `text` (`limit` at most); false if it never did
/// or the process exited first.
pub fn wait_stderr(child: &mut Child, err: &Path, text: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_to_string(err)
            .unwrap_or_default()
            .contains(text)
        {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return std::fs::read_to_string(err)
                .unwrap_or_default()
                .contains(text);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Waits for the process to exit (`limit` at most, then kills it and fails).
pub fn wait_exit(child: &mut Child, err: &Path, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!(
        "the CLI did not exit within {limit:?}\nstderr:\n{}",
        std::fs::read_to_string(err).unwrap_or_default()
    );
}

/// Sends a signal (`INT`, `STOP`, `CONT`, `TERM`, ...) to a process.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} {}", child.id());
}

/// Whether this process may mount filesystems (root): the fault tests that need a small or
/// read-only filesystem print why they skip otherwise.
pub fn can_mount() -> Result<(), String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run `id -u`: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Err("not running as root, so no filesystem can be mounted".into());
    }
    Ok(())
}

/// A filesystem mounted for one test, unmounted (lazily) when dropped.
pub struct Mount(pub PathBuf);

impl Mount {
    /// A tmpfs of `size` (e.g. `8m`) at `dir` (created).
    pub fn tmpfs(dir: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        run_mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            dir,
        )?;
        Ok(Self(dir.to_path_buf()))
    }

    /// `src` bind-mounted read-only at `dir` (created).
    pub fn read_only(src: &Path, dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        run_mount(&["--bind", src.to_str().expect("utf-8 path")], dir)?;
        let m = Self(dir.to_path_buf());
        run_mount(&["-o", "remount,bind,ro"], dir)?;
        Ok(m)
    }
}

fn run_mount(args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mount {} {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem holding `dir` with a file until it is full; returns the file.
pub fn fill_up(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("fill");
    let mut f = std::fs::File::create(&path).expect("create the fill file");
    let chunk = vec![0xa5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // Small writes take the last partial blocks.
    while f.write_all(&chunk[..512]).is_ok() {}
    let _ = f.flush();
    path
}

/// The durability promise, checked against the store: every operation the `steady` root
/// logged (`spawned`, `stopped`, `restarted`: logged only after the operation returned) is in
/// it. Returns how many were checked.
pub fn check_acknowledged(outs: &[PathBuf], data: &Path) -> usize {
    let store = SqliteStore::open_read_only(data).expect("open the store");
    let mut chains = HashMap::new();
    for a in store.actors().expect("stored actors") {
        let types: Vec<String> = store
            .events(&a.id, 0)
            .unwrap_or_else(|e| panic!("chain of {}: {e}", a.id))
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        chains.insert(a.id.clone(), (a.status, a.restarts, types));
    }
    let mut restarts: HashMap<String, u32> = HashMap::new();
    let mut checked = 0;
    for out in outs {
        for m in messages(out) {
            let (verb, id) = match m.split_once(' ') {
                Some((v, id)) if ["spawned", "stopped", "restarted"].contains(&v) => (v, id),
                _ => continue,
            };
            let Some((status, stored_restarts, types)) = chains.get(id) else {
                panic!("`{m}` was acknowledged but {id} is not in the store");
            };
            let has = |t: &str| types.iter().any(|x| x == t);
            match verb {
                "spawned" => assert!(has("lifecycle.running"), "{m}: {types:?}"),
                "stopped" => {
                    assert!(has("lifecycle.stopped"), "{m}: {types:?}");
                    assert_eq!(*status, ActorStatus::Stopped, "{m}");
                }
                _ => {
                    let n = restarts.entry(id.to_string()).or_default();
                    *n += 1;
                    assert!(has("lifecycle.restart"), "{m}: {types:?}");
                    assert!(*stored_restarts >= *n, "{m}: {stored_restarts} < {n}");
                }
            }
            checked += 1;
        }
    }
    checked
}

/// `verify --data DIR` through the CLI: (exit code, stdout).
pub fn verify_data(data: &Path) -> (Option<i32>, String) {
    let out = Command::new(cli_bin())
        .args(["verify", "--data"])
        .arg(data)
        .output()
        .expect("run verify");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
