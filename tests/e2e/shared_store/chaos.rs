//! Randomized rounds over three hosts on one PostgreSQL store: each round SIGKILLs or SIGSTOPs
//! (past the lease, then SIGCONT) a random host, mostly the one owning the tree, and brings it
//! back as a standby. After every round: every stored chain verifies, no event with an older
//! epoch landed after a newer epoch's first, and the tree ticks on exactly one host, the lease's
//! owner. At the end every operation any host acknowledged is in the store. The seed is printed
//! (`THEATER_CHAOS_SEED` replays it, `THEATER_CHAOS_ROUNDS` sets the rounds, default 4).

use super::*;
use std::path::PathBuf;
use std::process::Child;

/// A host process and the output files of its current run.
struct Host {
    id: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
    runs: usize,
}

const LEASE_MS: &str = "1000";

/// Every host process still running is killed when the test ends, passing or not (a panic
/// would otherwise leave them running, a paused one holding database locks).
impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str, dir: &Path, id: &str, runs: usize, what: &[&str]) -> Host {
    let out = dir.join(format!("{id}-{runs}.out"));
    let err = dir.join(format!("{id}-{runs}.err"));
    let child = run_host(url, id, LEASE_MS, what, &out, &err);
    Host {
        id: id.into(),
        child,
        out,
        err,
        runs,
    }
}

fn resumes(out: &Path) -> usize {
    lines_starting(out, "resumed at tick")
}

fn owner(db: &Db) -> String {
    db.sql("SELECT owner FROM leases WHERE NOT ended")
}

