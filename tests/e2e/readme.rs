//! The README's walkthroughs, run as written, so the README cannot drift from the code.
//!
//! Every `console`, `sh` and Rust block of README.md is run, compiled or compared, unless an HTML
//! comment right before it says why not. The comments (`<!-- readme-test: ... -->`):
//!
//! - `skip: REASON`: not run (the reason is required).
//! - `session empty` / `session checkout`: starts a shell session in a new empty directory, or in
//!   a sandbox of this checkout (its files linked, `demo/` copied, `target/` fresh but for the
//!   built `adapter/` and `actors/`), and runs this block in it. Unmarked `console` blocks after it
//!   run in the same session. Add `unordered` to compare a block's output in any line order.
//! - `file PATH`: the block is the file PATH of the session's directory, as it is now.
//! - `guest sdk`: the Rust block is a supervisor built with the guest SDK: it is built as one
//!   (in a generated project) and composed with the adapter.
//! - `doctest FILE`: the Rust block is a doc test of FILE (compiled by `cargo test --doc`).
//!
//! In a `console` block, `$ ` starts a command (run with `bash -c`, stdout and stderr merged, the
//! CLI on `PATH` as `just install` puts it); the lines after it are its output. In the output,
//! `...` stands for any number of lines, `[..]` for any text within a line, `^C` for Ctrl-C (SIGINT
//! to the command once the output before it has appeared; it must then exit 130), a last line
//! `[exit N]` for a failing exit status. Ids, 8-digit short ids, durations and the checkout's path
//! are masked on both sides. `cd DIR` changes the session's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;
use theater_supervisor_e2e::shell::UserShell;
use theater_supervisor_e2e::*;

/// Longest a command may run (a cold guest build is minutes on a loaded 2-core machine).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    text: String,
    directive: Option<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut directive: Option<(usize, String)> = None;
    let mut lines = readme.lines().enumerate();
    while let Some((i, l)) = lines.next() {
        if let Some(d) = l
            .trim()
            .strip_prefix("<!-- readme-test:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            assert!(
                directive.is_none(),
                "README.md:{}: two directives in a row",
                i + 1
            );
            directive = Some((i + 1, d.trim().to_string()));
            continue;
        }
        if let Some(info) = l.strip_prefix("```") {
            let lang = info
                .split([',', ' '])
                .next()
                .unwrap_or_default()
                .to_string();
            let mut text = Vec::new();
            for (_, l) in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                text.push(l);
            }
            out.push(Block {
                line: i + 1,
                lang,
                text: text.join("\n"),
                directive: directive.take().map(|(_, d)| d),
            });
            continue;
        }
        if let Some((at, d)) = &directive {
            assert!(
                l.trim().is_empty(),
                "README.md:{at}: `{d}` is not followed by a code block"
            );
        }
    }
    out
}

