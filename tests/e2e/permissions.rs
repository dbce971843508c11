//! CONTRACT §6 permissions: max_children, allowed_manifests (with `..`, absolute paths and
//! symlinks), missing handlers, and "a child never gets more than its parent".

use theater_supervisor::{ActorSystem, SystemConfig};
use theater_supervisor_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_children_limits_live_children_only() {
    let h = Harness::start_with(SystemConfig::default(), "max_children = 2").await;
    let a = h.spawn("child.toml", None).await;
    h.spawn("child.toml", None).await;
    let r = h.cmd(&["spawn", "child.toml"]).await;
    assert!(
        r.starts_with("err permission denied: max_children = 2 reached"),
        "{r}"
    );
    assert_eq!(h.cmd(&["stop", &a]).await, "ok");
    h.spawn("child.toml", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_manifests_refuses_paths_outside_the_tree() {
    let outer = Fixture::new();
    let outside = outer.manifest("elsewhere.toml", "child", &["message-server"]);
    let h = Harness::start_with(SystemConfig::default(), "allowed_manifests = [\"kids/**\"]").await;
    h.fx.manifest("kids/ok.toml", "child", &["message-server"]);
    h.spawn("kids/ok.toml", None).await;
    // Beside the parent but not under kids/.
    let r = h.cmd(&["spawn", "child.toml"]).await;
    assert!(
        r.starts_with("err permission denied") && r.contains("kids/**"),
        "{r}"
    );
    // `..` out of the tree.
    let rel = format!(
        "kids/../../{}",
        outside
            .strip_prefix(outer.dir().parent().unwrap())
            .unwrap()
            .display()
    );
    let r = h.cmd(&["spawn", &rel]).await;
    assert!(r.starts_with("err permission denied"), "dotdot: {r}");
    // An absolute path.
    let r = h.cmd(&["spawn", outside.to_str().unwrap()]).await;
    assert!(r.starts_with("err permission denied"), "absolute: {r}");
    // A symlink inside the tree pointing outside it.
    std::os::unix::fs::symlink(&outside, h.fx.dir().join("kids/link.toml")).unwrap();
    let r = h.cmd(&["spawn", "kids/link.toml"]).await;
    assert!(r.starts_with("err permission denied"), "symlink: {r}");
    // A symlinked directory too.
    std::os::unix::fs::symlink(outer.dir(), h.fx.dir().join("kids/dir")).unwrap();
    let r = h.cmd(&["spawn", "kids/dir/elsewhere.toml"]).await;
    assert!(r.starts_with("err permission denied"), "symlinked dir: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_allowed_tree_is_the_manifest_directory() {
    let outer = Fixture::new();
    let outside = outer.manifest("elsewhere.toml", "child", &["message-server"]);
    let h = Harness::start().await;
    h.fx.manifest("deep/er/child.toml", "child", &["message-server"]);
    h.spawn("deep/er/child.toml", None).await;
    let r = h.cmd(&["spawn", outside.to_str().unwrap()]).await;
    assert!(r.starts_with("err permission denied"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_never_gets_more_than_its_parent() {
    let h = Harness::start_with(SystemConfig::default(), "max_children = 4").await;
    // More max_children than the parent.
    h.fx.manifest_with(
        "greedy.toml",
        "supervisor-parent",
        &["supervisor", "message-server"],
        "",
        "max_children = 10",
    );
    let r = h.cmd(&["spawn", "greedy.toml"]).await;
    assert!(
        r.contains("permission denied") && r.contains("max_children = 10"),
        "{r}"
    );
    // A sub-parent without message-server cannot grant it to its child.
    h.fx.manifest("no-msg.toml", "spawner", &["supervisor"]);
    let r = h.cmd(&["spawn", "no-msg.toml", "child.toml"]).await;
    assert!(
        r.contains("message-server-host") || r.contains("`message-server` handler"),
        "{r}"
    );
    // Grandchildren are bounded by the grandparent's allowed tree as well.
    let h2 = Harness::start_with(
        SystemConfig::default(),
        "allowed_manifests = [\"sub.toml\", \"kids/**\"]",
    )
    .await;
    h2.fx.manifest(
        "sub.toml",
        "supervisor-parent",
        &["supervisor", "message-server"],
    );
    h2.fx.manifest("kids/c.toml", "child", &["message-server"]);
    let sub = h2.spawn("sub.toml", None).await;
    let r = cmd(&h2.system, &sub, &["spawn", "child.toml"]).await;
    assert!(
        r.starts_with("err permission denied"),
        "sub's own tree is fine but the root's is not: {r}"
    );
    let r = cmd(&h2.system, &sub, &["spawn", "kids/c.toml"]).await;
    assert!(r.starts_with("ok "), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_supervisor_without_the_handler_fails_to_start_naming_it() {
    let h = Harness::start().await;
    h.fx.manifest(
        "unprivileged.toml",
        "supervisor-parent",
        &["message-server"],
    );
    let r = h.cmd(&["spawn", "unprivileged.toml"]).await;
    assert!(
        r.contains("imports theater:simple/supervisor") && r.contains("type = \"supervisor\""),
        "{r}"
    );
    // Same for a root actor.
    let system = ActorSystem::new(SystemConfig::default()).unwrap();
    let err = system
        .start_root(h.fx.dir().join("unprivileged.toml"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("type = \"supervisor\""), "{err}");
}
