//! The host killed with SIGKILL at random moments: every stored chain still verifies, every
//! event the durability promise covers is stored, and `run --data DIR --resume` brings the
//! tree back with the same ids, each child from its last stored state, parents told. The same
//! rounds run on a SQLite store and on a shared PostgreSQL store (`run --store URL`, resumed by
//! `run --store URL --resume` once the killed host's lease expired).

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::Duration;
use theater_supervisor::ActorStatus;
use theater_supervisor::chain::verify;
use theater_supervisor::store::{PostgresStore, SqliteStore, Storage};
use theater_supervisor_e2e::*;

use crate::cli_run::{is_live, launch, messages, wait_for};

/// Where the killed host's events go.
enum Backend {
    /// `run --data DIR`.
    Sqlite(std::path::PathBuf),
    /// `run --store URL` with a short lease, so the next run can take the tree over soon.
    Postgres(String),
}

/// The lease of the PostgreSQL runs.
const LEASE_MS: u64 = 400;

impl Backend {
    fn store_args(&self) -> Vec<String> {
        match self {
            Self::Sqlite(d) => vec!["--data".into(), d.display().to_string()],
            Self::Postgres(url) => vec![
                "--store".into(),
                url.clone(),
                "--host-id".into(),
                "crash-host".into(),
                "--lease-ms".into(),
                LEASE_MS.to_string(),
            ],
        }
    }

    fn open(&self) -> Box<dyn Storage> {
        match self {
            Self::Sqlite(d) => {
                Box::new(SqliteStore::open_read_only(d).expect("open the store after a kill"))
            }
            Self::Postgres(url) => {
                Box::new(PostgresStore::open_read_only(url).expect("open the store after a kill"))
            }
        }
    }
}