/// Varying output made equal: the checkout's path, UUIDs, 8-hex-digit short ids, numbers
/// followed by a time unit.
fn mask(line: &str) -> String {
    let root = repo_root();
    let line = line.replace(&*root.to_string_lossy(), "<checkout>");
    let chars: Vec<char> = line.trim_end().chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let boundary = i == 0 || !word(chars[i - 1]);
        let hex_run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() || **c == '-')
            .count();
        let run: String = chars[i..i + hex_run].iter().collect();
        let after = chars.get(i + hex_run).copied();
        if boundary && hex_run > 0 && !after.is_some_and(word) {
            let parts: Vec<usize> = run.split('-').map(str::len).collect();
            if parts == [8, 4, 4, 4, 12] {
                out.push_str("<uuid>");
                i += hex_run;
                continue;
            }
            if parts[0] == 8 {
                out.push_str("<id>");
                i += 8;
                continue;
            }
        }
        if boundary && chars[i].is_ascii_digit() {
            let n = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == '.')
                .count();
            let rest: String = chars[i + n..].iter().collect();
            let unit = rest.trim_start_matches(' ');
            let is_time = ["ms", "µs", "s"].iter().any(|u| {
                unit.strip_prefix(u)
                    .is_some_and(|after| !after.chars().next().is_some_and(word))
            });
            if is_time {
                out.push_str("<n>");
                i += n;
                continue;
            }
            out.extend(&chars[i..i + n]);
            i += n;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn line_matches(expected: &str, actual: &str) -> bool {
    if !expected.contains("[..]") {
        return expected == actual;
    }
    let pieces: Vec<&str> = expected.split("[..]").collect();
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !actual.starts_with(first)
        || actual.len() < first.len() + last.len()
        || !actual.ends_with(last)
    {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for p in &pieces[1..pieces.len() - 1] {
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `expected` (with `...` lines) matches all of `actual`.
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    // ok[i][j]: expected[i..] matches actual[j..].
    let (n, m) = (expected.len(), actual.len());
    let mut ok = vec![vec![false; m + 1]; n + 1];
    ok[n][m] = true;
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            ok[i][j] = if expected[i] == "..." {
                ok[i + 1][j] || (j < m && ok[i][j + 1])
            } else {
                j < m && line_matches(&expected[i], &actual[j]) && ok[i + 1][j + 1]
            };
        }
    }
    ok[0][0]
}

/// A shell session: a user's shell and the directory it is in.
struct Session {
    shell: UserShell,
    cwd: PathBuf,
}

impl Session {
    fn empty() -> Self {
        let shell = UserShell::new();
        let cwd = shell.dir().join("work");
        std::fs::create_dir(&cwd).unwrap();
        Self { shell, cwd }
    }

    /// This checkout, its files linked (read-only use), `demo/` copied (its manifests point into
    /// the sandbox's own `target/`), `target/` fresh but for links to the built guests.
    fn checkout() -> Self {
        let shell = UserShell::new();
        let cwd = shell.dir().join("checkout");
        let root = repo_root();
        std::fs::create_dir(&cwd).unwrap();
        for entry in std::fs::read_dir(&root).unwrap() {
            let name = entry.unwrap().file_name();
            match name.to_str() {
                Some("target" | ".git") => {}
                Some("demo") => copy_dir(&root.join("demo"), &cwd.join("demo")),
                _ => std::os::unix::fs::symlink(root.join(&name), cwd.join(&name)).unwrap(),
            }
        }
        std::fs::create_dir(cwd.join("target")).unwrap();
        for built in ["adapter", "actors"] {
            std::os::unix::fs::symlink(
                root.join("target").join(built),
                cwd.join("target").join(built),
            )
            .unwrap();
        }
        Self { shell, cwd }
    }

    fn run_console(&mut self, block: &Block, unordered: bool) {
        let mut commands: Vec<(String, Vec<String>)> = Vec::new();
        for l in block.text.lines() {
            if let Some(cmd) = l.strip_prefix("$ ") {
                commands.push((cmd.to_string(), Vec::new()));
            } else {
                let (_, out) = commands.last_mut().unwrap_or_else(|| {
                    panic!(
                        "README.md:{}: output before the first `$ ` command",
                        block.line
                    )
                });
                out.push(l.to_string());
            }
        }
        for (cmd, expected) in commands {
            self.run(block.line, &cmd, &expected, unordered);
        }
    }

