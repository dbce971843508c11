//! CONTRACT §4: callbacks to the parent, queued and delivered after its current call, with the
//! parent's state threaded through each of them.

use std::time::Duration;
use theater_supervisor::{RootOutcome, SystemConfig};
use theater_supervisor_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_reported_as_internal_with_the_trap_text() {
    let h = Harness::start().await;
    let id = h.spawn("trapper.toml", None).await;
    h.cmd(&["send", &id, "boom"]).await;
    let cbs = h
        .wait_callback("error", |l| l.starts_with(&format!("error {id}")))
        .await;
    let line = cbs
        .iter()
        .find(|l| l.starts_with(&format!("error {id}")))
        .unwrap();
    assert!(line.starts_with(&format!("error {id} internal")), "{line}");
    // Guests are built with panic = "abort": the panic becomes wasm `unreachable`.
    assert!(
        line.contains("handle-send trapped") && line.contains("unreachable"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_err_return_is_reported_as_internal_with_the_message() {
    let h = Harness::start().await;
    let id = h.spawn("child.toml", None).await;
    let r = h.cmd(&["request", &id, "fail"]).await;
    assert!(
        r.starts_with("err ") && r.contains("child failing on purpose"),
        "{r}"
    );
    let cbs = h
        .wait_callback("error", |l| l.starts_with(&format!("error {id}")))
        .await;
    assert!(
        cbs.iter()
            .any(|l| l.starts_with(&format!("error {id} internal"))
                && l.contains("child failing on purpose")),
        "{cbs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_overrun_is_reported_as_operation_timeout() {
    let config = SystemConfig {
        call_timeout: Duration::from_millis(300),
        ..SystemConfig::default()
    };
    let h = Harness::start_with(config, "").await;
    let looper = h.spawn("looper.toml", None).await;
    let sibling = h.spawn("child.toml", None).await;
    h.cmd(&["send", &looper, "loop"]).await;
    // The sibling keeps answering while the looper spins.
    assert_eq!(h.cmd(&["request", &sibling, "ping"]).await, "ok pong");
    h.wait_callback("timeout", |l| {
        l.starts_with(&format!("error {looper} operation-timeout"))
    })
    .await;
    assert_eq!(h.cmd(&["list"]).await, format!("ok {sibling}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_data_is_reported_as_exit_with_the_data() {
    let h = Harness::start().await;
    let id = h.spawn("quitter.toml", None).await;
    h.cmd(&["send", &id, "quit goodbye"]).await;
    h.wait_callback("exit", |l| l == format!("exit {id} some goodbye"))
        .await;
    let types = h.event_types(&id);
    assert!(types.contains(&"runtime.shutdown".to_string()), "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("lifecycle.stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_stop_is_reported_as_external_stop() {
    let h = Harness::start().await;
    let id = h.spawn("child.toml", None).await;
    h.system.stop_actor(&id).await.unwrap();
    h.wait_callback("external-stop", |l| l == format!("external-stop {id}"))
        .await;
    assert_eq!(h.cmd(&["list"]).await, "ok ");
    // Stopping the root from outside ends the run as Stopped.
    h.system.stop_actor(&h.root).await.unwrap();
    assert_eq!(h.system.wait_root().await, RootOutcome::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_without_handlers_still_gets_the_event_in_its_chain() {
    let h = Harness::start().await;
    let plain = h.spawn("plain-parent.toml", None).await;
    let r = cmd(&h.system, &plain, &["spawn", "trapper.toml"]).await;
    let kid = r
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    h.system.send(&kid, b"boom".to_vec()).unwrap();
    wait_until("callback recorded in the plain parent's chain", || {
        h.system.chain(&plain).unwrap().iter().any(|e| {
            e.event_type == "callback.not-exported"
                && String::from_utf8_lossy(&e.data).contains(&kid)
        })
    })
    .await;
    assert_eq!(cmd(&h.system, &plain, &["list"]).await, "ok ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_fails_the_parent_and_escalates_to_the_grandparent() {
    let h = Harness::start().await;
    let sub = h.spawn("sub-parent.toml", None).await;
    assert_eq!(
        cmd(&h.system, &sub, &["policy", "fail-on-callback"]).await,
        "ok"
    );
    let r = cmd(&h.system, &sub, &["spawn", "trapper.toml"]).await;
    let kid = r.strip_prefix("ok ").unwrap().to_string();
    h.system.send(&kid, b"boom".to_vec()).unwrap();
    let cbs = h
        .wait_callback("sub failed", |l| {
            l.starts_with(&format!("error {sub} internal"))
        })
        .await;
    assert!(
        cbs.iter()
            .any(|l| l.contains("parent handler failing on purpose")),
        "{cbs:?}"
    );
    assert_eq!(h.cmd(&["list"]).await, "ok ");
    // A trapping handler escalates the same way.
    let sub2 = h.spawn("sub-parent.toml", None).await;
    cmd(&h.system, &sub2, &["policy", "trap-on-callback"]).await;
    let r = cmd(&h.system, &sub2, &["spawn", "quitter.toml"]).await;
    let kid2 = r.strip_prefix("ok ").unwrap().to_string();
    h.system.send(&kid2, b"quit".to_vec()).unwrap();
    h.wait_callback("sub2 failed", |l| {
        l.starts_with(&format!("error {sub2} internal"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_thread_the_parent_state_and_arrive_once_each() {
    let h = Harness::start().await;
    let a = h.spawn("trapper.toml", None).await;
    let b = h.spawn("quitter.toml", None).await;
    let c = h.spawn("child.toml", None).await;
    h.cmd(&["send", &a, "boom"]).await;
    h.cmd(&["send", &b, "quit bye"]).await;
    h.cmd(&["stop", &c]).await;
    let mut cbs = Vec::new();
    for _ in 0..2000 {
        cbs = h.callbacks().await;
        if cbs.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Anything wrongly duplicated would have arrived by now too.
    h.cmd(&["log", "barrier"]).await;
    let cbs_after = h.callbacks().await;
    assert_eq!(cbs, cbs_after);
    assert_eq!(
        cbs.iter()
            .filter(|l| l.starts_with(&format!("error {a}")))
            .count(),
        1,
        "{cbs:?}"
    );
    assert_eq!(
        cbs.iter()
            .filter(|l| **l == format!("exit {b} some bye"))
            .count(),
        1,
        "{cbs:?}"
    );
    assert_eq!(
        cbs.iter()
            .filter(|l| **l == format!("exit {c} none"))
            .count(),
        1,
        "{cbs:?}"
    );
    assert_eq!(
        cbs.len(),
        3,
        "every record kept: the state was threaded through each callback: {cbs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policy_in_the_callback_brings_the_child_back() {
    let h = Harness::start().await;
    assert_eq!(h.cmd(&["policy", "restart"]).await, "ok");
    let id = h.spawn("trapper.toml", None).await;
    h.cmd(&["send", &id, "boom"]).await;
    h.wait_callback("restarted", |l| l == format!("restarted {id} ok"))
        .await;
    assert_eq!(h.cmd(&["list"]).await, format!("ok {id}"));
}
