//! Backoff: restarts wait on a host timer (`theater:extension/timer`), never blocking the
//! parent; delays double per restart. Timings are asserted as ordering and ratios of the event
//! chain's timestamps, never as absolute times.

use super::{Tree, child};
use theater_supervisor::ChainEvent;
use theater_supervisor_e2e::wait_until;

/// Milliseconds between each `lifecycle.failed` and the `lifecycle.restart` after it.
fn failure_to_restart(chain: &[ChainEvent]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut failed_at = None;
    for e in chain {
        match e.event_type.as_str() {
            "lifecycle.failed" => failed_at = Some(e.timestamp),
            "lifecycle.restart" => {
                if let Some(f) = failed_at.take() {
                    out.push(e.timestamp - f);
                }
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_back_off_doubling_while_the_parent_keeps_answering() {
    let t = Tree::new();
    let cfg = format!(
        "strategy one-for-one\nintensity 10 60000\nbackoff 150 2000 0\n{}{}",
        child("a", ""),
        child("b", "")
    );
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let a = t.child(&sup, "a").await.id;

    for (n, delay) in [(1, 150), (2, 300), (3, 600)] {
        t.send_to_child(&sup, "a", "fail").await;
        t.wait_event(&sup, &format!("event error a scheduled:{delay}"), 1)
            .await;
        if n == 3 {
            // While `a` waits for its restart the parent answers requests.
            assert_eq!(t.child(&sup, "a").await.status, "restarting");
            assert_eq!(t.req(&sup, "ping").await, "ok pong");
            assert_eq!(t.req(&sup, "ask b inc").await, "ok 1");
            assert_eq!(t.req(&sup, "count").await, "ok 2 1 1 0 2");
        }
        wait_until("a to be restarted", || {
            t.system.actor(&a).is_some_and(|x| x.restarts == n)
        })
        .await;
    }
    t.wait_status(&a, theater_supervisor::ActorStatus::Running)
        .await;

    let chain = t.system.chain(&a).unwrap();
    let waits = failure_to_restart(&chain);
    assert_eq!(waits.len(), 3, "{waits:?}");
    // A timer never fires early...
    assert!(waits[0] >= 150, "{waits:?}");
    // ...and each wait is about twice the one before.
    for w in waits.windows(2) {
        let ratio = w[1] as f64 / w[0] as f64;
        assert!(
            (1.4..=2.8).contains(&ratio),
            "waits {waits:?}: ratio {ratio}"
        );
    }
    // The parent's chain has the timers.
    let parent = t.chain_types(&sup);
    let count = |ty: &str| parent.iter().filter(|e| *e == ty).count();
    assert_eq!(count("timer.set"), 3, "{parent:?}");
    assert_eq!(count("timer.fired"), 3, "{parent:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_restart_timer_of_a_stopped_parent_is_dropped() {
    let t = Tree::new();
    let cfg = format!("backoff 150 150 0\n{}", child("a", ""));
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    t.send_to_child(&sup, "a", "fail").await;
    t.wait_event(&sup, "event error a scheduled:150", 1).await;
    t.system.stop_actor(&sup).await.unwrap();
    // Well past the delay: the timer fired into a closed mailbox and was dropped.
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    let types = t.chain_types(&sup);
    assert_eq!(types.last().map(String::as_str), Some("lifecycle.stopped"));
    assert!(types.contains(&"timer.set".to_string()));
    assert!(!types.contains(&"timer.fired".to_string()), "{types:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn terminating_a_restarting_child_cancels_its_restart() {
    let t = Tree::new();
    let cfg = format!("backoff 200 200 0\n{}", child("a", ""));
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let a = t.child(&sup, "a").await.id;
    t.send_to_child(&sup, "a", "fail").await;
    t.wait_event(&sup, "event error a scheduled:200", 1).await;
    assert_eq!(t.child(&sup, "a").await.status, "restarting");
    assert_eq!(t.req(&sup, "count").await, "ok 1 0 1 0 1");
    assert_eq!(t.req(&sup, "terminate a").await, "ok");
    // The timer still fires; the adapter ignores it.
    wait_until("the stale timer to fire", || {
        t.chain_types(&sup).contains(&"timer.fired".to_string())
    })
    .await;
    assert_eq!(t.child(&sup, "a").await.status, "stopped");
    assert_eq!(t.system.actor(&a).unwrap().restarts, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_parents_own_timers_fire_in_delay_order_and_reach_its_hook() {
    let t = Tree::new();
    t.supervisor("sup", &child("a", ""));
    let sup = t.start("sup").await;
    assert_eq!(t.req(&sup, "timer 300 late").await, "ok");
    assert_eq!(t.req(&sup, "timer 20 early").await, "ok");
    let events = t.wait_event(&sup, "event timer late -", 1).await;
    assert_eq!(events, ["event timer early -", "event timer late -"]);
    // The host refuses a delay above one day, with a reason.
    let refused = t.req(&sup, "timer 86400001 never").await;
    assert!(
        refused.starts_with("err set-timer: delay of 86400001 ms"),
        "{refused}"
    );
    let types = t.chain_types(&sup);
    assert!(types.contains(&"timer.refused".to_string()), "{types:?}");
}
