//! `message-server-host`: send and request between actors and from the host (channels are in
//! `channels.rs`, out-of-band answers in `outstanding.rs`).

use theater_supervisor_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_request_between_actors_thread_the_childs_state() {
    let h = Harness::start().await;
    let counter = h.spawn("counter.toml", None).await;
    assert_eq!(h.cmd(&["send", &counter, "inc"]).await, "ok");
    assert_eq!(h.cmd(&["send", &counter, "inc"]).await, "ok");
    assert_eq!(h.cmd(&["request", &counter, "inc"]).await, "ok 3");
    assert_eq!(
        h.system.request(&counter, b"get".to_vec()).await.unwrap(),
        b"3"
    );
    assert_eq!(h.cmd(&["state", &counter]).await, "ok some 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_unknown_or_stopped_actors_are_clear_errors() {
    let h = Harness::start().await;
    let r = h.cmd(&["send", "nobody", "x"]).await;
    assert!(r.starts_with("err unknown actor id `nobody`"), "{r}");
    let kid = h.spawn("child.toml", None).await;
    h.cmd(&["stop", &kid]).await;
    let r = h.cmd(&["request", &kid, "ping"]).await;
    assert!(r.contains("is not running"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_fails_the_target_returns_an_error_to_the_requester() {
    let h = Harness::start().await;
    let kid = h.spawn("trapper.toml", None).await;
    let r = h.cmd(&["request", &kid, "boom"]).await;
    assert!(
        r.starts_with("err ") && r.contains("failed while handling the request"),
        "{r}"
    );
    h.wait_callback("error", |l| l.starts_with(&format!("error {kid}")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_refuses_messages_with_a_clear_error() {
    let config = theater_supervisor::SystemConfig {
        mailbox_capacity: 2,
        shutdown_timeout: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    let h = Harness::start_with(config, "").await;
    let busy = h.spawn("looper.toml", None).await;
    assert_eq!(h.cmd(&["send", &busy, "loop"]).await, "ok");
    wait_until("the looper to be busy", || {
        event_types(&h.system, &busy)
            .iter()
            .filter(|t| *t == "call.start")
            .count()
            == 2
    })
    .await;
    assert_eq!(h.cmd(&["send", &busy, "ping"]).await, "ok");
    assert_eq!(h.cmd(&["send", &busy, "ping"]).await, "ok");
    let r = h.cmd(&["send", &busy, "ping"]).await;
    assert!(
        r.starts_with("err mailbox of actor") && r.contains("is full"),
        "{r}"
    );
    // Callbacks are never refused, and the parent keeps working.
    assert_eq!(h.cmd(&["stop", &busy]).await, "ok");
    h.wait_callback("exit", |l| l == format!("exit {busy} none"))
        .await;
}
