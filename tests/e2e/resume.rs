//! `ActorSystem::resume` from the embedding API: a host dropped with live actors (as if it
//! crashed) and a new one on the same store bring the tree back with the same ids and states;
//! children that ended before the crash are still readable from the store and can be restarted.

use std::sync::Arc;
use theater_supervisor::store::{Durability, SqliteStore, Storage};
use theater_supervisor::{ActorSystem, SystemConfig};
use theater_supervisor_e2e::*;

fn with_store(store: &Arc<SqliteStore>) -> SystemConfig {
    SystemConfig {
        storage: Some(store.clone() as Arc<dyn Storage>),
        ..SystemConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_on_the_same_store_resumes_the_tree() {
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(data.path(), Durability::Process).unwrap());
    let h = Harness::start_with(with_store(&store), "").await;
    let counter = h.spawn("counter.toml", None).await;
    assert_eq!(h.cmd(&["request", &counter, "add 5"]).await, "ok 5");
    let ended = h.spawn("child.toml", None).await;
    assert_eq!(h.cmd(&["request", &ended, "set last words"]).await, "ok ok");
    assert_eq!(h.cmd(&["stop", &ended]).await, "ok");
    let Harness { system, root, fx } = h;
    // The host goes away without stopping anything (its tasks are aborted), like a crash; the
    // store keeps only what was committed.
    drop(system);
    store.close();

    let store = Arc::new(SqliteStore::open(data.path(), Durability::Process).unwrap());
    let system = ActorSystem::new(with_store(&store)).unwrap();
    let report = system.resume().await.unwrap();
    assert_eq!(report.root.as_deref(), Some(root.as_str()));
    assert_eq!(report.resumed, vec![root.clone(), counter.clone()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        cmd(&system, &root, &["list"]).await,
        format!("ok {counter}")
    );
    // The counter continues from its stored state, under the same id.
    assert_eq!(
        cmd(&system, &root, &["request", &counter, "inc"]).await,
        "ok 6"
    );
    // The child that ended before the crash: state and events come from the store.
    assert_eq!(
        cmd(&system, &root, &["state", &ended]).await,
        "ok some last words"
    );
    let events = cmd(&system, &root, &["events", &ended]).await;
    assert!(events.starts_with("ok "), "{events}");
    // ... and it can be restarted under its id, fresh from its start arguments, its chain
    // continuing the stored one.
    let stored_len = store.events(&ended, 0).unwrap().len();
    assert_eq!(cmd(&system, &root, &["restart", &ended]).await, "ok");
    assert_eq!(
        cmd(&system, &root, &["list"]).await,
        format!("ok {counter},{ended}")
    );
    assert_eq!(
        cmd(&system, &root, &["request", &ended, "state"]).await,
        "ok none"
    );
    let chain = system.chain(&ended).unwrap();
    theater_supervisor::chain::verify(&chain, None).unwrap();
    assert!(
        chain.len() > stored_len,
        "the chain goes on after the stored events"
    );
    assert_eq!(chain[stored_len].event_type, "lifecycle.restart");
    // An id the store does not know is still refused.
    let r = cmd(
        &system,
        &root,
        &["restart", "00000000-0000-4000-8000-000000000000"],
    )
    .await;
    assert!(r.starts_with("err unknown child id"), "{r}");
    // Each chain continues the stored one and verifies; the parent was told (it does not
    // export the recovery handler, so its chain records that).
    for id in [&root, &counter] {
        let chain = system.chain(id).unwrap();
        theater_supervisor::chain::verify(&chain, None).unwrap();
        let recovered = chain
            .iter()
            .filter(|e| {
                e.event_type == "lifecycle.start"
                    && String::from_utf8_lossy(&e.data).contains("\"recovered\":true")
            })
            .count();
        assert_eq!(recovered, 1, "{id}");
    }
    wait_until("the parent hears about the recovered child", || {
        system.chain(&root).unwrap().iter().any(|e| {
            e.event_type == "callback.not-exported"
                && String::from_utf8_lossy(&e.data).contains("handle-child-recovered")
        })
    })
    .await;
    system.shutdown().await;
    drop(fx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_without_a_store_or_a_live_tree_says_so() {
    let e = ActorSystem::new(SystemConfig::default())
        .unwrap()
        .resume()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("resume needs a store"), "{e}");
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(data.path(), Durability::Process).unwrap());
    let report = ActorSystem::new(with_store(&store))
        .unwrap()
        .resume()
        .await
        .unwrap();
    assert!(report.root.is_none() && report.resumed.is_empty());
}
