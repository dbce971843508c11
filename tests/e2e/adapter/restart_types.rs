//! Restart types: permanent always, transient only after a failure, temporary never.

use super::{Tree, child};

#[tokio::test(flavor = "multi_thread")]
async fn after_a_normal_exit_only_permanent_children_restart() {
    let t = Tree::new();
    let cfg = format!(
        "{}{}{}",
        child("p", "permanent"),
        child("t", "transient"),
        child("x", "temporary")
    );
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    let t_id = t.child(&sup, "t").await.id;
    for name in ["p", "t", "x"] {
        t.send_to_child(&sup, name, "exit done").await;
    }
    t.wait_event(&sup, "event exit p restarted:p", 1).await;
    t.wait_event(&sup, "event exit t kept-down", 1).await;
    t.wait_event(&sup, "event exit x removed", 1).await;

    let which = t.which(&sup).await;
    let names: Vec<&str> = which.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["p", "t"], "the temporary child's spec is gone");
    assert_eq!(
        (which[0].status.as_str(), which[0].restarts),
        ("running", 1)
    );
    assert_eq!(
        (which[1].status.as_str(), which[1].restarts),
        ("stopped", 0)
    );
    assert_eq!(which[1].id, t_id, "a stopped child keeps its last id");
    assert_eq!(t.req(&sup, "count").await, "ok 2 1 0 0 2");

    // A stopped transient child can be restarted by hand, then deleted once stopped again.
    assert_eq!(t.req(&sup, "delete t").await.split(' ').next(), Some("ok"));
    assert_eq!(t.which(&sup).await.len(), 1);
    assert!(
        t.req(&sup, "delete p")
            .await
            .starts_with("err child `p` is running")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_failure_transient_restarts_and_temporary_never_does() {
    let t = Tree::new();
    let cfg = format!("{}{}", child("t", "transient"), child("x", "temporary"));
    t.supervisor("sup", &cfg);
    let sup = t.start("sup").await;
    t.send_to_child(&sup, "t", "fail").await;
    t.send_to_child(&sup, "x", "trap").await;
    t.wait_event(&sup, "event error t restarted:t", 1).await;
    t.wait_event(&sup, "event error x removed", 1).await;
    let which = t.which(&sup).await;
    assert_eq!(which.len(), 1, "{which:#?}");
    assert_eq!(
        (which[0].status.as_str(), which[0].restarts),
        ("running", 1)
    );

    // A graceful stop by someone else is OTP's `shutdown`: a transient child stays down.
    t.system.stop_actor(&which[0].id).await.unwrap();
    t.wait_event(&sup, "event external-stop t kept-down", 1)
        .await;
}
