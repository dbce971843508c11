//! CONTRACT §2: the three scenarios that deadlocked in Theater, plus request cycles.

use theater_supervisor::RootOutcome;
use theater_supervisor_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_from_inside_init_does_not_deadlock() {
    let h = Harness::start().await;
    let sp = h
        .spawn("spawner.toml", Some("child.toml\ncounter.toml\nchild.toml"))
        .await;
    let kids = h.system.actor(&sp).unwrap().children;
    assert_eq!(kids.len(), 3);
    let state = String::from_utf8(h.system.state(&sp).unwrap().unwrap()).unwrap();
    assert_eq!(
        state.lines().collect::<Vec<_>>(),
        kids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for k in &kids {
        assert_eq!(
            h.system.actor(k).unwrap().parent.as_deref(),
            Some(sp.as_str())
        );
    }
    // Nested: a spawner whose child is a spawner.
    let nested = h.spawn("spawner.toml", Some("spawner.toml")).await;
    assert_eq!(h.system.actor(&nested).unwrap().children.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_children_from_inside_a_callback_does_not_deadlock() {
    let h = Harness::start().await;
    assert_eq!(h.cmd(&["policy", "stop-others"]).await, "ok");
    let bad = h.spawn("trapper.toml", None).await;
    let a = h.spawn("child.toml", None).await;
    let b = h.spawn("counter.toml", None).await;
    h.cmd(&["send", &bad, "boom"]).await;
    h.wait_callback("stopped a", |l| l == format!("stopped {a} ok"))
        .await;
    h.wait_callback("stopped b", |l| l == format!("stopped {b} ok"))
        .await;
    assert_eq!(h.cmd(&["list"]).await, "ok ");
    // Each stop-child from the callback is followed by its own exit callback.
    h.wait_callback("exit a", |l| l == format!("exit {a} none"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_with_children_calling_shutdown_does_not_deadlock() {
    let h = Harness::start().await;
    let kids = [
        h.spawn("child.toml", None).await,
        h.spawn("spawner.toml", Some("counter.toml")).await,
        h.spawn("looper.toml", None).await,
    ];
    let grandkid = h.system.actor(&kids[1]).unwrap().children[0].clone();
    assert_eq!(h.cmd(&["shutdown", "all done"]).await, "ok");
    assert_eq!(
        h.system.wait_root().await,
        RootOutcome::Shutdown(Some(b"all done".to_vec()))
    );
    for id in kids.iter().chain([&grandkid]) {
        let types = event_types(&h.system, id);
        assert_eq!(
            types.last().map(String::as_str),
            Some("lifecycle.stopped"),
            "{id}: {types:?}"
        );
    }
    // The root's chain closes after its children stopped.
    let root_chain = h.system.chain(&h.root).unwrap();
    assert_eq!(root_chain.last().unwrap().event_type, "lifecycle.stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_back_to_a_waiting_actor_is_refused_not_deadlocked() {
    let h = Harness::start().await;
    let kid = h.spawn("child.toml", None).await;
    // root -> kid (request) -> root (request): root is waiting on kid.
    let r = h
        .cmd(&["request", &kid, &format!("request {} list", h.root)])
        .await;
    assert!(r.contains("would deadlock"), "{r}");
    assert_eq!(h.cmd(&["request", &kid, "ping"]).await, "ok pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_child_stuck_in_a_call_kills_it_after_the_shutdown_timeout() {
    let config = theater_supervisor::SystemConfig {
        shutdown_timeout: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let h = Harness::start_with(config, "").await;
    let looper = h.spawn("looper.toml", None).await;
    h.cmd(&["send", &looper, "loop"]).await;
    // `send` returns once the message is queued: wait until the looper is in the call, or a
    // loaded machine may stop it before it ever started looping.
    wait_until("the looper to start looping", || {
        call_started(&h.system, &looper, "handle-send")
    })
    .await;
    assert_eq!(h.cmd(&["stop", &looper]).await, "ok");
    let types = event_types(&h.system, &looper);
    assert!(types.contains(&"lifecycle.killed".to_string()), "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("lifecycle.stopped"));
}

/// A short request timeout: without the refusal these cycles would end in a timeout error.
fn quick_timeout() -> theater_supervisor::SystemConfig {
    theater_supervisor::SystemConfig {
        request_timeout: std::time::Duration::from_secs(3),
        ..Default::default()
    }
}

/// Two `peer`s, `a` waiting in its call on a request `b` leaves outstanding; returns
/// `(a, b, the request's id at b)`.
async fn a_waits_on_bs_outstanding_answer(h: &Harness) -> (String, String, String) {
    let a = h.spawn("peer.toml", None).await;
    let b = h.spawn("peer.toml", None).await;
    h.system
        .send(&a, format!("request {b} later hold").into_bytes())
        .unwrap();
    let rid = wait_outstanding(&h.system, &b, 1).await.remove(0);
    (a, b, rid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_an_actor_waiting_on_the_callers_outstanding_answer_is_refused() {
    let h = Harness::start_with(quick_timeout(), "").await;
    // b asking a would wait forever: a waits on b.
    let (a, b, rid) = a_waits_on_bs_outstanding_answer(&h).await;
    let r = ask(&h.system, &b, &format!("request {a} log")).await;
    assert!(
        r.starts_with("err request refused") && r.contains(&format!("({a} -> {b} -> {a})")),
        "{r}"
    );
    // Nothing else is harmed: b answers, a gets it.
    assert_eq!(ask(&h.system, &b, &format!("respond {rid} go")).await, "ok");
    assert_eq!(peer_log(&h.system, &a).await, ["got ok go"]);
    // Once a no longer waits, b may ask it.
    assert!(
        ask(&h.system, &b, &format!("request {a} count"))
            .await
            .starts_with("ok ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_through_two_outstanding_requests_is_refused() {
    let h = Harness::start_with(quick_timeout(), "").await;
    let y = h.spawn("peer.toml", None).await;
    let x = h.spawn("peer.toml", None).await;
    let s = h.spawn("peer.toml", None).await;
    // y waits on x (outstanding there), then x waits on s (outstanding there).
    h.system
        .send(&y, format!("request {x} later from-y").into_bytes())
        .unwrap();
    let at_x = wait_outstanding(&h.system, &x, 1).await.remove(0);
    h.system
        .send(&x, format!("request {s} later from-x").into_bytes())
        .unwrap();
    let at_s = wait_outstanding(&h.system, &s, 1).await.remove(0);
    // s asking y closes y -> x -> s -> y.
    let r = ask(&h.system, &s, &format!("request {y} log")).await;
    assert!(
        r.starts_with("err request refused") && r.contains(&format!("({y} -> {x} -> {s} -> {y})")),
        "{r}"
    );
    // Unwound in order, every wait gets its answer.
    assert_eq!(
        ask(&h.system, &s, &format!("respond {at_s} one")).await,
        "ok"
    );
    assert_eq!(
        ask(&h.system, &x, &format!("respond {at_x} two")).await,
        "ok"
    );
    assert_eq!(
        peer_log(&h.system, &x).await,
        [format!("req {at_x} from-y"), "got ok one".to_string()]
    );
    assert_eq!(peer_log(&h.system, &y).await, ["got ok two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_open_to_an_actor_waiting_on_the_opener_is_refused() {
    let h = Harness::start_with(quick_timeout(), "").await;
    let (a, b, rid) = a_waits_on_bs_outstanding_answer(&h).await;
    // a's handle-channel-open could only run after a's call, which waits on b.
    let r = ask(&h.system, &b, &format!("open {a} hello")).await;
    assert!(
        r.starts_with("err open-channel refused") && r.contains(&format!("({a} -> {b} -> {a})")),
        "{r}"
    );
    assert_eq!(ask(&h.system, &b, &format!("respond {rid} go")).await, "ok");
    assert_eq!(peer_log(&h.system, &a).await, ["got ok go"]);
    // a is free again: the open goes through.
    assert!(
        ask(&h.system, &b, &format!("open {a} hello"))
            .await
            .starts_with("ok ")
    );
}