    fn run(&mut self, at: usize, cmd: &str, expected: &[String], unordered: bool) {
        if let Some(dir) = cmd.strip_prefix("cd ") {
            self.cwd = self.cwd.join(dir).canonicalize().unwrap_or_else(|e| {
                panic!("README.md:{at}: `{cmd}`: {e}");
            });
            assert!(
                expected.is_empty(),
                "README.md:{at}: `{cmd}` prints nothing"
            );
            return;
        }
        let mut expected: Vec<String> = expected.iter().map(|l| mask(l)).collect();
        let mut want_code = 0;
        if let Some(code) = expected
            .last()
            .and_then(|l| l.strip_prefix("[exit "))
            .and_then(|l| l.strip_suffix(']'))
        {
            want_code = code.parse().expect("[exit N]");
            expected.pop();
        }
        let interrupt = expected.iter().position(|l| l == "^C");
        let mut run = self.shell.start(cmd, &self.cwd);
        if let Some(k) = interrupt {
            let before = expected[..k].to_vec();
            run.wait_for(
                &format!("the output before ^C (README.md:{at})"),
                COMMAND_TIMEOUT,
                |out| {
                    let masked: Vec<String> = out.iter().map(|l| mask(l)).collect();
                    lines_match(&before, &masked)
                },
            );
            run.signal("INT");
            expected.remove(k);
            want_code = 130;
        }
        let (code, output) = run.finish(COMMAND_TIMEOUT);
        let actual: Vec<String> = output.iter().map(|l| mask(l)).collect();
        let ok = if unordered {
            // Each expected line takes one actual line it matches; none may be left over.
            let mut left = actual.clone();
            let all = expected.iter().all(|e| {
                let hit = left.iter().position(|a| line_matches(e, a));
                hit.map(|i| left.remove(i)).is_some()
            });
            all && left.is_empty()
        } else {
            lines_match(&expected, &actual)
        };
        assert!(
            ok && code == Some(want_code),
            "README.md:{at}: `{cmd}` (exit {code:?}, expected {want_code}) printed (masked):\n{}\n\nbut the README says:\n{}\n",
            actual.join("\n"),
            expected.join("\n")
        );
    }

    /// A `sh` block in a session: run as one script, it must succeed.
    fn run_script(&self, block: &Block) {
        let script = format!("set -euo pipefail\n{}", block.text);
        let (code, output) = self.shell.start(&script, &self.cwd).finish(COMMAND_TIMEOUT);
        assert_eq!(
            code,
            Some(0),
            "README.md:{}: the sh block failed:\n{}",
            block.line,
            output.join("\n")
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The block must be the file's text (the checkout's path masked).
fn compare_file(at: usize, block: &Block, path: &Path) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("README.md:{at}: cannot read {}: {e}", path.display()));
    let file: Vec<String> = text.lines().map(mask).collect();
    let shown: Vec<String> = block.text.lines().map(mask).collect();
    if let Some(i) = (0..file.len().max(shown.len())).find(|&i| file.get(i) != shown.get(i)) {
        panic!(
            "README.md:{at}: the block shows {} but differs at its line {}:\n  README: {:?}\n  file:   {:?}\nthe file is:\n{text}",
            path.display(),
            i + 1,
            shown.get(i),
            file.get(i)
        );
    }
}

/// A supervisor written with the SDK: generated as a project, its code replaced by the block,
/// built and composed by the project's `build.sh`.
fn build_sdk_guest(at: usize, block: &Block) {
    let mut s = Session::empty();
    s.run(
        at,
        "theater-supervisor new readme-guest --template supervisor >/dev/null",
        &[],
        false,
    );
    std::fs::write(
        s.cwd.join("readme-guest/supervisor/src/lib.rs"),
        &block.text,
    )
    .unwrap();
    s.cwd = s.cwd.join("readme-guest");
    let (code, output) = s.shell.start("./build.sh", &s.cwd).finish(COMMAND_TIMEOUT);
    assert_eq!(
        code,
        Some(0),
        "README.md:{at}: the Rust block does not build as an SDK supervisor:\n{}",
        output.join("\n")
    );
}

/// The block's lines must be a doc test of `file` (its `//!` or `///` lines).
fn check_doctest(at: usize, block: &Block, file: &str) {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    let docs: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("//!").or_else(|| l.strip_prefix("///"))
        })
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect();
    let shown: Vec<&str> = block.text.lines().map(str::trim_end).collect();
    assert!(
        docs.windows(shown.len()).any(|w| w == shown.as_slice()),
        "README.md:{at}: the block is not a doc test of {file} (copy it there, as a `no_run` doc test)"
    );
}

