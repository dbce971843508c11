//! CONTRACT §7, out-of-band answers: `handle-request` returning `none` leaves the request
//! outstanding; `list-outstanding-requests`, `respond-to-request` (at most once) and
//! `cancel-request`; the requester gets `err` when its target stops, fails or restarts, past the
//! host's request timeout, and past `max_outstanding_requests`. On real `peer` components.

use std::sync::Arc;
use std::time::Duration;
use theater_supervisor::{ActorSystem, SystemConfig};
use theater_supervisor_e2e::*;
use tokio::task::JoinHandle;

type Waiting = JoinHandle<Result<Vec<u8>, String>>;

/// A host request of `later <tag>` to `peer`, waiting in a task.
fn later(system: &Arc<ActorSystem>, peer: &str, tag: &str) -> Waiting {
    let system = system.clone();
    let (peer, msg) = (peer.to_string(), format!("later {tag}").into_bytes());
    tokio::spawn(async move { system.request(&peer, msg).await.map_err(|e| e.to_string()) })
}

async fn outcome(w: Waiting) -> Result<String, String> {
    tokio::time::timeout(Duration::from_secs(20), w)
        .await
        .expect("the requester is answered")
        .expect("task")
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_left_outstanding_is_answered_later_and_only_once() {
    let h = Harness::start().await;
    let server = h.spawn("peer.toml", None).await;
    let w = later(&h.system, &server, "first");
    let ids = wait_outstanding(&h.system, &server, 1).await;
    assert_eq!(
        peer_log(&h.system, &server).await,
        [format!("req {} first", ids[0])]
    );
    assert_eq!(
        ask(&h.system, &server, &format!("respond {} hi there", ids[0])).await,
        "ok"
    );
    assert_eq!(outcome(w).await.as_deref(), Ok("hi there"));
    assert!(outstanding(&h.system, &server).await.is_empty());
    // Answering twice, or an id it never had, is err.
    for id in [ids[0].as_str(), "req-999999", "made-up"] {
        let r = ask(&h.system, &server, &format!("respond {id} again")).await;
        assert!(r.starts_with("err unknown request id"), "{r}");
        let r = ask(&h.system, &server, &format!("cancel {id}")).await;
        assert!(r.starts_with("err unknown request id"), "{r}");
    }

    let w = later(&h.system, &server, "second");
    let ids = wait_outstanding(&h.system, &server, 1).await;
    assert_eq!(
        ask(&h.system, &server, &format!("cancel {}", ids[0])).await,
        "ok"
    );
    let e = outcome(w).await.unwrap_err();
    assert!(e.contains("was cancelled by actor"), "{e}");
    let r = ask(&h.system, &server, &format!("respond {} late", ids[0])).await;
    assert!(r.starts_with("err unknown request id"), "{r}");

    // Another actor's outstanding request is not this one's to answer.
    let other = h.spawn("peer.toml", None).await;
    let w = later(&h.system, &server, "third");
    let ids = wait_outstanding(&h.system, &server, 1).await;
    let r = ask(&h.system, &other, &format!("respond {} spoof", ids[0])).await;
    assert!(r.starts_with("err unknown request id"), "{r}");
    assert_eq!(
        ask(&h.system, &server, &format!("respond {} real", ids[0])).await,
        "ok"
    );
    assert_eq!(outcome(w).await.as_deref(), Ok("real"));
    let types = h.event_types(&server);
    for t in [
        "request.outstanding",
        "request.respond",
        "request.cancel",
        "request.respond.err",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing: {types:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_waiting_on_an_outstanding_request_gets_the_later_answer() {
    let h = Harness::start().await;
    let server = h.spawn("peer.toml", None).await;
    let client = h.spawn("peer.toml", None).await;
    // The client waits inside its own call; the server answers from a later call.
    h.system
        .send(
            &client,
            format!("request {server} later from-client").into_bytes(),
        )
        .unwrap();
    let ids = wait_outstanding(&h.system, &server, 1).await;
    assert_eq!(
        ask(&h.system, &server, &format!("respond {} 42", ids[0])).await,
        "ok"
    );
    // The client's call finished with the answer; its chain shows both steps.
    assert_eq!(peer_log(&h.system, &client).await, ["got ok 42"]);
    let types = h.event_types(&client);
    for t in [
        "request.outstanding",
        "request.responded",
        "message.request",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing: {types:?}");
    }
    theater_supervisor::chain::verify(&h.system.chain(&client).unwrap(), None).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outstanding_requests_end_with_err_when_the_target_stops_fails_or_restarts() {
    let h = Harness::start().await;
    for (how, want) in [
        ("stop", "stopped before answering"),
        ("restart", "restarted before answering"),
        ("fail", "failed before answering"),
    ] {
        let server = h.spawn("peer.toml", None).await;
        let w1 = later(&h.system, &server, "a");
        let w2 = later(&h.system, &server, "b");
        wait_outstanding(&h.system, &server, 2).await;
        match how {
            "fail" => {
                assert!(
                    ask(&h.system, &server, "fail")
                        .await
                        .starts_with("request-failed")
                );
            }
            verb => assert_eq!(h.cmd(&[verb, &server]).await, "ok"),
        }
        for w in [w1, w2] {
            let e = outcome(w).await.unwrap_err();
            assert!(e.contains(want), "{how}: {e}");
        }
        if how == "restart" {
            assert!(outstanding(&h.system, &server).await.is_empty());
        }
        assert!(h.event_types(&server).iter().any(|t| t == "request.ended"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outstanding_request_times_out_after_the_request_timeout() {
    let config = SystemConfig {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let h = Harness::start_with(config, "").await;
    let server = h.spawn("peer.toml", None).await;
    let w = later(&h.system, &server, "slow");
    let e = outcome(w).await.unwrap_err();
    assert!(e.contains("timed out") && e.contains("300ms"), "{e}");
    assert!(outstanding(&h.system, &server).await.is_empty());
    let r = ask(&h.system, &server, "respond req-1 late").await;
    assert!(r.starts_with("err unknown request id"), "{r}");
    assert!(
        h.event_types(&server)
            .iter()
            .any(|t| t == "request.timeout")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_max_outstanding_requests_get_err_naming_the_limit() {
    let h = Harness::start().await;
    let text = manifest_text("small", &component("peer"), &["message-server"], "", "");
    h.fx.write(
        "small.toml",
        format!("{text}max_outstanding_requests = 2\n"),
    );
    let server = h.spawn("small.toml", None).await;
    let w1 = later(&h.system, &server, "a");
    let w2 = later(&h.system, &server, "b");
    wait_outstanding(&h.system, &server, 2).await;
    let e = outcome(later(&h.system, &server, "c")).await.unwrap_err();
    assert!(e.contains("max_outstanding_requests = 2"), "{e}");
    for id in outstanding(&h.system, &server).await {
        assert_eq!(
            ask(&h.system, &server, &format!("respond {id} done")).await,
            "ok"
        );
    }
    assert_eq!(outcome(w1).await.as_deref(), Ok("done"));
    assert_eq!(outcome(w2).await.as_deref(), Ok("done"));
}
