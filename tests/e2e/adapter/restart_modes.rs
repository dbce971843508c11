//! Restart mode `resume`: a restarted child continues from its last state (something no OTP
//! supervisor can do); and the per-child shutdown timeout.

use super::{Tree, child};
use theater_supervisor_e2e::{call_started, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_mode_child_restarts_from_its_last_state() {
    let t = Tree::new();
    let cfg = format!(
        "{}{}",
        child("r", "permanent resume bytes=10"),
        child("f", "permanent fresh bytes=10")
    );
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    for name in ["r", "f"] {
        assert_eq!(t.req(&sup, &format!("ask {name} inc")).await, "ok 11");
        assert_eq!(t.req(&sup, &format!("ask {name} inc")).await, "ok 12");
    }
    let old = t.child(&sup, "r").await;
    t.send_to_child(&sup, "r", "fail").await;
    t.send_to_child(&sup, "f", "fail").await;
    t.wait_event(&sup, "event error r restarted:r", 1).await;
    t.wait_event(&sup, "event error f restarted:f", 1).await;

    assert_eq!(
        t.req(&sup, "ask r get").await,
        "ok 12",
        "resumed from its last state"
    );
    assert_eq!(
        t.req(&sup, "ask f get").await,
        "ok 10",
        "fresh: its start bytes again"
    );
    let new = t.child(&sup, "r").await;
    assert_ne!(new.id, old.id, "a resumed child is a new actor");
    assert_eq!((new.status.as_str(), new.restarts), ("running", 1));
    // The adapter used the raw `resume` with the saved state.
    let parent_events = t.chain_types(&sup);
    assert!(parent_events.contains(&"supervisor.resume".to_string()));

    // terminate-child + restart-child resumes too.
    assert_eq!(t.req(&sup, "ask r inc").await, "ok 13");
    assert_eq!(t.req(&sup, "terminate r").await, "ok");
    assert_eq!(t.child(&sup, "r").await.status, "stopped");
    assert!(t.req(&sup, "restart r").await.starts_with("ok "));
    assert_eq!(t.req(&sup, "ask r get").await, "ok 13");
    assert!(
        t.req(&sup, "restart r")
            .await
            .starts_with("err child `r` is running")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_spec_shutdown_timeout_bounds_how_long_its_stop_waits() {
    let t = Tree::new();
    let cfg = format!("{}{}", child("k", "shutdown=50"), child("g", ""));
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let k = t.child(&sup, "k").await.id;
    let g = t.child(&sup, "g").await.id;
    t.send_to_child(&sup, "k", "loop").await;
    wait_until("k to be looping", || {
        call_started(&t.system, &k, "handle-send")
    })
    .await;
    assert_eq!(t.req(&sup, "terminate k").await, "ok");
    assert_eq!(t.req(&sup, "terminate g").await, "ok");
    // k's own timeout (50 ms, not the host's 5 s) ended its stuck call.
    let killed = t
        .system
        .chain(&k)
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "lifecycle.killed")
        .expect("k was killed");
    assert_eq!(String::from_utf8_lossy(&killed.data), r#"{"after_ms":50}"#);
    assert!(!t.chain_types(&g).contains(&"lifecycle.killed".to_string()));
    assert!(
        t.chain_types(&sup)
            .contains(&"child-control.set-shutdown-timeout".to_string())
    );
    let which = t.which(&sup).await;
    assert!(which.iter().all(|c| c.status == "stopped"), "{which:#?}");
}
