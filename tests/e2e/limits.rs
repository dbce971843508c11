//! Per-actor limits (`[limits]` in the manifest, never above the parent's) and the host-wide
//! caps (`max_actors`, `max_depth`): a child that loops or eats memory fails alone, with the
//! right error type and a message naming the limit, while its siblings keep serving.

use std::time::{Duration, Instant};
use theater_supervisor::SystemConfig;
use theater_supervisor_e2e::*;

/// A manifest for guest `component` with a `[limits]` table.
fn limited(h: &Harness, rel: &str, component_name: &str, handlers: &[&str], limits: &str) {
    h.fx.manifest_with(
        rel,
        component_name,
        handlers,
        &format!("[limits]\n{limits}"),
        "",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_child_is_stopped_at_its_own_deadline() {
    let h = Harness::start().await;
    limited(
        &h,
        "loop200.toml",
        "looper",
        &["message-server"],
        "call_timeout_ms = 200",
    );
    let looper = h.spawn("loop200.toml", None).await;
    let sibling = h.spawn("child.toml", None).await;
    let sent = Instant::now();
    h.cmd(&["send", &looper, "loop"]).await;
    h.wait_callback("timeout", |l| {
        l.starts_with(&format!("error {looper} operation-timeout")) && l.contains("200ms")
    })
    .await;
    let took = sent.elapsed();
    println!("looping child with a 200 ms deadline reported after {took:?}");
    // Deadline plus a margin that covers a loaded 2-core machine (epoch ticks are 5 ms).
    assert!(took < Duration::from_millis(200 + 5_000), "{took:?}");
    assert_eq!(h.cmd(&["request", &sibling, "ping"]).await, "ok pong");
    assert_eq!(h.cmd(&["list"]).await, format!("ok {sibling}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_blocked_in_a_wasi_call_is_stopped_at_its_own_deadline() {
    // `wasi-probe` (wasm32-wasip2) sleeps in `wasi:clocks` (a host call: no wasm runs, so the
    // epoch interrupt cannot stop it); the deadline still holds.
    let h = Harness::start().await;
    limited(
        &h,
        "sleep300.toml",
        "wasi-probe",
        &["message-server"],
        "call_timeout_ms = 300",
    );
    let sleeper = h.spawn("sleep300.toml", None).await;
    let sibling = h.spawn("child.toml", None).await;
    let sent = Instant::now();
    let r = h.cmd(&["request", &sleeper, "sleep 20000"]).await;
    let took = sent.elapsed();
    println!("child sleeping in a WASI call with a 300 ms deadline answered after {took:?}: {r}");
    assert!(r.starts_with("err "), "{r}");
    h.wait_callback("timeout", |l| {
        l.starts_with(&format!("error {sleeper} operation-timeout")) && l.contains("300ms")
    })
    .await;
    assert!(took < Duration::from_millis(300 + 5_000), "{took:?}");
    assert_eq!(h.cmd(&["request", &sibling, "ping"]).await, "ok pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_growing_memory_past_its_limit_fails_with_internal_naming_the_limit() {
    let h = Harness::start().await;
    limited(
        &h,
        "eat8.toml",
        "looper",
        &["message-server"],
        "memory_bytes = 8388608",
    );
    let eater = h.spawn("eat8.toml", None).await;
    let sibling = h.spawn("child.toml", None).await;
    h.cmd(&["send", &eater, "eat"]).await;
    let cbs = h
        .wait_callback("memory failure", |l| {
            l.starts_with(&format!("error {eater} internal"))
        })
        .await;
    assert!(
        cbs.iter()
            .any(|l| l.contains("limits.memory_bytes = 8388608")),
        "{cbs:#?}"
    );
    assert_eq!(h.cmd(&["request", &sibling, "ping"]).await, "ok pong");
    // The default limit is the host's (the allocator's max_memory_bytes), named the same way.
    let default_eater = h.spawn("looper.toml", None).await;
    h.cmd(&["send", &default_eater, "eat"]).await;
    h.wait_callback("memory failure at the host limit", |l| {
        l.starts_with(&format!("error {default_eater} internal"))
            && l.contains(&format!("limits.memory_bytes = {}", 64 << 20))
    })
    .await;
    assert_eq!(h.cmd(&["list"]).await, format!("ok {sibling}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_too_small_for_the_component_fail_the_start_with_the_limit_named() {
    let h = Harness::start().await;
    limited(
        &h,
        "table1.toml",
        "child",
        &["message-server"],
        "table_elements = 1",
    );
    let r = h.cmd(&["spawn", "table1.toml"]).await;
    assert!(
        r.starts_with("err") && r.contains("limits.table_elements = 1"),
        "{r}"
    );
    limited(
        &h,
        "mem1.toml",
        "child",
        &["message-server"],
        "memory_bytes = 65536",
    );
    let r = h.cmd(&["spawn", "mem1.toml"]).await;
    assert!(
        r.starts_with("err") && r.contains("limits.memory_bytes = 65536"),
        "{r}"
    );
    assert_eq!(h.cmd(&["list"]).await, "ok ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_never_gets_more_than_its_parent() {
    let h = Harness::start().await;
    let all = ["supervisor", "message-server"];
    limited(
        &h,
        "small-parent.toml",
        "supervisor-parent",
        &all,
        "memory_bytes = 16777216\ncall_timeout_ms = 1000",
    );
    limited(
        &h,
        "greedy.toml",
        "looper",
        &["message-server"],
        "memory_bytes = 33554432",
    );
    limited(
        &h,
        "slow.toml",
        "looper",
        &["message-server"],
        "call_timeout_ms = 5000",
    );
    let parent = h.spawn("small-parent.toml", None).await;
    for (manifest, key) in [
        ("greedy.toml", "memory_bytes"),
        ("slow.toml", "call_timeout_ms"),
    ] {
        let r = cmd(&h.system, &parent, &["spawn", manifest]).await;
        assert!(
            r.starts_with("err permission denied")
                && r.contains(&format!("limits.{key}"))
                && r.contains("its parent's limit"),
            "{manifest}: {r}"
        );
    }
    // A child that sets nothing inherits the parent's limits.
    let eater = cmd(&h.system, &parent, &["spawn", "looper.toml"]).await;
    let eater = eater.strip_prefix("ok ").expect("spawn looper").to_string();
    cmd(&h.system, &parent, &["send", &eater, "eat"]).await;
    wait_callback(&h.system, &parent, "inherited memory limit", |l| {
        l.starts_with(&format!("error {eater} internal"))
            && l.contains("limits.memory_bytes = 16777216")
    })
    .await;
    // A root cannot ask for more than the host has.
    let fx = Fixture::new();
    let root = fx.manifest_with(
        "root.toml",
        "child",
        &["message-server"],
        "[limits]\ncall_timeout_ms = 99999999",
        "",
    );
    let e = h.system.start_root(&root).await.unwrap_err().to_string();
    assert!(
        e.contains("limits.call_timeout_ms") && e.contains("the host's limit"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_caps_live_actors_and_tree_depth() {
    let config = SystemConfig {
        max_actors: 4,
        max_depth: 2,
        ..SystemConfig::default()
    };
    let h = Harness::start_with(config, "").await;
    // Depth: root (0) -> sub-parent (1) -> sub-parent (2) -> refused.
    let mid = h.spawn("sub-parent.toml", None).await;
    let r = cmd(&h.system, &mid, &["spawn", "sub-parent.toml"]).await;
    let low = r.strip_prefix("ok ").expect("depth 2 allowed").to_string();
    let r = cmd(&h.system, &low, &["spawn", "child.toml"]).await;
    assert!(
        r.starts_with("err limit reached: this actor is at depth 2 of the supervision tree"),
        "{r}"
    );
    // Live actors: root + mid + low = 3; one more fits, the next is refused.
    let fourth = h.spawn("child.toml", None).await;
    let r = h.cmd(&["spawn", "child.toml"]).await;
    assert!(
        r.starts_with("err limit reached: the host already runs 4 live actors"),
        "{r}"
    );
    // Stopping one frees its slot.
    assert_eq!(h.cmd(&["stop", &fourth]).await, "ok");
    h.spawn("child.toml", None).await;
    assert_eq!(cmd(&h.system, &low, &["list"]).await, "ok ");
}

/// Median of `n` request round trips to `id` through the root parent.
async fn median_rtt(h: &Harness, id: &str, n: usize) -> Duration {
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let r = h.system.request(id, b"ping".to_vec()).await.expect("ping");
        t.push(start.elapsed());
        assert_eq!(r, b"pong");
    }
    t.sort();
    t[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sibling_keeps_its_round_trip_while_another_child_spins() {
    let h = Harness::start().await;
    limited(
        &h,
        "spin30.toml",
        "looper",
        &["message-server"],
        "call_timeout_ms = 30000",
    );
    let sibling = h.spawn("child.toml", None).await;
    let spinner = h.spawn("spin30.toml", None).await;
    median_rtt(&h, &sibling, 50).await; // warm up
    let idle = median_rtt(&h, &sibling, 300).await;
    h.cmd(&["send", &spinner, "loop"]).await;
    wait_until("the spinner is spinning", || {
        call_started(&h.system, &spinner, "handle-send")
    })
    .await;
    let busy = median_rtt(&h, &sibling, 300).await;
    let ratio = busy.as_secs_f64() / idle.as_secs_f64();
    println!(
        "sibling request round trip: idle {idle:?}, while a child spins {busy:?} ({ratio:.1}x)"
    );
    // A spinning child yields every epoch tick (5 ms) and the runtime has two workers: the
    // sibling is served by the other. Without that, each round trip would wait for a tick
    // (5 ms, several hundred times the idle figure).
    assert!(ratio < 20.0, "idle {idle:?}, busy {busy:?}");
    h.system
        .stop_actor(&spinner)
        .await
        .expect("stop the spinner");
}
