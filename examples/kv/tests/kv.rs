//! The `kv` example handler on the real host with real components: `supervisor-parent` as the
//! supervising root and `kv-actor` as its child (`just guests` builds both).

use std::path::{Path, PathBuf};
use std::time::Duration;
use theater_kv_example::KvHandler;
use theater_supervisor::{ActorSystem, SystemConfig};

/// Separates the fields of a request to `supervisor-parent`.
const SEP: &str = "\u{1f}";

fn component(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join("target/actors").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `just guests`", p.display());
    p
}

/// A manifest for component `name` with these `[[handler]]` tables (TOML lines).
fn manifest(dir: &Path, file: &str, name: &str, handlers: &str) -> PathBuf {
    let text = format!(
        "name = \"{name}\"\ncomponent = \"{}\"\n{handlers}",
        component(name).display()
    );
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

const SUPERVISOR: &str =
    "[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n";

fn kv(max_keys: Option<u32>) -> String {
    match max_keys {
        Some(n) => format!("[[handler]]\ntype = \"kv\"\nmax_keys = {n}\n"),
        None => "[[handler]]\ntype = \"kv\"\n".into(),
    }
}

fn kv_host() -> ActorSystem {
    ActorSystem::builder(SystemConfig::default())
        .builtin_handlers()
        .handler(KvHandler {
            default_max_keys: 16,
        })
        .build()
        .expect("host")
}

async fn ask(system: &ActorSystem, to: &str, msg: &str) -> String {
    match system.request(to, msg.as_bytes().to_vec()).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("request-failed {e}"),
    }
}

