//! `cargo run -p theater-kv-example`: a host made of the built-in handlers and the example's own
//! `kv` handler, running `examples/kv/demo/root.toml` (a supervisor that restarts a failed
//! child) with a `kv-actor` child. Run `just guests` first.

use std::time::Duration;
use theater_kv_example::KvHandler;
use theater_supervisor::handlers::{
    ChildControlHandler, MessageServerHandler, RecoveryHandler, RuntimeHandler, RuntimeHostConfig,
    SupervisorHandler, SupervisorHostConfig, SupervisorPermissions, TimerHandler,
};
use theater_supervisor::{ActorSystem, SystemConfig};

/// Separates the fields of a request to the `supervisor-parent` test actor.
const SEP: &str = "\u{1f}";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/kv/demo".into());
    let system = ActorSystem::builder(SystemConfig::default())
        .handler(RuntimeHandler::new(RuntimeHostConfig::default()))
        .handler(SupervisorHandler::new(
            SupervisorHostConfig {
                default_max_children: 64,
            },
            Some(SupervisorPermissions::default()),
        ))
        .handler(MessageServerHandler::new())
        .handler(TimerHandler::new())
        .handler(ChildControlHandler::new())
        .handler(RecoveryHandler::new())
        .handler(KvHandler {
            default_max_keys: 16,
        })
        .build()?;

    let root = system.start_root(format!("{dir}/root.toml")).await?;
    let ask = |to: String, msg: String| {
        let system = &system;
        async move {
            match system.request(&to, msg.into_bytes()).await {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => format!("request failed: {e}"),
            }
        }
    };
    ask(root.clone(), format!("policy{SEP}restart")).await;
    let spawned = ask(root.clone(), format!("spawn{SEP}kv.toml")).await;
    let kv = spawned
        .strip_prefix("ok ")
        .ok_or_else(|| anyhow::anyhow!("spawn failed: {spawned}"))?
        .to_string();
    println!("spawned kv-actor {kv}");
    for msg in [
        "set color blue",
        "set size 3",
        "set shape round",
        "get color",
    ] {
        println!("{msg:>16} -> {}", ask(kv.clone(), msg.into()).await);
    }
    println!(
        "{:>16} -> {}",
        "crash",
        ask(kv.clone(), "crash".into()).await
    );
    // The root's restart policy restarts the failed child (same id, a fresh map).
    for _ in 0..500 {
        let records = ask(root.clone(), "callbacks".into()).await;
        if records.contains(&format!("restarted {kv} ok")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("restarted by its supervisor");
    for msg in ["get color", "set color green", "get color"] {
        println!("{msg:>16} -> {}", ask(kv.clone(), msg.into()).await);
    }
    let sets = system
        .chain(&kv)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.event_type == "kv.set")
        .count();
    println!("kv-actor's chain holds {sets} kv.set events");
    system.shutdown().await;
    Ok(())
}
