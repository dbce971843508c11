//! CONTRACT §3 errors: each bad request fails that one call with a message a person can act on,
//! and the caller and its other children keep running.

use theater_supervisor_e2e::*;

/// After an error the parent still answers and its live child still works.
async fn still_healthy(h: &Harness, live: &str) {
    assert_eq!(h.cmd(&["request", live, "ping"]).await, "ok pong");
    assert!(h.cmd(&["list"]).await.contains(live));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_manifest_names_the_path_tried() {
    let h = Harness::start().await;
    let live = h.spawn("child.toml", None).await;
    let r = h.cmd(&["spawn", "nope/missing.toml"]).await;
    assert!(
        r.starts_with("err manifest not found") && r.contains("nope/missing.toml"),
        "{r}"
    );
    let r = h.cmd(&["resume", "missing.toml", "x"]).await;
    assert!(r.starts_with("err manifest not found"), "{r}");
    still_healthy(&h, &live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_toml_gives_the_parser_message() {
    let h = Harness::start().await;
    let live = h.spawn("child.toml", None).await;
    h.fx.write("broken.toml", "name = \"x\"\ncomponent = [unclosed\n");
    let r = h.cmd(&["spawn", "broken.toml"]).await;
    assert!(
        r.starts_with("err invalid manifest") && r.contains("broken.toml"),
        "{r}"
    );
    h.fx.write("typed.toml", "name = \"x\"\ncomponent = 7\n");
    let r = h.cmd(&["spawn", "typed.toml"]).await;
    assert!(r.contains("`component` must be a string"), "{r}");
    h.fx.write(
        "unknown-handler.toml",
        format!(
            "name = \"x\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"http-framework\"\n",
            component("child").display()
        ),
    );
    let r = h.cmd(&["spawn", "unknown-handler.toml"]).await;
    assert!(
        r.contains("handler type `http-framework` is not provided by this host"),
        "{r}"
    );
    still_healthy(&h, &live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_component_is_refused_with_the_reason() {
    let h = Harness::start().await;
    let live = h.spawn("child.toml", None).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"this is not wasm at all".to_vec(),
            "not a WebAssembly component",
        ),
        (
            "core",
            wat::parse_str("(module)").unwrap(),
            "core WebAssembly module, not a component",
        ),
        (
            "no-actor",
            wat::parse_str("(component)").unwrap(),
            "does not export `theater:simple/actor`",
        ),
        (
            "unknown-import",
            wat::parse_str(
                r#"(component (import "acme:unknown/thing" (instance (export "f" (func)))))"#,
            )
            .unwrap(),
            "acme:unknown/thing",
        ),
    ];
    for (name, bytes, expect) in cases {
        let comp = h.fx.write(&format!("{name}.wasm"), bytes);
        h.fx.write(
            &format!("{name}.toml"),
            manifest_text(name, &comp, &[], "", ""),
        );
        let r = h.cmd(&["spawn", &format!("{name}.toml")]).await;
        assert!(r.starts_with("err ") && r.contains(expect), "{name}: {r}");
    }
    still_healthy(&h, &live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_child_id_is_reported_by_every_operation() {
    let h = Harness::start().await;
    for op in ["stop", "restart", "state", "events"] {
        let r = h.cmd(&[op, "00000000-0000-4000-8000-000000000000"]).await;
        assert!(r.starts_with("err unknown child id"), "{op}: {r}");
        let r = h.cmd(&[op, ""]).await;
        assert!(r.starts_with("err unknown child id"), "{op} empty id: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_may_never_touch_another_actors_children() {
    let h = Harness::start().await;
    let sub = h.spawn("sub-parent.toml", None).await;
    let grandchild = cmd(&h.system, &sub, &["spawn", "child.toml"]).await;
    let grandchild = grandchild.strip_prefix("ok ").unwrap().to_string();
    let mine = h.spawn("child.toml", None).await;
    for op in ["stop", "restart", "state", "events"] {
        let r = h.cmd(&[op, &grandchild]).await;
        assert!(
            r.contains("not a child of this actor"),
            "root {op} grandchild: {r}"
        );
        let r = cmd(&h.system, &sub, &[op, &mine]).await;
        assert!(
            r.contains("not a child of this actor"),
            "sub {op} sibling: {r}"
        );
        let r = cmd(&h.system, &sub, &[op, &h.root]).await;
        assert!(
            r.contains("not a child of this actor"),
            "sub {op} its parent: {r}"
        );
    }
    assert_eq!(
        cmd(&h.system, &sub, &["request", &grandchild, "ping"]).await,
        "ok pong"
    );
    still_healthy(&h, &mine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_parent_command_fails_only_that_parent() {
    let h = Harness::start().await;
    let sub = h.spawn("sub-parent.toml", None).await;
    let live = h.spawn("child.toml", None).await;
    let r = cmd(&h.system, &sub, &["trap"]).await;
    assert!(r.starts_with("request-failed"), "{r}");
    h.wait_callback("sub failed", |l| {
        l.starts_with(&format!("error {sub} internal"))
    })
    .await;
    still_healthy(&h, &live).await;
}