/// A root supervisor (its children may have 4 keys) in a fresh directory.
async fn root(system: &ActorSystem, dir: &Path) -> String {
    let m = manifest(
        dir,
        "root.toml",
        "supervisor-parent",
        &format!("{SUPERVISOR}{}", kv(Some(4))),
    );
    system.start_root(m).await.expect("root starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_handler_works_end_to_end_under_a_supervisor_that_restarts_it() {
    let dir = tempfile::tempdir().unwrap();
    let system = kv_host();
    let root = root(&system, dir.path()).await;
    let handlers = format!("[[handler]]\ntype = \"message-server\"\n{}", kv(Some(2)));
    manifest(dir.path(), "kv.toml", "kv-actor", &handlers);
    assert_eq!(
        ask(&system, &root, &format!("policy{SEP}restart")).await,
        "ok"
    );
    let spawned = ask(&system, &root, &format!("spawn{SEP}kv.toml")).await;
    let child = spawned.strip_prefix("ok ").expect(&spawned).to_string();

    assert_eq!(ask(&system, &child, "set color blue").await, "ok");
    assert_eq!(ask(&system, &child, "set size 3").await, "ok");
    assert_eq!(
        ask(&system, &child, "set color green").await,
        "ok",
        "replacing a key"
    );
    assert_eq!(
        ask(&system, &child, "set shape round").await,
        "err kv: max_keys = 2 reached"
    );
    assert_eq!(ask(&system, &child, "get color").await, "green");
    assert_eq!(ask(&system, &child, "get shape").await, "none");
    // Every set is in the actor's chain, recorded by the handler through the host's API.
    let chain = system.chain(&child).unwrap();
    theater_supervisor::chain::verify(&chain, None).unwrap();
    let sets: Vec<String> = chain
        .iter()
        .filter(|e| e.event_type == "kv.set")
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect();
    assert_eq!(sets.len(), 4, "{sets:#?}");
    assert!(sets[3].contains("\"key\":\"shape\"") && sets[3].contains("\"ok\":false"));

    // It crashes; its supervisor restarts it with the same id and a fresh map.
    let r = ask(&system, &child, "crash").await;
    assert!(
        r.contains("kv-actor crashing on purpose") || r.contains("trapped"),
        "{r}"
    );
    let mut records = String::new();
    for _ in 0..2000 {
        records = ask(&system, &root, "callbacks").await;
        if records.contains(&format!("restarted {child} ok")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        records.contains(&format!("error {child} internal")),
        "{records}"
    );
    assert!(
        records.contains(&format!("restarted {child} ok")),
        "{records}"
    );
    assert_eq!(ask(&system, &child, "get color").await, "none");
    // The grant is kept across the restart: still 2 keys.
    assert_eq!(ask(&system, &child, "set a 1").await, "ok");
    assert_eq!(ask(&system, &child, "set b 2").await, "ok");
    assert_eq!(
        ask(&system, &child, "set c 3").await,
        "err kv: max_keys = 2 reached"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_asking_for_more_max_keys_than_its_parent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let system = kv_host();
    let root = root(&system, dir.path()).await;
    let msg = "[[handler]]\ntype = \"message-server\"\n";
    manifest(
        dir.path(),
        "greedy.toml",
        "kv-actor",
        &format!("{msg}{}", kv(Some(10))),
    );
    let r = ask(&system, &root, &format!("spawn{SEP}greedy.toml")).await;
    assert!(
        r.starts_with("err permission denied:")
            && r.contains("greedy.toml asks for max_keys = 10, above its parent's max_keys = 4"),
        "{r}"
    );
    assert_eq!(
        ask(&system, &root, "list").await,
        "ok ",
        "nothing was started"
    );
    // Unset, a child gets its parent's limit; equal to it is fine.
    manifest(
        dir.path(),
        "plain.toml",
        "kv-actor",
        &format!("{msg}{}", kv(None)),
    );
    let r = ask(&system, &root, &format!("spawn{SEP}plain.toml")).await;
    let child = r.strip_prefix("ok ").expect(&r).to_string();
    for k in ["a", "b", "c", "d"] {
        assert_eq!(ask(&system, &child, &format!("set {k} 1")).await, "ok");
    }
    assert_eq!(
        ask(&system, &child, "set e 1").await,
        "err kv: max_keys = 4 reached"
    );
    manifest(
        dir.path(),
        "equal.toml",
        "kv-actor",
        &format!("{msg}{}", kv(Some(4))),
    );
    let r = ask(&system, &root, &format!("spawn{SEP}equal.toml")).await;
    assert!(r.starts_with("ok "), "{r}");
    // A parent without the handler cannot give it to a child.
    manifest(dir.path(), "sub.toml", "supervisor-parent", SUPERVISOR);
    let r = ask(&system, &root, &format!("spawn{SEP}sub.toml")).await;
    let sub_id = r.strip_prefix("ok ").expect(&r).to_string();
    let r = ask(&system, &sub_id, &format!("spawn{SEP}plain.toml")).await;
    assert!(
        r.contains("asks for the `kv` handler, which its parent does not have"),
        "{r}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_kv_without_the_handler_fails_to_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let system = kv_host();
    let root = root(&system, dir.path()).await;
    manifest(
        dir.path(),
        "no-kv.toml",
        "kv-actor",
        "[[handler]]\ntype = \"message-server\"\n",
    );
    let r = ask(&system, &root, &format!("spawn{SEP}no-kv.toml")).await;
    assert!(
        r.starts_with("err ")
            && r.contains("the component imports example:kv/store but the manifest has no `[[handler]] type = \"kv\"`"),
        "{r}"
    );
    // A host without the kv handler cannot link the component at all, and says which import.
    let plain = ActorSystem::new(SystemConfig::default()).unwrap();
    let no_kv = dir.path().join("no-kv.toml");
    let e = plain.start_root(&no_kv).await.unwrap_err().to_string();
    assert!(
        e.contains("cannot start") && e.contains("example:kv/store"),
        "{e}"
    );
    // Nor does it know the manifest type.
    let with_kv = manifest(dir.path(), "with-kv.toml", "kv-actor", &kv(Some(1)));
    let e = plain.start_root(&with_kv).await.unwrap_err().to_string();
    assert!(
        e.contains("handler type `kv` is not provided by this host (supported: runtime, supervisor, message-server, timer, child-control, recovery, filesystem, environment, http-client, http-server)"),
        "{e}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_setting_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let system = kv_host();
    let root = root(&system, dir.path()).await;
    let msg = "[[handler]]\ntype = \"message-server\"\n";
    for (file, table, want) in [
        (
            "typo.toml",
            "[[handler]]\ntype = \"kv\"\nmax_kyes = 3\n",
            "handler #2: unknown field `max_kyes` for handler type `kv`",
        ),
        (
            "in-config.toml",
            "[[handler]]\ntype = \"kv\"\nconfig = { max_keys = 1, ttl = 5 }\n",
            "handler #2: unknown field `ttl` for handler type `kv`",
        ),
        (
            "string.toml",
            "[[handler]]\ntype = \"kv\"\nmax_keys = \"many\"\n",
            "handler #2: `max_keys` must be an integer, found string",
        ),
    ] {
        manifest(dir.path(), file, "kv-actor", &format!("{msg}{table}"));
        let r = ask(&system, &root, &format!("spawn{SEP}{file}")).await;
        assert!(
            r.starts_with("err invalid manifest") && r.contains(want),
            "{file}: {r}"
        );
        // A root is refused the same way.
        let e = system
            .start_root(dir.path().join(file))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{file}: {e}");
    }
    // The parent is unharmed.
    assert_eq!(ask(&system, &root, "list").await, "ok ");
    system.shutdown().await;
}