fn kills(default: usize) -> usize {
    std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_at_random_moments_loses_nothing_durable_and_resume_brings_the_tree_back() {
    let fx = Fixture::new();
    let data = fx.dir().join("data");
    crash_rounds(&fx, Backend::Sqlite(data), kills(12));
}

#[test]
fn sigkill_at_random_moments_on_postgresql_loses_nothing_and_resume_takes_the_tree_over() {
    let Some(db) = crate::shared_store::Db::new("crash") else {
        return;
    };
    let fx = Fixture::new();
    crash_rounds(&fx, Backend::Postgres(db.url()), kills(6));
}

fn crash_rounds(fx: &Fixture, backend: Backend, kills: usize) {
    // The seed is printed so a failing run can be replayed with `CRASH_SEED=<seed>`.
    let (mut rng, seed) = Rng::from_env("CRASH_SEED");
    fx.manifest("worker.toml", "counter", &["message-server"]);
    fx.write("root.state", "fresh worker.toml 3");
    fx.manifest_with(
        "root.toml",
        "steady",
        &["supervisor", "message-server"],
        "init_state = \"root.state\"",
        "",
    );
    let store_args = backend.store_args();
    let root_manifest = fx.dir().join("root.toml");
    let mut restarted_lines: HashMap<String, u32> = HashMap::new();
    let mut durable_checked = 0usize;
    let mut resumed_total = 0usize;
    let mut root_id: Option<String> = None;
    let mut expected: Option<BTreeSet<String>> = None;
    let mut kill_points = Vec::new();
    for round in 0..=kills {
        let out = fx.dir().join(format!("run{round}.out"));
        let err = fx.dir().join(format!("run{round}.err"));
        let mut args = vec!["run".to_string()];
        match &expected {
            None => args.push(root_manifest.display().to_string()),
            Some(_) => {
                args.push("--resume".into());
                if let Backend::Postgres(_) = backend {
                    // The killed host's lease must expire before another run may take over.
                    std::thread::sleep(Duration::from_millis(LEASE_MS + 300));
                }
            }
        }
        args.extend(store_args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = launch(&args, &out, &err);
        if let Some(expected) = &expected {
            // Parents are told: the root logs `recovered <id>` for every child brought back.
            let children: Vec<String> = expected
                .iter()
                .filter(|id| Some(*id) != root_id.as_ref())
                .cloned()
                .collect();
            wait_for(&mut child, &out, &err, "every child recovered", |m| {
                children
                    .iter()
                    .all(|c| m.iter().any(|l| *l == format!("recovered {c}")))
            });
            if let Backend::Sqlite(_) = backend {
                // The CLI prints the ids once `resume` returned (the callbacks may come first).
                let mut stderr = String::new();
                for _ in 0..6000 {
                    stderr = std::fs::read_to_string(&err).unwrap();
                    if stderr.contains("\nresumed ") || stderr.starts_with("resumed ") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let line = stderr
                    .lines()
                    .find(|l| l.starts_with("resumed "))
                    .unwrap_or_else(|| panic!("no `resumed` line:\n{stderr}"));
                let ids: BTreeSet<String> = line
                    .split_once(": ")
                    .map(|(_, ids)| ids.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                assert_eq!(&ids, expected, "round {round}: resumed set (same ids)");
                resumed_total += ids.len();
            } else {
                let stderr = std::fs::read_to_string(&err).unwrap();
                assert!(
                    stderr.contains("took over tree "),
                    "round {round}:\n{stderr}"
                );
                resumed_total += expected.len();
            }
            assert!(
                messages(&out)
                    .iter()
                    .any(|l| l.starts_with("resumed at tick")),
                "the root's init got its stored state"
            );
        }
        if round == kills {
            // The last run ends gracefully: Ctrl-C stops the tree, exit 130.
            wait_for(&mut child, &out, &err, "a tick", |m| {
                m.iter().any(|l| l.starts_with("tick "))
            });
            let ok = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok);
            let status = child.wait().unwrap();
            assert_eq!(
                status.code(),
                Some(130),
                "graceful stop after the last resume"
            );
            break;
        }
        wait_for(&mut child, &out, &err, "a tick", |m| {
            m.iter().any(|l| l.starts_with("tick "))
        });
        let delay = Duration::from_millis(rng.next_u64() % 400);
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        kill_points.push(delay.as_millis());

        // Every stored chain verifies and matches the stored event count.
        let store = backend.open();
        let actors = store.actors().unwrap();
        let mut chains = HashMap::new();
        for a in &actors {
            let events = store.events(&a.id, 0).unwrap();
            verify(&events, None)
                .unwrap_or_else(|e| panic!("round {round}: chain of {} ({}): {e}", a.id, a.name));
            assert_eq!(a.next_index, events.len() as u64);
            let types: Vec<String> = events.into_iter().map(|e| e.event_type).collect();
            chains.insert(a.id.clone(), (a.status, a.restarts, types));
        }
        if root_id.is_none() {
            root_id = actors
                .iter()
                .find(|a| a.parent.is_none())
                .map(|a| a.id.clone());
        }
        // The durability promise: what an operation recorded is stored once it returned.
        for m in messages(&out) {
            let (verb, id) = match m.split_once(' ') {
                Some((v, id)) if ["spawned", "stopped", "restarted"].contains(&v) => (v, id),
                _ => continue,
            };
            let (status, restarts, types) = chains
                .get(id)
                .unwrap_or_because(|| format!("round {round}: `{m}` logged but {id} not stored"));
            let has = |t: &str| types.iter().any(|x| x == t);
            match verb {
                "spawned" => assert!(has("lifecycle.running"), "round {round}: {m}: {types:?}"),
                "stopped" => {
                    assert!(has("lifecycle.stopped"), "round {round}: {m}: {types:?}");
                    assert_eq!(*status, ActorStatus::Stopped, "round {round}: {m}");
                }
                _ => {
                    let n = restarted_lines.entry(id.to_string()).or_default();
                    *n += 1;
                    assert!(has("lifecycle.restart"), "round {round}: {m}: {types:?}");
                    assert!(*restarts >= *n, "round {round}: {m}: {restarts} < {n}");
                }
            }
            durable_checked += 1;
        }
        let live: BTreeSet<String> = actors
            .iter()
            .filter(|a| is_live(a.status, a.restarts))
            .map(|a| a.id.clone())
            .collect();
        assert!(
            root_id.as_ref().is_some_and(|r| live.contains(r)),
            "round {round}: the root was running when killed"
        );
        expected = Some(live);
    }
    // After the graceful stop everything verifies through the CLI too, and nothing is live.
    let verify_args: Vec<&str> = store_args.iter().take(2).map(String::as_str).collect();
    let verify_out = Command::new(cli_bin())
        .arg("verify")
        .args(&verify_args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify_out.stdout);
    assert!(
        verify_out.status.success() && text.starts_with("ok:"),
        "{text}"
    );
    let store = backend.open();
    let live: Vec<_> = store
        .actors()
        .unwrap()
        .into_iter()
        .filter(|a| is_live(a.status, a.restarts))
        .collect();
    assert!(live.is_empty(), "live after Ctrl-C: {live:?}");
    println!(
        "crash test ({}): {kills} random kill points (seed {seed}, after {kill_points:?} ms of steady work), \
         {durable_checked} durable operations checked, {resumed_total} actors resumed; {}",
        match backend {
            Backend::Sqlite(_) => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        },
        text.trim()
    );
}

trait OrBecause<T> {
    fn unwrap_or_because(self, why: impl FnOnce() -> String) -> T;
}

impl<T> OrBecause<T> for Option<T> {
    fn unwrap_or_because(self, why: impl FnOnce() -> String) -> T {
        self.unwrap_or_else(|| panic!("{}", why()))
    }
}
