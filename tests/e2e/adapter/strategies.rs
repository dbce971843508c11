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

#[tokio::test(flavor = "multi_thread")]
async fn one_for_all_stops_the_others_newest_first_and_restarts_all_in_order() {
    let t = Tree::new();
    let cfg = format!(
        "strategy one-for-all\n{}{}{}",
        child("a", ""),
        child("b", ""),
        child("c", "")
    );
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let before = t.which(&sup).await;
    for name in ["a", "b", "c"] {
        assert_eq!(t.req(&sup, &format!("ask {name} inc")).await, "ok 1");
    }
    t.send_to_child(&sup, "b", "fail").await;
    t.wait_event(&sup, "event error b restarted:a,b,c", 1).await;

    // The others were stopped newest first; their exits were the adapter's own doing.
    assert_eq!(
        t.stops_by(&sup),
        [before[2].id.clone(), before[0].id.clone()]
    );
    t.wait_event(&sup, "event exit a ignored", 1).await;
    t.wait_event(&sup, "event exit c ignored", 1).await;
    let after = t.which(&sup).await;
    assert_eq!(ids(&after), ids(&before));
    assert!(
        after
            .iter()
            .all(|c| c.status == "running" && c.restarts == 1),
        "{after:#?}"
    );
    for name in ["a", "b", "c"] {
        assert_eq!(
            t.req(&sup, &format!("ask {name} get")).await,
            "ok 0",
            "{name} is fresh"
        );
    }
    // Restarted in start order: the parent's children are listed a, b, c again.
    assert_eq!(t.system.actor(&sup).unwrap().children, ids(&before));
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    let t = Tree::new();
    let cfg = format!(
        "strategy rest-for-one\n{}{}{}{}",
        child("a", ""),
        child("b", ""),
        child("c", ""),
        child("d", "")
    );
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let before = t.which(&sup).await;
    t.send_to_child(&sup, "b", "trap").await;
    t.wait_event(&sup, "event error b restarted:b,c,d", 1).await;

    assert_eq!(
        t.stops_by(&sup),
        [before[3].id.clone(), before[2].id.clone()]
    );
    let after = t.which(&sup).await;
    let restarts: Vec<u32> = after.iter().map(|c| c.restarts).collect();
    assert_eq!(restarts, [0, 1, 1, 1]);
    assert!(after.iter().all(|c| c.status == "running"), "{after:#?}");
    assert!(
        !t.chain_types(&before[0].id)
            .iter()
            .any(|e| e.starts_with("lifecycle.stop")),
        "a was started before b and is left alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_one_for_one_starts_dynamic_children_up_to_the_maximum() {
    let t = Tree::new();
    t.supervisor(
        "sup",
        "strategy simple-one-for-one\nmax 3\nchild w worker.toml permanent bytes=7\n",
    );
    let sup = t.start("sup").await;
    assert!(
        t.which(&sup).await.is_empty(),
        "no child before start-dynamic-child"
    );

    let first = t.req(&sup, "dynamic 5").await;
    assert!(first.starts_with("ok "), "{first}");
    assert!(t.req(&sup, "dynamic").await.starts_with("ok "));
    assert!(t.req(&sup, "dynamic 9").await.starts_with("ok "));
    let full = t.req(&sup, "dynamic").await;
    assert!(full.starts_with("err max-children reached"), "{full}");
    let names: Vec<String> = t.which(&sup).await.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["w-1", "w-2", "w-3"]);
    assert_eq!(
        t.req(&sup, "ask w-1 get").await,
        "ok 5",
        "its own start bytes"
    );
    assert_eq!(t.req(&sup, "ask w-2 get").await, "ok 7", "the template's");
    assert!(
        t.req(&sup, "start-child x worker.toml")
            .await
            .starts_with("err ")
    );

    // Restarted one for one, like any child.
    t.send_to_child(&sup, "w-2", "fail").await;
    t.wait_event(&sup, "event error w-2 restarted:w-2", 1).await;
    assert_eq!(t.req(&sup, "count").await, "ok 3 3 0 0 3");

    // Terminating one removes it and makes room for another.
    assert_eq!(
        t.req(&sup, &format!("terminate {}", &first[3..])).await,
        "ok"
    );
    assert!(t.req(&sup, "dynamic").await.starts_with("ok "));
    let names: Vec<String> = t.which(&sup).await.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["w-2", "w-3", "w-4"]);
}
