//! CONTRACT §7, channels: `open-channel` (accepted, refused with the target's message),
//! `send-on-channel` in order, `close-channel` told once, only the two ends may use an id, every
//! channel of an actor closes when it stops, fails or restarts, and the bound `max_channels`.
//! On real `peer` components.

use theater_supervisor::SystemConfig;
use theater_supervisor_e2e::*;

/// Opens a channel from `a` to `b`; returns its id.
async fn open(h: &Harness, a: &str, b: &str, initial: &str) -> String {
    let r = ask(&h.system, a, &format!("open {b} {initial}")).await;
    r.strip_prefix("ok ")
        .unwrap_or_else(|| panic!("open {a} -> {b} failed: {r}"))
        .to_string()
}

fn count(lines: &[String], line: &str) -> usize {
    lines.iter().filter(|l| *l == line).count()
}

/// Waits until `peer`'s log holds `line`; returns the log.
async fn wait_log(h: &Harness, peer: &str, line: &str) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..2000 {
        last = peer_log(&h.system, peer).await;
        if last.iter().any(|l| l == line) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{peer} never logged {line:?}: {last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_opens_carries_messages_in_order_and_closes_once() {
    let h = Harness::start().await;
    let a = h.spawn("peer.toml", None).await;
    let b = h.spawn("peer.toml", None).await;
    let ch = open(&h, &a, &b, "hello").await;
    assert_eq!(ch.len(), 36, "a UUID: {ch}");
    assert_eq!(peer_log(&h.system, &b).await, [format!("open {ch} hello")]);
    for i in 0..20 {
        assert_eq!(ask(&h.system, &a, &format!("say {ch} m{i}")).await, "ok");
    }
    assert_eq!(ask(&h.system, &b, &format!("say {ch} back")).await, "ok");
    let log_b = peer_log(&h.system, &b).await;
    let want: Vec<String> = std::iter::once(format!("open {ch} hello"))
        .chain((0..20).map(|i| format!("msg {ch} m{i}")))
        .collect();
    assert_eq!(log_b, want, "messages arrive in the order sent");
    assert_eq!(peer_log(&h.system, &a).await, [format!("msg {ch} back")]);
    // A burst is counted by the receiver (it goes through its mailbox, in order).
    assert_eq!(ask(&h.system, &a, &format!("burst {ch} 100")).await, "ok");
    assert_eq!(ask(&h.system, &b, "count").await, "ok 100");

    assert_eq!(ask(&h.system, &a, &format!("close {ch}")).await, "ok");
    let log_b = wait_log(&h, &b, &format!("close {ch}")).await;
    assert_eq!(count(&log_b, &format!("close {ch}")), 1);
    for (who, verb) in [(&a, "say"), (&b, "say"), (&b, "close"), (&a, "close")] {
        let r = ask(&h.system, who, &format!("{verb} {ch} late")).await;
        assert!(
            r.starts_with("err channel") && r.contains("closed"),
            "{verb}: {r}"
        );
    }
    assert_eq!(
        count(&peer_log(&h.system, &b).await, &format!("close {ch}")),
        1
    );
    assert!(
        !peer_log(&h.system, &a)
            .await
            .iter()
            .any(|l| l.starts_with("close"))
    );

    // Both chains hold every step, and verify.
    let types_a = h.event_types(&a);
    for t in [
        "channel.open",
        "channel.accepted",
        "channel.send",
        "channel.message",
        "channel.close",
    ] {
        assert!(
            types_a.iter().any(|x| x == t),
            "{t} missing in the opener's chain"
        );
    }
    let types_b = h.event_types(&b);
    for t in [
        "channel.accept",
        "channel.message",
        "channel.send",
        "channel.closed",
        "channel.send.err",
    ] {
        assert!(
            types_b.iter().any(|x| x == t),
            "{t} missing in the target's chain"
        );
    }
    for id in [&a, &b] {
        theater_supervisor::chain::verify(&h.system.chain(id).unwrap(), None).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_channel_gives_the_opener_the_targets_message() {
    let h = Harness::start().await;
    let a = h.spawn("peer.toml", None).await;
    let b = h.spawn("peer.toml", None).await;
    let r = ask(&h.system, &a, &format!("open {b} refuse busy right now")).await;
    assert!(
        r.starts_with("err open-channel") && r.ends_with("refused: busy right now"),
        "{r}"
    );
    let r = ask(&h.system, &a, &format!("open {b} refuse-silent")).await;
    assert!(r.contains("refused the channel"), "{r}");
    assert!(peer_log(&h.system, &b).await.is_empty());
    assert!(h.event_types(&a).iter().any(|t| t == "channel.refused"));
    assert!(h.event_types(&b).iter().any(|t| t == "channel.refuse"));
    // A target whose handle-channel-open fails is a failed actor; the opener gets err.
    let r = ask(&h.system, &a, &format!("open {b} fail")).await;
    assert!(r.contains("failed while handling the channel open"), "{r}");
    h.wait_callback("b failed", |l| {
        l.starts_with(&format!("error {b} internal"))
    })
    .await;
    // Nothing is left of the refused channels: a's bound is intact and it keeps working.
    let c = h.spawn("peer.toml", None).await;
    open(&h, &a, &c, "again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_closes_when_an_end_stops_fails_or_restarts() {
    let h = Harness::start().await;
    let a = h.spawn("peer.toml", None).await;
    let stopped = h.spawn("peer.toml", None).await;
    let restarted = h.spawn("peer.toml", None).await;
    let failed = h.spawn("peer.toml", None).await;
    let opener = h.spawn("peer.toml", None).await;
    let c1 = open(&h, &a, &stopped, "x").await;
    let c2 = open(&h, &a, &restarted, "x").await;
    let c3 = open(&h, &a, &failed, "x").await;
    let c4 = open(&h, &opener, &a, "x").await;

    assert_eq!(h.cmd(&["stop", &stopped]).await, "ok");
    wait_log(&h, &a, &format!("close {c1}")).await;
    assert_eq!(h.cmd(&["restart", &restarted]).await, "ok");
    wait_log(&h, &a, &format!("close {c2}")).await;
    // The restarted end starts fresh: it knows nothing of the old channel.
    assert!(peer_log(&h.system, &restarted).await.is_empty());
    let r = ask(&h.system, &restarted, &format!("say {c2} x")).await;
    assert!(r.starts_with("err channel"), "{r}");
    assert!(
        ask(&h.system, &failed, "fail")
            .await
            .starts_with("request-failed")
    );
    wait_log(&h, &a, &format!("close {c3}")).await;
    // The opener's end going away closes it for the target too.
    assert_eq!(h.cmd(&["stop", &opener]).await, "ok");
    let log = wait_log(&h, &a, &format!("close {c4}")).await;
    for c in [&c1, &c2, &c3, &c4] {
        assert_eq!(count(&log, &format!("close {c}")), 1, "{log:#?}");
        let r = ask(&h.system, &a, &format!("say {c} x")).await;
        assert!(r.starts_with("err channel"), "{r}");
    }
    let chain = h.system.chain(&stopped).unwrap();
    let closed = chain
        .iter()
        .find(|e| e.event_type == "channel.closed")
        .expect("the stopped end records its channel closing");
    assert!(String::from_utf8_lossy(&closed.data).contains("this actor stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_two_ends_may_use_a_channel_id() {
    let h = Harness::start().await;
    let a = h.spawn("peer.toml", None).await;
    let b = h.spawn("peer.toml", None).await;
    let intruder = h.spawn("peer.toml", None).await;
    let ch = open(&h, &a, &b, "x").await;
    for verb in ["say", "close"] {
        let r = ask(&h.system, &intruder, &format!("{verb} {ch} spoof")).await;
        assert!(r.contains("is not one of this actor's channels"), "{r}");
    }
    let r = ask(&h.system, &intruder, &format!("say {} x", "0".repeat(5000))).await;
    assert!(r.starts_with("err channel") && r.len() < 400, "{r}");
    assert_eq!(
        ask(&h.system, &a, &format!("say {ch} still-open")).await,
        "ok"
    );
    assert_eq!(
        peer_log(&h.system, &b).await,
        [format!("open {ch} x"), format!("msg {ch} still-open")]
    );
    assert!(peer_log(&h.system, &intruder).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_to_a_stopped_unknown_or_non_accepting_actor_is_refused() {
    let h = Harness::start().await;
    let a = h.spawn("peer.toml", None).await;
    let gone = h.spawn("peer.toml", None).await;
    h.cmd(&["stop", &gone]).await;
    let r = ask(&h.system, &a, &format!("open {gone} x")).await;
    assert!(r.starts_with("err") && r.contains("is not running"), "{r}");
    let r = ask(&h.system, &a, "open nobody x").await;
    assert!(r.starts_with("err unknown actor id `nobody`"), "{r}");
    let r = ask(&h.system, &a, &format!("open {a} x")).await;
    assert!(r.contains("cannot open a channel to itself"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_opens_past_max_channels_is_refused_naming_the_limit() {
    let h = Harness::start().await;
    let text = manifest_text("small", &component("peer"), &["message-server"], "", "");
    h.fx.write("small.toml", format!("{text}max_channels = 3\n"));
    let small = h.spawn("small.toml", None).await;
    let b = h.spawn("peer.toml", None).await;
    let mut ok = 0;
    for _ in 0..20 {
        let r = ask(&h.system, &small, &format!("open {b} x")).await;
        if r.starts_with("ok ") {
            ok += 1;
        } else {
            assert!(r.contains("max_channels = 3"), "{r}");
        }
    }
    assert_eq!(ok, 3);
    // As a target too: others cannot open a fourth channel to it.
    let r = ask(&h.system, &b, &format!("open {small} x")).await;
    assert!(r.contains("max_channels = 3"), "{r}");
    // Closing one makes room again.
    let ch = peer_log(&h.system, &b).await[0]
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(ask(&h.system, &b, &format!("close {ch}")).await, "ok");
    assert!(
        ask(&h.system, &b, &format!("open {small} x"))
            .await
            .starts_with("ok ")
    );
    // A child may not ask for more than its parent has.
    let text = manifest_text("greedy", &component("peer"), &["message-server"], "", "");
    h.fx.write("greedy.toml", format!("{text}max_channels = 100000\n"));
    let r = h.cmd(&["spawn", "greedy.toml"]).await;
    assert!(
        r.starts_with("err") && r.contains("max_channels = 100000") && r.contains("parent"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_messages_count_against_the_receivers_mailbox() {
    let config = SystemConfig {
        mailbox_capacity: 5,
        ..Default::default()
    };
    let h = Harness::start_with(config, "").await;
    let slow = h.spawn("peer.toml", None).await;
    let fast = h.spawn("peer.toml", None).await;
    let server = h.spawn("peer.toml", None).await;
    let ch = open(&h, &fast, &slow, "x").await;
    // `slow` waits in a call on a request its server leaves outstanding: its mailbox fills up.
    h.system
        .send(&slow, format!("request {server} later hold").into_bytes())
        .unwrap();
    let rid = wait_outstanding(&h.system, &server, 1).await.remove(0);
    let r = ask(&h.system, &fast, &format!("burst {ch} 50")).await;
    assert!(
        r.starts_with("err mailbox of actor") && r.contains("is full"),
        "{r}"
    );
    // Released, `slow` takes the messages that fitted.
    assert_eq!(
        ask(&h.system, &server, &format!("respond {rid} go")).await,
        "ok"
    );
    // Read from its published state, not through its mailbox: that may still be full while
    // `slow` works through the five.
    let head = |state: Option<Option<Vec<u8>>>| {
        let text = String::from_utf8_lossy(&state.flatten().unwrap_or_default()).into_owned();
        text.lines().next().unwrap_or_default().to_string()
    };
    let mut last = String::new();
    for _ in 0..2000 {
        last = head(h.system.state(&slow));
        if last.starts_with("5 ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(last.starts_with("5 "), "slow counted 5 messages: {last:?}");
    // Nothing more arrives: the refused ones are gone.
    assert_eq!(ask(&h.system, &slow, "count").await, "ok 5");
}
