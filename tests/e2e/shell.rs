//! Running commands as a user would in a terminal, for the template and README tests: `bash -c`
//! in a directory, stdout and stderr merged into one stream of lines, the installed CLI on
//! `PATH`, signals sent to the command's process group (what Ctrl-C does).

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The target directory every generated guest project builds into (`CARGO_TARGET_DIR`): the
/// guest SDK workspace's own (`guest-adapter/target`, warm after `just compose`, which
/// `just test` runs first). Generated projects use the SDK's release profile and lock file, so
/// cargo reuses the SDK's dependencies (wit-bindgen and its proc macros) from there instead of
/// compiling them per test (a cold build is minutes, a warm one seconds). Tests give their
/// projects distinct names: two projects with one crate name would share one output file.
pub fn guest_target_dir() -> PathBuf {
    crate::repo_root().join("guest-adapter/target")
}

/// A user's shell: a home for the `theater-supervisor` on `PATH`, an own data directory.
pub struct UserShell {
    tmp: tempfile::TempDir,
}

impl Default for UserShell {
    fn default() -> Self {
        Self::new()
    }
}

impl UserShell {
    /// `bin/theater-supervisor` (the CLI built for this test run, as `just install` would put it
    /// on `PATH`) and an empty data directory, in a fresh temporary directory.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        std::os::unix::fs::symlink(crate::cli_bin(), bin.join("theater-supervisor"))
            .expect("link the CLI");
        Self { tmp }
    }

    /// The temporary directory (for anything the test wants to put next to the shell's).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `bash -c SCRIPT` in `cwd`: the CLI, `~/.cargo/bin` (wasm-tools, wac, just) and the rest of
    /// `PATH`; `THEATER_DATA_DIR` private to this shell; guest builds in [`guest_target_dir`].
    pub fn command(&self, script: &str, cwd: &Path) -> Command {
        let cargo_bin = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .map(|c| c.join("bin"))
            .unwrap_or_default();
        let mut path = vec![self.tmp.path().join("bin"), cargo_bin];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(script)
            .current_dir(cwd)
            .env("PATH", std::env::join_paths(path).expect("PATH"))
            .env("THEATER_DATA_DIR", self.tmp.path().join("data"))
            .env("CARGO_TARGET_DIR", guest_target_dir())
            .env_remove("THEATER_CHECKOUT")
            .env_remove("THEATER_SUPERVISOR")
            .stdin(Stdio::null());
        c
    }

    /// Starts `script` in `cwd` with its output streamed (see [`Running`]).
    pub fn start(&self, script: &str, cwd: &Path) -> Running {
        Running::start(self.command(script, cwd), script)
    }
}

/// A command running in its own process group, its stdout and stderr merged into lines.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    /// Every line so far.
    pub output: Vec<String>,
    what: String,
}

impl Running {
    /// Spawns `cmd` (`what` names it in failure messages).
    pub fn start(mut cmd: Command, what: &str) -> Self {
        let (reader, writer) = std::io::pipe().expect("pipe");
        cmd.stdout(writer.try_clone().expect("pipe"))
            .stderr(writer)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
        // The write ends live on only in the child: EOF once it (and its children) are done.
        drop(cmd);
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            output: Vec::new(),
            what: what.to_string(),
        }
    }

    /// Reads lines until `done(&output)` holds; panics with the output after `timeout` or at
    /// the end of the output.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&self.output) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.output.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    self.signal("KILL");
                    panic!(
                        "`{}`: no {what} within {timeout:?}; output:\n{}",
                        self.what,
                        self.output.join("\n")
                    );
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "`{}` ended before {what}; output:\n{}",
                    self.what,
                    self.output.join("\n")
                ),
            }
        }
    }

    /// Reads lines until one contains `needle`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) {
        self.wait_for(&format!("line with `{needle}`"), timeout, |out| {
            out.iter().any(|l| l.contains(needle))
        });
    }

    /// Sends `SIG` (`INT`, `TERM`, `KILL`) to the command's process group, as a terminal's
    /// Ctrl-C does.
    pub fn signal(&self, sig: &str) {
        let group = format!("-{}", self.child.id());
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), "--", &group])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill -{sig} {group} failed");
    }

    /// Reads the rest of the output and waits for the exit; its status code (`None`: killed by
    /// a signal). Panics (after a SIGKILL) if it takes longer than `timeout`.
    pub fn finish(mut self, timeout: Duration) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.output.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.signal("KILL");
                    panic!(
                        "`{}` did not finish within {timeout:?}; output:\n{}",
                        self.what,
                        self.output.join("\n")
                    );
                }
            }
        }
        let status = self.child.wait().expect("wait");
        (status.code(), std::mem::take(&mut self.output))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked midway leaves nothing running.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
    }
}
