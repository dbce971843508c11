//! Restart intensity: exceeded in a three-level tree, the failure escalates to the root; every
//! supervisor on the way stops its children newest first.

use super::{Tree, child};
use theater_supervisor::{ActorStatus, RootOutcome};

#[tokio::test(flavor = "multi_thread")]
async fn exceeded_intensity_escalates_through_three_levels_stopping_newest_first() {
    let t = Tree::new();
    // mid: three workers, at most 2 restarts a minute.
    let mid_cfg = format!(
        "strategy one-for-one\nintensity 2 60000\n{}{}{}",
        child("w1", ""),
        child("w2", ""),
        child("w3", "")
    );
    t.supervisor("mid", &mid_cfg);
    // root: a worker, the mid supervisor, another worker; no restarts allowed at all.
    let root_cfg = format!(
        "strategy one-for-one\nintensity 0 60000\n{}child mid mid.toml permanent supervisor\n{}",
        child("s1", ""),
        child("s2", "")
    );
    t.supervisor("root", &root_cfg);
    let root = t.start("root").await;
    assert_eq!(t.req(&root, "count").await, "ok 3 3 0 1 2");
    let mid = t.child(&root, "mid").await.id;
    let s1 = t.child(&root, "s1").await.id;
    let s2 = t.child(&root, "s2").await.id;
    let w1 = t.child(&mid, "w1").await.id;
    let w3 = t.child(&mid, "w3").await.id;

    for n in 1..=2 {
        t.send_to_child(&mid, "w2", "fail").await;
        t.wait_event(&mid, "event error w2 restarted:w2", n).await;
    }
    // The third failure within the window is one restart too many.
    t.send_to_child(&mid, "w2", "fail").await;

    let outcome = t.system.wait_root().await;
    let RootOutcome::Failed(why) = outcome else {
        panic!("the root should fail, not {outcome:?}")
    };
    assert!(why.contains("restart intensity exceeded"), "{why}");

    // mid stopped its live children newest first (w2 had failed), then failed itself.
    assert_eq!(t.stops_by(&mid), [w3.clone(), w1.clone()]);
    t.wait_status(&mid, ActorStatus::Failed).await;
    // The root heard about mid, gave up at once and stopped the rest newest first.
    assert_eq!(t.stops_by(&root), [s2.clone(), s1.clone()]);
    t.wait_status(&root, ActorStatus::Failed).await;
    for id in [&s1, &s2, &w1, &w3] {
        let status = t.system.actor(id).unwrap().status;
        assert_eq!(status, ActorStatus::Stopped, "{id}");
    }
    // The chain says why, at each level.
    let mid_failed = t.system.chain(&mid).unwrap().last().unwrap().clone();
    assert_eq!(mid_failed.event_type, "lifecycle.failed");
    assert!(String::from_utf8_lossy(&mid_failed.data).contains("restart intensity exceeded"));
}
