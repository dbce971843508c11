//! CONTRACT §5: every operation leaves its event; chains verify; tampering is detected.

use theater_supervisor::chain::{ChainError, verify};
use theater_supervisor_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_callback_and_lifecycle_step_leaves_an_event() {
    let h = Harness::start().await;
    let kid = h.spawn("child.toml", None).await;
    let counter = h
        .cmd(&["resume", "counter.toml", "1"])
        .await
        .strip_prefix("ok ")
        .unwrap()
        .to_string();
    h.cmd(&["list"]).await;
    h.cmd(&["state", &kid]).await;
    h.cmd(&["events", &kid]).await;
    h.cmd(&["send", &counter, "inc"]).await;
    h.cmd(&["request", &counter, "get"]).await;
    h.cmd(&["restart", &counter]).await;
    h.cmd(&["log", "hello"]).await;
    h.cmd(&["chain"]).await;
    h.cmd(&["stop", &kid]).await;
    h.wait_callback("exit", |l| l.starts_with(&format!("exit {kid}")))
        .await;
    h.cmd(&["open-channel-not-a-verb"]).await;

    let root = h.event_types(&h.root);
    for expected in [
        "lifecycle.start",
        "call.start",
        "call.ok",
        "lifecycle.running",
        "supervisor.spawn",
        "supervisor.spawn.result",
        "supervisor.resume",
        "supervisor.resume.result",
        "supervisor.list-children",
        "supervisor.get-child-state",
        "supervisor.get-child-state.result",
        "supervisor.get-child-events",
        "supervisor.get-child-events.result",
        "supervisor.restart-child",
        "supervisor.restart-child.result",
        "supervisor.stop-child",
        "supervisor.stop-child.result",
        "message.send",
        "message.send.result",
        "message.request",
        "runtime.log",
        "runtime.get-chain",
    ] {
        assert!(
            root.iter().any(|t| t == expected),
            "root chain lacks {expected}: {root:?}"
        );
    }
    // The exit callback was an export call of handle-child-exit.
    let chain = h.system.chain(&h.root).unwrap();
    assert!(chain.iter().any(|e| e.event_type == "call.start"
        && String::from_utf8_lossy(&e.data).contains("handle-child-exit")));
    let kid_types = h.event_types(&kid);
    for expected in [
        "lifecycle.start",
        "lifecycle.running",
        "lifecycle.stopping",
        "lifecycle.stopped",
        "runtime.log",
    ] {
        assert!(
            kid_types.iter().any(|t| t == expected),
            "child chain lacks {expected}: {kid_types:?}"
        );
    }
    let counter_types = h.event_types(&counter);
    assert!(
        counter_types.iter().any(|t| t == "lifecycle.restart"),
        "{counter_types:?}"
    );
    // Every event's data is self-describing JSON and every chain verifies.
    for a in h.system.actors() {
        let chain = h.system.chain(&a.id).unwrap();
        verify(&chain, None).unwrap_or_else(|e| panic!("{}: {e}", a.name));
        for e in &chain {
            serde_json::from_slice::<serde_json::Value>(&e.data)
                .unwrap_or_else(|err| panic!("{} data is not JSON: {err}", e.event_type));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_see_linked_chains_through_get_chain_and_get_child_events() {
    let h = Harness::start().await;
    let kid = h.spawn("child.toml", None).await;
    h.cmd(&["request", &kid, "ping"]).await;
    let r = h.cmd(&["chain"]).await;
    assert!(r.starts_with("ok "), "{r}");
    let r = h.cmd(&["events", &kid]).await;
    assert!(r.starts_with("ok ") && r.contains("lifecycle.start"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_a_dropped_event_or_a_cut_tail_is_detected() {
    let h = Harness::start().await;
    let kid = h.spawn("counter.toml", None).await;
    for _ in 0..3 {
        h.cmd(&["request", &kid, "inc"]).await;
    }
    let chain = h.system.chain(&kid).unwrap();
    assert!(chain.len() > 6);
    let head = chain.last().unwrap().hash;
    verify(&chain, Some(&head)).unwrap();
    for i in 0..chain.len() {
        let mut t = chain.clone();
        if t[i].data.is_empty() {
            t[i].timestamp ^= 1;
        } else {
            t[i].data[0] ^= 0x01;
        }
        assert_eq!(
            verify(&t, Some(&head)),
            Err(ChainError::HashMismatch {
                index: i,
                event_type: chain[i].event_type.clone()
            })
        );
        let mut t = chain.clone();
        t.remove(i);
        assert!(
            verify(&t, Some(&head)).is_err(),
            "dropping event {i} went unnoticed"
        );
    }
    let mut t = chain.clone();
    t[2].event_type.push('x');
    assert!(matches!(
        verify(&t, None),
        Err(ChainError::HashMismatch { index: 2, .. })
    ));
    let mut t = chain.clone();
    t.swap(3, 4);
    assert!(verify(&t, None).is_err());
}
