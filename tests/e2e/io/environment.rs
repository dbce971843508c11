//! `environment`: `std::env` in a `wasm32-wasip2` actor sees exactly its manifest's `vars`.

use theater_supervisor::{ActorSystem, SystemConfig};
use theater_supervisor_e2e::{Fixture, cmd, component};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_sees_exactly_its_own_manifests_variables() {
    let fx = Fixture::new();
    fx.write(
        "parent.toml",
        format!(
            "name = \"parent\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n[[handler]]\ntype = \"environment\"\nvars = {{ PARENT_ONLY = \"p\" }}\n",
            component("supervisor-parent").display()
        ),
    );
    let probe = |vars: &str| {
        format!(
            "name = \"probe\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n{vars}",
            component("wasi-probe").display()
        )
    };
    fx.write(
        "with-vars.toml",
        probe("[[handler]]\ntype = \"environment\"\nvars = { GREETING = \"hello world\", MODE = \"test\", EMPTY = \"\" }\n"),
    );
    fx.write("without.toml", probe(""));
    let system = ActorSystem::new(SystemConfig::default()).unwrap();
    let root = system
        .start_root(fx.dir().join("parent.toml"))
        .await
        .unwrap();
    let ask = async |id: &str, msg: &str| {
        String::from_utf8_lossy(&system.request(id, msg.as_bytes().to_vec()).await.unwrap())
            .into_owned()
    };
    let spawn = async |m: &str| {
        let r = cmd(&system, &root, &["spawn", m]).await;
        r.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{r}"))
            .to_string()
    };
    // Its own variables, sorted; nothing of the parent's or of the host's (no PATH, HOME).
    let with = spawn("with-vars.toml").await;
    assert_eq!(
        ask(&with, "env").await,
        "ok EMPTY=\nGREETING=hello world\nMODE=test"
    );
    assert_eq!(ask(&with, "var GREETING").await, "ok hello world");
    // Without the handler listed: an empty environment.
    let without = spawn("without.toml").await;
    assert_eq!(ask(&without, "env").await, "ok ");
    assert!(ask(&without, "var PATH").await.starts_with("err "));
    system.shutdown().await;
}
