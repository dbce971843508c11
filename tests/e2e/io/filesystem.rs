//! `filesystem`: a `wasm32-wasip2` actor reading and writing with plain `std::fs` inside its
//! preopens, refused everywhere else; a child gets only directories inside its parent's.

use super::events_of;
use std::path::Path;
use theater_supervisor::{ActorSystem, SystemConfig};
use theater_supervisor_e2e::{Fixture, cmd, component};

async fn ask(system: &ActorSystem, id: &str, msg: &str) -> String {
    match system.request(id, msg.as_bytes().to_vec()).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("request-failed {e}"),
    }
}

/// `data/` (the probe may write), `ro/hello.txt`, `outside/secret.txt`, and the symlink
/// `data/link` -> `../outside` (a way out of `data`).
fn files(fx: &Fixture) {
    fx.write("data/sub/keep", "");
    fx.write("ro/hello.txt", "hi");
    fx.write("outside/secret.txt", "secret");
    std::os::unix::fs::symlink("../outside", fx.dir().join("data/link")).unwrap();
}

fn probe_manifest(name: &str, dirs: &str) -> String {
    format!(
        "name = \"{name}\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n[[handler]]\ntype = \"filesystem\"\ndirs = [{dirs}]\n",
        component("wasi-probe").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_reads_and_writes_only_inside_its_preopens() {
    let fx = Fixture::new();
    files(&fx);
    let m = fx.write(
        "probe.toml",
        probe_manifest(
            "probe",
            r#"{ host = "data", guest = "/data", write = true }, { host = "ro", guest = "/ro" }"#,
        ),
    );
    let system = ActorSystem::new(SystemConfig::default()).unwrap();
    let id = system.start_root(&m).await.unwrap();
    let ask = |msg: &'static str| ask(&system, &id, msg);

    assert_eq!(ask("read /ro/hello.txt").await, "ok hi");
    assert_eq!(ask("write /data/new.txt fresh").await, "ok written");
    assert_eq!(
        std::fs::read_to_string(fx.dir().join("data/new.txt")).unwrap(),
        "fresh"
    );
    assert_eq!(ask("ls /data").await, "ok link,new.txt,sub");

    // A read-only directory: no new file, no write, no removal, no new directory.
    for (msg, gone) in [
        ("write /ro/x.txt no", Some("ro/x.txt")),
        ("append /ro/hello.txt more", None),
        ("rm /ro/hello.txt", None),
        ("mkdir /ro/d", Some("ro/d")),
    ] {
        let r = ask(msg).await;
        assert!(r.starts_with("err "), "{msg}: {r}");
        if let Some(p) = gone {
            assert!(!fx.dir().join(p).exists(), "{msg} created {p}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(fx.dir().join("ro/hello.txt")).unwrap(),
        "hi"
    );

    // Nothing outside the preopens: `..`, absolute paths elsewhere, a symlink out.
    let outside = fx.dir().join("outside/secret.txt");
    for msg in [
        "read /data/../outside/secret.txt".to_string(),
        "read /data/sub/../../outside/secret.txt".to_string(),
        "read /outside/secret.txt".to_string(),
        format!("read {}", outside.display()),
        "read /data/link/secret.txt".to_string(),
        "write /data/link/planted.txt x".to_string(),
        "read /etc/passwd".to_string(),
    ] {
        let r = ask_owned(&system, &id, &msg).await;
        assert!(r.starts_with("err ") && !r.contains("secret"), "{msg}: {r}");
    }
    assert!(!fx.dir().join("outside/planted.txt").exists());

    // Every open is in the chain: path, read/write, outcome.
    let opens = events_of(&system, &id, "fs.open");
    let find = |path: &str| {
        opens
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("no fs.open of {path}: {opens:#?}"))
    };
    assert_eq!(find("/ro/hello.txt")["mode"], "read");
    assert_eq!(find("/ro/hello.txt")["ok"], true);
    assert_eq!(find("/data/new.txt")["mode"], "write");
    assert_eq!(find("/ro/x.txt")["ok"], false);
    assert_eq!(find("/data/link/secret.txt")["ok"], false);
    theater_supervisor::chain::verify(&system.chain(&id).unwrap(), None).unwrap();
    system.shutdown().await;
}

async fn ask_owned(system: &ActorSystem, id: &str, msg: &str) -> String {
    ask(system, id, msg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_gets_only_directories_inside_its_parents_writable_only_where_they_are() {
    let fx = Fixture::new();
    files(&fx);
    fx.write(
        "parent.toml",
        format!(
            "name = \"parent\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n[[handler]]\ntype = \"filesystem\"\ndirs = [{{ host = \"data\", guest = \"/data\", write = true }}, {{ host = \"ro\", guest = \"/ro\" }}]\n",
            component("supervisor-parent").display()
        ),
    );
    let child = |file: &str, dirs: &str| {
        fx.write(
            file,
            probe_manifest(Path::new(file).file_stem().unwrap().to_str().unwrap(), dirs),
        );
    };
    child(
        "sub.toml",
        r#"{ host = "data/sub", guest = "/s", write = true }"#,
    );
    child("ro-read.toml", r#"{ host = "ro", guest = "/r" }"#);
    child(
        "ro-write.toml",
        r#"{ host = "ro", guest = "/r", write = true }"#,
    );
    child("outside.toml", r#"{ host = "outside", guest = "/o" }"#);
    child("symlink.toml", r#"{ host = "data/link", guest = "/o" }"#);
    child("dotdot.toml", r#"{ host = "data/..", guest = "/o" }"#);
    let system = ActorSystem::new(SystemConfig::default()).unwrap();
    let root = system
        .start_root(fx.dir().join("parent.toml"))
        .await
        .unwrap();

    let ok = |r: String| {
        r.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{r}"))
            .to_string()
    };
    let sub = ok(cmd(&system, &root, &["spawn", "sub.toml"]).await);
    assert_eq!(ask(&system, &sub, "write /s/x.txt y").await, "ok written");
    assert_eq!(
        std::fs::read_to_string(fx.dir().join("data/sub/x.txt")).unwrap(),
        "y"
    );
    let ro = ok(cmd(&system, &root, &["spawn", "ro-read.toml"]).await);
    assert_eq!(ask(&system, &ro, "read /r/hello.txt").await, "ok hi");

    let canon = |p: &str| fx.dir().canonicalize().unwrap().join(p);
    let refused = [
        (
            "ro-write.toml",
            format!(
                "asks to write to filesystem dir `ro` (resolved to {}), but its parent may only read there",
                canon("ro").display()
            ),
        ),
        (
            "outside.toml",
            format!(
                "asks for filesystem dir `outside` (resolved to {}), which is not inside any directory its parent has",
                canon("outside").display()
            ),
        ),
        (
            "symlink.toml",
            format!(
                "asks for filesystem dir `data/link` (resolved to {}), which is not inside any directory its parent has",
                canon("outside").display()
            ),
        ),
        (
            "dotdot.toml",
            "asks for filesystem dir `data/..`".to_string(),
        ),
    ];
    for (file, want) in refused {
        let r = cmd(&system, &root, &["spawn", file]).await;
        assert!(
            r.starts_with("err ") && r.contains("permission denied") && r.contains(&want),
            "{file}: {r}"
        );
    }
    system.shutdown().await;
}