/// Waits until a host other than `victim` owns the tree and has resumed it (one more
/// `resumed at tick` line than `before` counted); returns its index.
fn wait_takeover(db: &Db, hosts: &[Host], victim: usize, before: &[usize]) -> usize {
    let t0 = Instant::now();
    loop {
        let o = owner(db);
        if let Some(i) = hosts.iter().position(|h| h.id == o)
            && i != victim
            && resumes(&hosts[i].out) > before[i]
        {
            return i;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no host took the tree over from {} within 30 s (owner now {o:?})",
            hosts[victim].id
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tree ticks on exactly one host, `owner`: it ticks again (within 30 s: a resumed tree
/// on a loaded machine takes a while) and no other host ticks meanwhile or in the half second
/// after.
fn ticks_only_on(hosts: &[Host], owner: usize) {
    let before: Vec<usize> = hosts.iter().map(|h| ticks(&h.out)).collect();
    let others_quiet = |what: &str| {
        for (i, h) in hosts.iter().enumerate() {
            assert!(
                i == owner || ticks(&h.out) == before[i],
                "host {} ticked {what}; the owner is {}",
                h.id,
                hosts[owner].id
            );
        }
    };
    let t0 = Instant::now();
    while ticks(&hosts[owner].out) == before[owner] {
        others_quiet("while the owner had not ticked yet");
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the owner {} did not tick within 30 s",
            hosts[owner].id
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    others_quiet("after the owner ticked");
}

fn check_store(db: &Db, url: &str) {
    let (code, text) = verify_store(url);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        db.sql(
            "SELECT count(*) FROM events a WHERE EXISTS
               (SELECT 1 FROM events b WHERE b.epoch > a.epoch AND b.seq < a.seq)"
        ),
        "0",
        "an event with an older epoch landed after a newer epoch's first event"
    );
}

#[test]
fn random_kills_and_pauses_among_three_hosts_lose_nothing_and_never_split_the_tree() {
    let Some(db) = Db::new("chaos") else {
        return;
    };
    let (mut rng, seed) = Rng::from_env("THEATER_CHAOS_SEED");
    let rounds: usize = std::env::var("THEATER_CHAOS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    println!("chaos: seed {seed} (THEATER_CHAOS_SEED={seed} replays it), {rounds} rounds");
    let fx = Fixture::new();
    let root = steady(&fx);
    let url = db.url();
    let d = fx.dir();
    let mut outs = Vec::new();
    let mut hosts = vec![
        start(&url, d, "host-a", 0, &[root.to_str().unwrap()]),
        start(&url, d, "host-b", 0, &["--standby"]),
        start(&url, d, "host-c", 0, &["--standby"]),
    ];
    {
        let a = &mut hosts[0];
        wait_for(&mut a.child, &a.out, &a.err, "ticks on host A", |m| {
            m.iter().filter(|l| l.starts_with("tick ")).count() >= 10
        });
    }
    let mut owner_ix = 0;
    for round in 1..=rounds {
        // Two times in three the owner, else a standby.
        let victim = if rng.below(3) < 2 {
            owner_ix
        } else {
            (owner_ix + 1 + rng.below(2)) % 3
        };
        let pause = rng.below(2) == 0;
        let was_owner = victim == owner_ix;
        let before: Vec<usize> = hosts.iter().map(|h| resumes(&h.out)).collect();
        let what = if pause { "SIGSTOP" } else { "SIGKILL" };
        let t0 = Instant::now();
        signal(&hosts[victim].child, if pause { "STOP" } else { "KILL" });
        if was_owner {
            owner_ix = wait_takeover(&db, &hosts, victim, &before);
        } else {
            // A standby owns nothing: give the others a lease's time to notice nothing.
            std::thread::sleep(Duration::from_millis(1_200));
        }
        let moved = t0.elapsed();
        let v = &mut hosts[victim];
        let restart = match (pause, was_owner) {
            // Woken, it finds its lease lost and drops its copy, writing nothing more: `run`
            // with a manifest then exits 4; a standby goes on watching.
            (true, true) => {
                signal(&v.child, "CONT");
                if v.runs == 0 && v.id == "host-a" {
                    let status = wait_exit(&mut v.child, &v.err, Duration::from_secs(30));
                    assert_eq!(
                        status.code(),
                        Some(4),
                        "{} after SIGCONT:\n{}",
                        v.id,
                        std::fs::read_to_string(&v.err).unwrap_or_default()
                    );
                    true
                } else {
                    let t0 = Instant::now();
                    while !std::fs::read_to_string(&v.err)
                        .unwrap_or_default()
                        .contains("lease lost")
                    {
                        assert!(
                            v.child.try_wait().unwrap().is_none(),
                            "standby {} exited after SIGCONT:\n{}",
                            v.id,
                            std::fs::read_to_string(&v.err).unwrap_or_default()
                        );
                        assert!(
                            t0.elapsed() < Duration::from_secs(30),
                            "standby {} never noticed its lease was lost",
                            v.id
                        );
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    false
                }
            }
            // A paused standby goes on watching.
            (true, false) => {
                signal(&v.child, "CONT");
                false
            }
            (false, _) => {
                let _ = v.child.wait();
                true
            }
        };
        let id = v.id.clone();
        if restart {
            outs.push(v.out.clone());
            let runs = v.runs + 1;
            hosts[victim] = start(&url, d, &id, runs, &["--standby"]);
        }
        println!(
            "round {round}: {what} {id} ({}); the tree is on {} ({} ms after the signal)",
            if was_owner { "the owner" } else { "a standby" },
            hosts[owner_ix].id,
            moved.as_millis()
        );
        assert_eq!(owner(&db), hosts[owner_ix].id);
        ticks_only_on(&hosts, owner_ix);
        check_store(&db, &url);
    }
    for h in &mut hosts {
        signal(&h.child, "INT");
    }
    for h in &mut hosts {
        let status = wait_exit(&mut h.child, &h.err, Duration::from_secs(60));
        assert!(
            matches!(status.code(), Some(130) | Some(0)),
            "{}: {status:?}",
            h.id
        );
        outs.push(h.out.clone());
    }
    check_store(&db, &url);
    let store = PostgresStore::open_read_only(&url).unwrap();
    let acked = check_acknowledged_in(&outs, &store);
    println!("chaos: {rounds} rounds, {acked} acknowledged operations, all in the store");
}
