//! Compositions: what a composed parent imports, and a parent composed in the test with the
//! `wac-graph` crate (the same graph `wac plug` builds) running on the host.

use super::{Tree, adapter_component, child, composed};
use std::path::Path;
use theater_supervisor_e2e::manifest_text;
use wac_graph::types::{Package, Types};
use wac_graph::{CompositionGraph, EncodeOptions};

/// The import names of a component.
fn imports(path: &Path) -> Vec<String> {
    let mut types = Types::default();
    let pkg = Package::from_file("test:component", None, path, &mut types)
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    types[pkg.ty()].imports.keys().cloned().collect()
}

fn assert_only_raw_imports(what: &str, imports: &[String]) {
    assert!(!imports.is_empty(), "{what} imports nothing?");
    for i in imports {
        assert!(
            i.starts_with("theater:simple/") || i.starts_with("theater:extension/"),
            "{what} imports `{i}`: a composed parent may import only theater:simple/* and theater:extension/*"
        );
    }
}

#[test]
fn composed_parents_import_only_the_raw_interfaces_and_the_extension() {
    // Before composition the parent imports the high-level API...
    let raw = imports(&adapter_component("test-supervisor"));
    assert!(
        raw.iter().any(|i| i == "theater:supervision/supervisor"),
        "{raw:?}"
    );
    // ...the adapter provides it from the raw interfaces...
    let adapter = imports(&adapter_component("supervision-adapter"));
    assert_only_raw_imports("the adapter", &adapter);
    // ...and after `wac plug` / `wac compose` nothing of theater:supervision is left.
    for name in [
        "test-supervisor",
        "example-supervisor",
        "example-supervisor.wac",
    ] {
        let imports = imports(&composed(name));
        assert_only_raw_imports(name, &imports);
        assert!(
            imports.iter().any(|i| i == "theater:simple/supervisor"),
            "{name}: {imports:?}"
        );
    }
}

/// Plugs the adapter into a parent with `wac-graph`, as `wac plug` does, exporting everything
/// the parent exports.
fn compose_with_wac_graph(adapter: &Path, parent: &Path) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let pkg = Package::from_file("theater:adapter", None, adapter, graph.types_mut())?;
    let adapter = graph.register_package(pkg)?;
    let pkg = Package::from_file("theater:parent", None, parent, graph.types_mut())?;
    let parent_exports: Vec<String> = graph.types()[pkg.ty()].exports.keys().cloned().collect();
    let parent = graph.register_package(pkg)?;

    let adapter = graph.instantiate(adapter);
    let api = graph.alias_instance_export(adapter, "theater:supervision/supervisor")?;
    let parent = graph.instantiate(parent);
    graph.set_instantiation_argument(parent, "theater:supervision/supervisor", api)?;
    for name in parent_exports {
        let export = graph.alias_instance_export(parent, &name)?;
        graph.export(export, &name)?;
    }
    Ok(graph.encode(EncodeOptions::default())?)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_composed_with_wac_graph_supervises_on_the_host() {
    let t = Tree::new();
    let bytes = compose_with_wac_graph(
        &adapter_component("supervision-adapter"),
        &adapter_component("test-supervisor"),
    )
    .expect("wac-graph composes the adapter into the parent");
    let path = t.fx.write("graph-composed.wasm", bytes);
    assert_only_raw_imports("the wac-graph composition", &imports(&path));

    t.supervisor_component(
        "sup",
        &format!("{}{}", child("a", ""), child("b", "")),
        &path,
    );
    let sup = t.start("sup").await;
    let before = t.child(&sup, "b").await;
    t.send_to_child(&sup, "b", "trap").await;
    t.wait_event(&sup, "event error b restarted:b", 1).await;
    let after = t.child(&sup, "b").await;
    assert_eq!(after.id, before.id, "a fresh restart keeps the id");
    assert_eq!((after.status.as_str(), after.restarts), ("running", 1));
}