#[test]
fn the_readme_walkthroughs_run_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut session: Option<Session> = None;
    let (mut ran, mut skipped) = (0, Vec::new());
    for block in blocks(&readme) {
        let at = block.line;
        let shell = matches!(block.lang.as_str(), "console" | "sh" | "bash" | "shell");
        let rust = block.lang.starts_with("rust");
        let words: Vec<&str> = block
            .directive
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let unordered = words.contains(&"unordered");
        match words.first().copied() {
            Some("skip:") => {
                assert!(words.len() > 1, "README.md:{at}: `skip:` needs a reason");
                skipped.push(format!(
                    "README.md:{at} ({}): {}",
                    block.lang,
                    words[1..].join(" ")
                ));
                continue;
            }
            Some("session") => {
                session = Some(match words.get(1) {
                    Some(&"empty") => Session::empty(),
                    Some(&"checkout") => Session::checkout(),
                    other => panic!("README.md:{at}: `session {other:?}`: empty or checkout"),
                });
            }
            Some("file") => {
                let s = session
                    .as_ref()
                    .unwrap_or_else(|| panic!("README.md:{at}: `file` outside a session"));
                compare_file(at, &block, &s.cwd.join(words.get(1).expect("file PATH")));
                ran += 1;
                continue;
            }
            Some("guest") => {
                assert!(
                    rust && words.get(1) == Some(&"sdk"),
                    "README.md:{at}: `guest sdk` is for Rust blocks"
                );
                build_sdk_guest(at, &block);
                ran += 1;
                continue;
            }
            Some("doctest") => {
                assert!(rust, "README.md:{at}: `doctest` is for Rust blocks");
                check_doctest(at, &block, words.get(1).expect("doctest FILE"));
                ran += 1;
                continue;
            }
            Some("unordered") | None => {}
            Some(other) => panic!("README.md:{at}: unknown directive `{other}`"),
        }
        if rust {
            panic!(
                "README.md:{at}: a Rust block that is not run: mark it (`guest sdk`, `doctest FILE`, `file PATH` or `skip: REASON`)"
            );
        }
        if !shell {
            continue;
        }
        let s = session.as_mut().unwrap_or_else(|| {
            panic!("README.md:{at}: a {} block outside a session: start one (`session empty|checkout`) or mark it `skip: REASON`", block.lang)
        });
        if block.lang == "console" {
            s.run_console(&block, unordered);
        } else {
            s.run_script(&block);
        }
        ran += 1;
    }
    println!(
        "README.md: {ran} blocks run or compared; {} not run:",
        skipped.len()
    );
    for s in &skipped {
        println!("  {s}");
    }
    assert!(ran > 0);
}

#[test]
fn masks_and_wildcards() {
    assert_eq!(
        mask("[shop 1e8983ae] root 1e8983ae-dbec-49ae-820d-d0c645e4404f in 50.95s, 4 ms"),
        "[shop <id>] root <uuid> in <n>s, <n> ms"
    );
    assert_eq!(
        mask("12 chain events, 85 events"),
        "12 chain events, 85 events"
    );
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(lines_match(
        &e(&["a", "...", "d"]),
        &e(&["a", "b", "c", "d"])
    ));
    assert!(lines_match(&e(&["a", "...", "d"]), &e(&["a", "d"])));
    assert!(!lines_match(&e(&["a", "d"]), &e(&["a", "b", "d"])));
    assert!(line_matches(
        "event store: [..]/events.db",
        "event store: /tmp/x/events.db"
    ));
    assert!(!line_matches(
        "event store: [..]/events.db",
        "event store: /tmp/x/db"
    ));
}
