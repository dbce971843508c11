//! The strategies: one-for-one, one-for-all, rest-for-one, simple-one-for-one.

use super::{Tree, child};

fn ids(children: &[super::Child]) -> Vec<String> {
    children.iter().map(|c| c.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_for_one_restarts_only_the_failed_child_fresh() {
    let t = Tree::new();
    let cfg = format!(
        "strategy one-for-one\n{}{}{}",
        child("a", ""),
        child("b", ""),
        child("c", "")
    );
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let before = t.which(&sup).await;
    let names: Vec<&str> = before.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"], "declaration order");
    assert!(before.iter().all(|c| c.status == "running"), "{before:#?}");
    // Started in declaration order: the parent's list-children is in start order.
    let listed: Vec<String> = t.system.actor(&sup).unwrap().children;
    assert_eq!(listed, ids(&before));

    assert_eq!(t.req(&sup, "ask b inc").await, "ok 1");
    assert_eq!(t.req(&sup, "ask b inc").await, "ok 2");
    t.send_to_child(&sup, "b", "fail").await;
    t.wait_event(&sup, "event error b restarted:b", 1).await;

    let after = t.which(&sup).await;
    assert_eq!(
        ids(&after),
        ids(&before),
        "same ids: restart-child keeps them"
    );
    let restarts: Vec<u32> = after.iter().map(|c| c.restarts).collect();
    assert_eq!(restarts, [0, 1, 0]);
    assert!(after.iter().all(|c| c.status == "running"), "{after:#?}");
    assert_eq!(t.req(&sup, "ask b get").await, "ok 0", "fresh state");
    assert!(
        t.chain_types(&after[1].id)
            .contains(&"lifecycle.restart".to_string())
    );
    // The siblings were never touched.
    for c in [&after[0], &after[2]] {
        assert!(
            !t.chain_types(&c.id)
                .iter()
                .any(|e| e.starts_with("lifecycle.stop"))
        );
    }
    assert_eq!(t.req(&sup, "count").await, "ok 3 3 0 0 3");
}