/// The README walkthrough's last step: the SDK example, composed by `wac plug` (and by
/// `wac compose` from `compose/example-supervisor.wac`), runs its scenario and shuts down.
#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_example_runs_composed_by_wac_plug_and_by_wac_compose() {
    use std::sync::{Arc, Mutex};
    use theater_supervisor::{ActorSystem, RootOutcome, SystemConfig};
    let demo = theater_supervisor_e2e::repo_root().join("demo/supervised");
    // The `.wac` composition, with the same manifests in a fixture directory.
    let fx = theater_supervisor_e2e::Fixture::new();
    let worker = adapter_component("example-worker");
    fx.write("worker.toml", manifest_text("worker", &worker, &[], "", ""));
    let text = manifest_text(
        "example-supervisor",
        &composed("example-supervisor.wac"),
        &["supervisor", "message-server"],
        "",
        "",
    );
    let wac_path = fx.write("supervisor.toml", text);
    for manifest in [demo.join("supervisor.toml"), wac_path.clone()] {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let config = SystemConfig {
            log_sink: Some(Arc::new(move |l| {
                sink.lock().unwrap().push(l.message.clone());
            })),
            ..Default::default()
        };
        let system = ActorSystem::new(config).unwrap();
        system
            .start_root(&manifest)
            .await
            .expect("the example starts");
        let outcome = system.wait_root().await;
        assert_eq!(
            outcome,
            RootOutcome::Shutdown(Some(b"example finished".to_vec()))
        );
        let lines = lines.lock().unwrap().clone();
        for expected in [
            "counter at 2",
            "ledger at 101",
            "supervisor: restarted counter",
            "supervisor: restarted ledger",
            "counter at 0 (fresh)",
            "ledger at 101 (resumed)",
            "supervisor: `job` exited; not restarted (transient)",
            "children: counter running (restarts: 1), ledger running (restarts: 1), job stopped (restarts: 0)",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{}: no line `{expected}` in {lines:#?}",
                manifest.display()
            );
        }
    }
}

/// The SDK's channels and out-of-band answers (`theater_supervision::messaging`), in the example
/// supervisor: a `hold` request waits until `release` answers it, and a channel opened to it by
/// another actor gets every message echoed back.
#[tokio::test(flavor = "multi_thread")]
async fn an_sdk_supervisor_answers_later_and_talks_on_channels() {
    use std::sync::Arc;
    use theater_supervisor::{ActorSystem, SystemConfig};
    use theater_supervisor_e2e::{ask, component, peer_log, wait_until};
    let fx = theater_supervisor_e2e::Fixture::new();
    let worker = adapter_component("example-worker");
    fx.write("worker.toml", manifest_text("worker", &worker, &[], "", ""));
    let sup = fx.write(
        "supervisor.toml",
        manifest_text(
            "example-supervisor",
            &composed("example-supervisor"),
            &["supervisor", "message-server"],
            "",
            "",
        ),
    );
    let peer = fx.write(
        "peer.toml",
        manifest_text("peer", &component("peer"), &["message-server"], "", ""),
    );
    let config = SystemConfig {
        inherit_stdio: false,
        ..Default::default()
    };
    let system = Arc::new(ActorSystem::new(config).unwrap());
    // The example runs its scenario for about 600 ms, then shuts down: all of this fits.
    let ex = system.start_root(&sup).await.expect("the example starts");
    let p = system.start_root(&peer).await.expect("a peer starts");
    let (s, id) = (system.clone(), ex.clone());
    let held = tokio::spawn(async move { s.request(&id, b"hold".to_vec()).await });
    wait_until("the held request to be outstanding", || {
        system
            .chain(&ex)
            .unwrap()
            .iter()
            .any(|e| e.event_type == "request.outstanding")
    })
    .await;
    assert_eq!(ask(&system, &ex, "release done").await, "released 1");
    assert_eq!(held.await.unwrap().unwrap(), b"done");
    let r = ask(&system, &p, &format!("open {ex} hi")).await;
    let ch = r.strip_prefix("ok ").unwrap_or_else(|| panic!("open: {r}"));
    assert_eq!(ask(&system, &p, &format!("say {ch} hello")).await, "ok");
    let want = format!("msg {ch} echo: hello");
    for _ in 0..200 {
        if peer_log(&system, &p).await.contains(&want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("no echo: {:?}", peer_log(&system, &p).await);
}
