//! CONTRACT §3: every supervisor operation, row by row.

use theater_supervisor_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_returns_id_after_init_with_init_bytes_as_state() {
    let h = Harness::start().await;
    let id = h.spawn("child.toml", Some("hello")).await;
    assert_eq!(id.len(), 36, "ids are UUID v4 strings: {id}");
    // init already ran: its event is in the chain before spawn returned.
    let types = h.event_types(&id);
    assert!(
        types.contains(&"lifecycle.running".to_string()),
        "{types:?}"
    );
    assert_eq!(h.cmd(&["state", &id]).await, "ok some hello");
    assert_eq!(h.cmd(&["list"]).await, format!("ok {id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_without_bytes_uses_manifest_init_state_else_none() {
    let h = Harness::start().await;
    h.fx.write("seed.bin", b"from-file");
    let text = manifest_text(
        "seeded",
        &component("child"),
        &["message-server"],
        "init_state = \"seed.bin\"",
        "",
    );
    h.fx.write("seeded.toml", text);
    let seeded = h.spawn("seeded.toml", None).await;
    assert_eq!(h.cmd(&["state", &seeded]).await, "ok some from-file");
    let plain = h.spawn("child.toml", None).await;
    assert_eq!(h.cmd(&["state", &plain]).await, "ok none");
    // Bytes given to spawn win over the manifest's init_state.
    let given = h.spawn("seeded.toml", Some("given")).await;
    assert_eq!(h.cmd(&["state", &given]).await, "ok some given");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_accepts_an_inline_manifest() {
    let h = Harness::start().await;
    // An inline manifest lives in the parent's directory: its component must be inside the tree.
    let outside = manifest_text(
        "inline-child",
        &component("child"),
        &["message-server"],
        "",
        "",
    );
    let r = h.cmd(&["spawn", &outside]).await;
    assert!(r.starts_with("err permission denied"), "{r}");
    let comp = h.fx.write(
        "comp/child.wasm",
        std::fs::read(component("child")).unwrap(),
    );
    let text = manifest_text("inline-child", &comp, &["message-server"], "", "");
    let id = h.spawn(&text, Some("x")).await;
    assert_eq!(h.system.actor(&id).unwrap().name, "inline-child");
    assert_eq!(h.cmd(&["request", &id, "ping"]).await, "ok pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_whose_init_fails_returns_err_registers_nothing_and_sends_no_callback() {
    let h = Harness::start().await;
    let r = h.cmd(&["spawn", "init-fail.toml"]).await;
    assert!(
        r.starts_with("err ") && r.contains("init-fail: refusing to start"),
        "{r}"
    );
    let r = h.cmd(&["spawn", "trapper.toml", "trap-in-init"]).await;
    assert!(r.starts_with("err ") && r.contains("trapped"), "{r}");
    assert_eq!(h.cmd(&["list"]).await, "ok ");
    assert_eq!(h.system.actors().len(), 1, "only the root is registered");
    // Give any (wrong) callback time to arrive, then check none did.
    h.cmd(&["log", "barrier"]).await;
    assert!(h.callbacks().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_passes_the_saved_state_to_init() {
    let h = Harness::start().await;
    let r = h.cmd(&["resume", "counter.toml", "41"]).await;
    let id = r
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    assert_eq!(h.cmd(&["state", &id]).await, "ok some 41");
    assert_eq!(h.cmd(&["request", &id, "inc"]).await, "ok 42");
    // init validates the state: a bad one is refused.
    let r = h.cmd(&["resume", "counter.toml", "not-a-number"]).await;
    assert!(r.contains("counter: saved state is not a number"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_children_is_in_start_order_and_drops_stopped_and_failed_children() {
    let h = Harness::start().await;
    let a = h.spawn("child.toml", None).await;
    let b = h.spawn("counter.toml", None).await;
    let c = h.spawn("child.toml", None).await;
    assert_eq!(h.cmd(&["list"]).await, format!("ok {a},{b},{c}"));
    assert_eq!(h.cmd(&["stop", &b]).await, "ok");
    assert_eq!(h.cmd(&["list"]).await, format!("ok {a},{c}"));
    h.cmd(&["send", &a, "trap"]).await;
    h.wait_callback("error for a", |l| l.starts_with(&format!("error {a}")))
        .await;
    assert_eq!(h.cmd(&["list"]).await, format!("ok {c}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_child_is_graceful_closes_the_chain_then_reports_exit() {
    let h = Harness::start().await;
    let id = h.spawn("child.toml", Some("kept")).await;
    assert_eq!(h.cmd(&["stop", &id]).await, "ok");
    let types = h.event_types(&id);
    assert_eq!(
        types.last().map(String::as_str),
        Some("lifecycle.stopped"),
        "{types:?}"
    );
    h.wait_callback("exit none", |l| l == format!("exit {id} none"))
        .await;
    // Last state and chain stay readable.
    assert_eq!(h.cmd(&["state", &id]).await, "ok some kept");
    assert!(h.cmd(&["events", &id]).await.starts_with("ok "));
    // Stopping again is a clear error.
    let r = h.cmd(&["stop", &id]).await;
    assert!(r.contains("not running"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_child_stops_grandchildren_first_in_reverse_start_order() {
    let h = Harness::start().await;
    let sp = h
        .spawn("spawner.toml", Some("child.toml\ncounter.toml"))
        .await;
    let grandchildren = h.system.actor(&sp).unwrap().children;
    assert_eq!(grandchildren.len(), 2);
    assert_eq!(h.cmd(&["stop", &sp]).await, "ok");
    for g in &grandchildren {
        let types = h.event_types(g);
        assert_eq!(
            types.last().map(String::as_str),
            Some("lifecycle.stopped"),
            "{types:?}"
        );
    }
    let chain = h.system.chain(&sp).unwrap();
    let order = chain
        .iter()
        .find(|e| e.event_type == "lifecycle.stopping-children")
        .expect("stopping-children event");
    let data: serde_json::Value = serde_json::from_slice(&order.data).unwrap();
    let expect: Vec<&String> = grandchildren.iter().rev().collect();
    assert_eq!(data["children"], serde_json::json!(expect));
    // The spawner stopped after its children: its stop closes its chain last.
    let last_child_stop = grandchildren
        .iter()
        .map(|g| h.system.chain(g).unwrap().last().unwrap().timestamp)
        .max()
        .unwrap();
    assert!(chain.last().unwrap().timestamp >= last_child_stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_child_keeps_the_id_and_starts_from_the_original_arguments() {
    let h = Harness::start().await;
    let id = h.spawn("counter.toml", Some("5")).await;
    assert_eq!(h.cmd(&["request", &id, "inc"]).await, "ok 6");
    assert_eq!(h.cmd(&["restart", &id]).await, "ok");
    assert_eq!(h.cmd(&["list"]).await, format!("ok {id}"));
    assert_eq!(
        h.cmd(&["state", &id]).await,
        "ok some 5",
        "fresh state from spawn's init bytes"
    );
    assert_eq!(h.cmd(&["request", &id, "inc"]).await, "ok 6");
    let types = h.event_types(&id);
    assert!(
        types.contains(&"lifecycle.restart".to_string()),
        "{types:?}"
    );
    theater_supervisor::chain::verify(&h.system.chain(&id).unwrap(), None)
        .expect("chain continues");
    // No exit callback for a restart.
    h.cmd(&["log", "barrier"]).await;
    assert!(h.callbacks().await.is_empty(), "{:?}", h.callbacks().await);
    // A resumed child restarts from its resume state.
    let r = h.cmd(&["resume", "counter.toml", "100"]).await;
    let rid = r.strip_prefix("ok ").unwrap().to_string();
    h.cmd(&["request", &rid, "inc"]).await;
    assert_eq!(h.cmd(&["restart", &rid]).await, "ok");
    assert_eq!(h.cmd(&["request", &rid, "get"]).await, "ok 100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_child_brings_back_a_failed_child() {
    let h = Harness::start().await;
    let id = h.spawn("child.toml", Some("s0")).await;
    h.cmd(&["send", &id, "trap"]).await;
    h.wait_callback("error", |l| l.starts_with(&format!("error {id} internal")))
        .await;
    assert_eq!(h.cmd(&["list"]).await, "ok ");
    assert_eq!(h.cmd(&["restart", &id]).await, "ok");
    assert_eq!(h.cmd(&["list"]).await, format!("ok {id}"));
    assert_eq!(h.cmd(&["request", &id, "ping"]).await, "ok pong");
    assert_eq!(h.system.actor(&id).unwrap().restarts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_whose_new_init_fails_returns_err_and_the_child_is_gone() {
    let h = Harness::start().await;
    // The manifest's component is swapped for one whose init fails before the restart.
    let comp =
        h.fx.write("swap.wasm", std::fs::read(component("child")).unwrap());
    h.fx.write(
        "swap.toml",
        manifest_text("swap", &comp, &["message-server"], "", ""),
    );
    let id = h.spawn("swap.toml", None).await;
    std::fs::copy(component("init-fail"), &comp).unwrap();
    let r = h.cmd(&["restart", &id]).await;
    assert!(r.starts_with("err ") && r.contains("init-fail"), "{r}");
    assert_eq!(h.cmd(&["list"]).await, "ok ");
    assert_eq!(
        h.system.actor(&id).unwrap().status,
        theater_supervisor::ActorStatus::Failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_child_state_and_events_work_after_failure() {
    let h = Harness::start().await;
    let id = h.spawn("child.toml", None).await;
    assert_eq!(h.cmd(&["request", &id, "set last-words"]).await, "ok ok");
    h.cmd(&["send", &id, "trap"]).await;
    h.wait_callback("error", |l| l.starts_with(&format!("error {id}")))
        .await;
    assert_eq!(h.cmd(&["state", &id]).await, "ok some last-words");
    let ev = h.cmd(&["events", &id]).await;
    assert!(
        ev.starts_with("ok ") && ev.ends_with("lifecycle.failed"),
        "{ev}"
    );
}
