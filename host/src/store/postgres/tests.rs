//! PostgresStore against a real PostgreSQL server: `THEATER_TEST_PG_URL` (set by `just test`,
//! which starts a private cluster; by hand: `eval "$(just pg-start)"`). Each test works in a
//! schema of its own, dropped at the end.

use super::*;
use crate::chain::{Chain, ChainSink};
use crate::store::StoreSink;

/// The test cluster's URL. Without one, a test prints why it is skipped, except under `just test`
/// or CI (`THEATER_TEST_REQUIRE_PG` or `CI` set), where it fails.
pub(crate) fn pg_url() -> Option<String> {
    match std::env::var("THEATER_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            let required = std::env::var_os("THEATER_TEST_REQUIRE_PG").is_some()
                || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !required,
                "THEATER_TEST_PG_URL is not set: the PostgreSQL tests need the cluster `just test` starts (scripts/pg-test-cluster.sh start)"
            );
            eprintln!(
                "SKIPPED: THEATER_TEST_PG_URL is not set; start a private cluster with `eval \"$(just pg-start)\"` to run the PostgreSQL store tests"
            );
            None
        }
    }
}

/// A schema of its own for one test; dropped when this goes out of scope.
pub(crate) struct TestSchema {
    pub base: String,
    pub name: String,
}

impl TestSchema {
    pub fn new(tag: &str) -> Option<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let base = pg_url()?;
        let name = format!(
            "t_{tag}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Some(Self { base, name })
    }

    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.base, self.name)
    }

    /// Runs SQL on a connection of its own (on a thread of its own: callable from async tests).
    pub fn sql(&self, sql: &str) -> Vec<tokio_postgres::SimpleQueryMessage> {
        let (base, schema, sql) = (self.base.clone(), self.name.clone(), sql.to_string());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    tokio::spawn(conn);
                    client
                        .batch_execute(&format!("SET search_path TO {schema}"))
                        .await
                        .unwrap();
                    client.simple_query(&sql).await.unwrap()
                })
        })
        .join()
        .unwrap()
    }

    /// The first column of the first row of `sql`.
    pub fn value(&self, sql: &str) -> String {
        self.sql(sql)
            .into_iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap_or_default()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        self.sql(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
}

fn actor(id: &str, parent: Option<&str>) -> StoredActor {
    StoredActor {
        id: id.into(),
        parent: parent.map(str::to_string),
        name: format!("n-{id}"),
        manifest: StoredManifest::Inline {
            text: "name = \"x\"".into(),
            dir: "/d".into(),
        },
        start_mode: "spawn".into(),
        start_bytes: Some(vec![1, 2]),
        status: ActorStatus::Starting,
        state: None,
        restarts: 0,
        next_index: 0,
    }
}

fn options(host: &str) -> PostgresOptions {
    PostgresOptions {
        host_id: host.into(),
        ..PostgresOptions::default()
    }
}

fn chain_for(store: &Arc<PostgresStore>, actor: &str) -> Chain {
    let sink: Arc<dyn ChainSink> = Arc::new(StoreSink {
        actor: actor.into(),
        storage: store.clone(),
    });
    Chain::with_sink(sink, 0)
}

/// A stored event at `index` with its own payload (a chain of one, for conflict tests).
fn event(index: u64, payload: &str) -> StoreWrite {
    let mut c = Chain::default();
    let e = c.append("test", payload.as_bytes().to_vec(), None).clone();
    StoreWrite::Event {
        actor: "a".into(),
        index,
        event: e,
    }
}

#[tokio::test]
async fn writes_are_durable_after_a_barrier_and_readable_read_only() {
    let Some(db) = TestSchema::new("durable") else {
        return;
    };
    let store = Arc::new(PostgresStore::open(&db.url(), options("host-a")).unwrap());
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    store.write(StoreWrite::Actor(Box::new(actor("b", Some("a")))));
    let mut chain = chain_for(&store, "b");
    for i in 0..10u8 {
        chain.append("e", vec![i], Some(format!("event {i}")));
    }
    store.write(StoreWrite::State {
        actor: "b".into(),
        state: Some(b"s".to_vec()),
    });
    store.write(StoreWrite::Status {
        actor: "b".into(),
        status: ActorStatus::Running,
        restarts: 3,
    });
    store.sync().await.unwrap().unwrap();
    let reader = PostgresStore::open_read_only(&db.url()).unwrap();
    let all = reader.actors().unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let b = reader.actor("b").unwrap().unwrap();
    assert_eq!(
        (b.status, b.restarts, b.next_index),
        (ActorStatus::Running, 3, 10)
    );
    assert_eq!(b.state.as_deref(), Some(&b"s"[..]));
    assert_eq!(b.parent.as_deref(), Some("a"));
    assert_eq!(b.start_bytes.as_deref(), Some(&[1u8, 2][..]));
    let events = reader.events("b", 0).unwrap();
    crate::chain::verify(&events, chain.head().as_ref()).unwrap();
    assert_eq!(reader.events("b", 7).unwrap().len(), 3);
    assert!(reader.actor("zz").unwrap().is_none());
    // The tree's lease is this host's, epoch 1; every row carries the epoch.
    let leases = reader.leases().unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        (
            leases[0].root.as_str(),
            leases[0].owner.as_str(),
            leases[0].epoch,
            leases[0].ended
        ),
        ("a", "host-a", 1, false)
    );
    assert_eq!(
        db.value("SELECT count(*) FROM events WHERE epoch = 1 AND root = 'a'"),
        "10"
    );
    store.close();
}

#[tokio::test]
async fn the_schema_is_versioned_and_a_newer_one_is_refused() {
    let Some(db) = TestSchema::new("schema") else {
        return;
    };
    let e = PostgresStore::open_read_only(&db.url())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no event store in"), "{e}");
    assert!(e.contains(&format!("(schema {})", db.name)), "{e}");
    PostgresStore::open(&db.url(), options("h"))
        .unwrap()
        .close();
    // Opening again applies nothing twice.
    PostgresStore::open(&db.url(), options("h"))
        .unwrap()
        .close();
    assert_eq!(
        db.value("SELECT string_agg(version::text, ',') FROM schema_version"),
        "1"
    );
    db.sql("INSERT INTO schema_version (version) VALUES (99)");
    for e in [
        PostgresStore::open(&db.url(), options("h"))
            .err()
            .unwrap()
            .to_string(),
        PostgresStore::open_read_only(&db.url())
            .err()
            .unwrap()
            .to_string(),
    ] {
        assert!(
            e.contains("schema version 99, newer than this host knows (1)"),
            "{e}"
        );
    }
}

#[test]
fn bad_urls_and_unreachable_servers_are_named() {
    let e = PostgresStore::open_read_only("mysql://x")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is not a PostgreSQL URL"), "{e}");
    let e = PostgresStore::open_read_only("postgres://u@127.0.0.1:5432/d?schema=Bad-Name")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("schema `Bad-Name`"), "{e}");
    // Port 1 on 127.0.0.1: nothing listens; no password is printed.
    let e = PostgresStore::open_read_only("postgres://u:secret@127.0.0.1:1/d?connect_timeout=2")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot connect to PostgreSQL at postgres://u@127.0.0.1:1/d (schema theater)"),
        "{e}"
    );
    assert!(!e.contains("secret"), "{e}");
}

#[tokio::test]
async fn a_conflicting_event_fails_the_store_and_overwrites_nothing() {
    let Some(db) = TestSchema::new("conflict") else {
        return;
    };
    let store = PostgresStore::open(&db.url(), options("h")).unwrap();
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    let first = event(0, "first");
    store.write(first.clone());
    store.sync().await.unwrap().unwrap();
    // The same event again (a retried batch whose commit was acknowledged late) is kept as is.
    store.write(first.clone());
    store.sync().await.unwrap().unwrap();
    // Another event at a stored position is a conflict.
    store.write(event(0, "second"));
    let e = store.sync().await.unwrap().unwrap_err();
    assert!(
        e.contains("actor a: event 0 is already stored with another hash"),
        "{e}"
    );
    assert!(matches!(&*store.health().borrow(), StoreHealth::Failed(_)));
    // Failed for good: later barriers fail too, nothing more is written.
    store.write(event(1, "later"));
    assert!(store.sync().await.unwrap().is_err());
    let stored = store.events("a", 0).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].data, b"first");
    // The database itself refuses changes to stored events.
    let e = std::thread::spawn({
        let url = db.base.clone();
        let schema = db.name.clone();
        move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    tokio::spawn(conn);
                    c.batch_execute(&format!("SET search_path TO {schema}"))
                        .await
                        .unwrap();
                    c.batch_execute("UPDATE events SET data = 'x'")
                        .await
                        .unwrap_err()
                        .to_string()
                })
        }
    })
    .join()
    .unwrap();
    assert!(e.contains("db error"), "{e}");
    assert_eq!(store.events("a", 0).unwrap()[0].data, b"first");
}

#[tokio::test]
async fn the_next_position_is_the_highest_stored_plus_one() {
    let Some(db) = TestSchema::new("next") else {
        return;
    };
    let store = PostgresStore::open(&db.url(), options("h")).unwrap();
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    store.write(event(0, "0"));
    store.write(event(5, "5"));
    store.sync().await.unwrap().unwrap();
    assert_eq!(store.actor("a").unwrap().unwrap().next_index, 6);
    // A gap is reported as such by a read.
    let e = store.events("a", 0).unwrap_err().to_string();
    assert!(
        e.contains("stored chain has a gap: event 1 is missing (next stored is 5)"),
        "{e}"
    );
}

#[tokio::test]
async fn concurrent_writes_share_commits() {
    let Some(db) = TestSchema::new("group") else {
        return;
    };
    let store = Arc::new(PostgresStore::open(&db.url(), options("h")).unwrap());
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    store.sync().await.unwrap().unwrap();
    let before = store.commits();
    let mut waits = Vec::new();
    let mut chain = chain_for(&store, "a");
    for i in 0..200u32 {
        chain.append("e", i.to_le_bytes().to_vec(), None);
        waits.push(store.sync());
    }
    for w in waits {
        w.await.unwrap().unwrap();
    }
    let used = store.commits() - before;
    println!("200 appends with a barrier each: {used} transactions committed");
    assert!(
        used < 50,
        "{used} transactions for 200 barriers: no group commit"
    );
    assert_eq!(store.events("a", 0).unwrap().len(), 200);
}

#[tokio::test]
async fn an_operations_writes_and_its_barrier_share_one_transaction_and_other_writes_still_commit()
{
    let Some(db) = TestSchema::new("linger") else {
        return;
    };
    // A long linger, so the test does not depend on this machine's timing.
    let linger = std::time::Duration::from_secs(2);
    let store = Arc::new(
        PostgresStore::open(
            &db.url(),
            PostgresOptions {
                linger,
                ..options("h")
            },
        )
        .unwrap(),
    );
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    store.sync().await.unwrap().unwrap();
    // An operation: its writes arrive over a while (inside the linger), then its barrier. A
    // writer that committed at the first write would take several transactions.
    let before = store.commits();
    let mut chain = chain_for(&store, "a");
    for i in 0..5u8 {
        chain.append("e", vec![i], None);
        tokio::time::sleep(linger / 40).await;
    }
    store.sync().await.unwrap().unwrap();
    assert_eq!(
        store.commits() - before,
        1,
        "the writes waited for their barrier's transaction"
    );
    // Writes no barrier ever waits for are committed anyway, after the linger.
    chain.append("e", vec![9], None);
    let reader = PostgresStore::open_read_only(&db.url()).unwrap();
    let start = std::time::Instant::now();
    while reader.events("a", 0).unwrap().len() < 6 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "a write without a barrier was never committed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    store.close();
}

/// Installs a trigger that fails every event insert with `disk_full` (SQLSTATE 53100), as a
/// full disk under the server would.
fn fill_the_disk(db: &TestSchema) {
    db.sql(
        "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$;
         CREATE TRIGGER disk_full BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION disk_full();",
    );
}

#[tokio::test]
async fn a_failing_batch_stays_queued_and_commits_when_the_fault_clears() {
    let Some(db) = TestSchema::new("retry") else {
        return;
    };
    let store = Arc::new(PostgresStore::open(&db.url(), options("h")).unwrap());
    let mut health = store.health();
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    let mut chain = chain_for(&store, "a");
    chain.append("before", vec![], None);
    store.sync().await.unwrap().unwrap();
    fill_the_disk(&db);
    for i in 0..5u8 {
        chain.append("during", vec![i], None);
    }
    let barrier = store.sync();
    tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|h| matches!(h, StoreHealth::Degraded(_))),
    )
    .await
    .unwrap()
    .unwrap();
    if let StoreHealth::Degraded(e) = &*health.borrow() {
        assert!(e.contains("No space left on device"), "{e}");
    }
    // Later writes queue behind the failing batch.
    chain.append("after", vec![], None);
    db.sql("DROP TRIGGER disk_full ON events");
    barrier.await.unwrap().unwrap();
    store.sync().await.unwrap().unwrap();
    assert_eq!(*store.health().borrow(), StoreHealth::Healthy);
    let stored = store.events("a", 0).unwrap();
    assert_eq!(stored.len(), 7);
    crate::chain::verify(&stored, chain.head().as_ref()).unwrap();
}

#[tokio::test]
async fn a_lost_connection_is_reconnected() {
    let Some(db) = TestSchema::new("reconnect") else {
        return;
    };
    let store = Arc::new(PostgresStore::open(&db.url(), options("h")).unwrap());
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    let mut chain = chain_for(&store, "a");
    chain.append("before", vec![], None);
    store.sync().await.unwrap().unwrap();
    let killed = db.value(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE application_name = 'theater-supervisor/{}'",
        db.name
    ));
    assert_ne!(killed, "0");
    chain.append("after", vec![], None);
    store.sync().await.unwrap().unwrap();
    assert_eq!(store.events("a", 0).unwrap().len(), 2);
}

#[tokio::test]
async fn a_store_that_cannot_commit_for_the_stall_timeout_fails_for_good() {
    let Some(db) = TestSchema::new("stall") else {
        return;
    };
    let store = PostgresStore::open(
        &db.url(),
        PostgresOptions {
            stall_timeout: Duration::from_millis(500),
            ..options("h")
        },
    )
    .unwrap();
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    store.sync().await.unwrap().unwrap();
    fill_the_disk(&db);
    store.write(event(0, "x"));
    let e = store.sync().await.unwrap().unwrap_err();
    assert!(e.contains("nothing could be committed for 500 ms"), "{e}");
    assert!(matches!(&*store.health().borrow(), StoreHealth::Failed(_)));
    db.sql("DROP TRIGGER disk_full ON events");
    store.write(event(1, "y"));
    assert!(store.sync().await.unwrap().is_err());
    assert_eq!(db.value("SELECT count(*) FROM events"), "0");
}

#[tokio::test]
async fn a_renewed_lease_is_not_taken_over_and_an_ended_tree_never() {
    let Some(db) = TestSchema::new("renew") else {
        return;
    };
    let short = |host: &str| PostgresOptions {
        lease: Duration::from_millis(300),
        ..options(host)
    };
    let a = PostgresStore::open(&db.url(), short("host-a")).unwrap();
    let b = PostgresStore::open(&db.url(), short("host-b")).unwrap();
    a.write(StoreWrite::Actor(Box::new(actor("r1", None))));
    a.write(StoreWrite::Actor(Box::new(actor("r2", None))));
    a.sync().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        b.take_over("r1").unwrap(),
        None,
        "a renewed lease was taken over"
    );
    a.write(StoreWrite::Status {
        actor: "r2".into(),
        status: ActorStatus::Stopped,
        restarts: 0,
    });
    a.sync().await.unwrap().unwrap();
    a.close();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.take_over("r2").unwrap(),
        None,
        "an ended tree was taken over"
    );
    assert_eq!(b.take_over("r1").unwrap(), Some(2));
    let leases = b.leases().unwrap();
    let r2 = leases.iter().find(|l| l.root == "r2").unwrap();
    assert!(r2.ended);
    let r1 = leases.iter().find(|l| l.root == "r1").unwrap();
    assert_eq!((r1.owner.as_str(), r1.epoch), ("host-b", 2));
    assert!(r1.expires_in_ms > 0);
}

/// Two hosts on one database: A owns a tree and stops renewing (as a paused host would); B takes
/// the expired lease over; every write A makes after that is refused by the database, and
/// nothing carrying A's epoch lands after the take-over.
#[tokio::test]
async fn a_stale_owner_is_fenced_by_the_database() {
    let Some(db) = TestSchema::new("fence") else {
        return;
    };
    let a = Arc::new(
        PostgresStore::open(
            &db.url(),
            PostgresOptions {
                lease: Duration::from_millis(300),
                renew_every: Some(Duration::from_secs(3600)),
                ..options("host-a")
            },
        )
        .unwrap(),
    );
    let b = Arc::new(PostgresStore::open(&db.url(), options("host-b")).unwrap());
    let mut lost = a.lost_leases();
    a.write(StoreWrite::Actor(Box::new(actor("root", None))));
    a.write(StoreWrite::Actor(Box::new(actor("kid", Some("root")))));
    let mut chain = chain_for(&a, "kid");
    chain.append("a.1", vec![], None);
    a.sync().await.unwrap().unwrap();
    assert_eq!(
        b.take_over("root").unwrap(),
        None,
        "a live lease was taken over"
    );
    // A keeps writing while its lease runs out and B takes it over.
    let writer = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut acked = 0u32;
            let mut chain = chain;
            loop {
                chain.append("a.more", vec![], None);
                match a.sync().await.unwrap() {
                    Ok(()) => acked += 1,
                    Err(e) => return (acked, e),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let epoch = loop {
        if let Some(e) = b.take_over("root").unwrap() {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(epoch, 2);
    let (acked, e) = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(
        e.contains("fenced: tree root is at epoch 2 (owner host-b)"),
        "{e}"
    );
    let l = tokio::time::timeout(Duration::from_secs(5), lost.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((l.root.as_str(), l.epoch), ("root", 1));
    assert!(l.why.contains("epoch 2"), "{}", l.why);
    assert!(a.held().is_empty());
    // Every write A makes from now on is refused, before or by the database.
    a.write(StoreWrite::State {
        actor: "kid".into(),
        state: Some(b"stale".to_vec()),
    });
    assert!(a.sync().await.unwrap().is_err());
    // B continues the chain from the highest stored position, under epoch 2.
    let stored = b.events("kid", 0).unwrap();
    assert_eq!(
        stored.len() as u32,
        1 + acked,
        "an acknowledged event is missing"
    );
    let kid = b.actor("kid").unwrap().unwrap();
    let sink: Arc<dyn ChainSink> = Arc::new(StoreSink {
        actor: "kid".into(),
        storage: b.clone(),
    });
    let mut resumed = Chain::restore(stored.clone(), kid.next_index, Some(sink), 0);
    resumed.append("b.1", vec![], None);
    b.sync().await.unwrap().unwrap();
    let all = b.events("kid", 0).unwrap();
    crate::chain::verify(&all, resumed.head().as_ref()).unwrap();
    assert_eq!(
        db.value("SELECT count(*) FROM events WHERE epoch = 1 AND seq > (SELECT min(seq) FROM events WHERE epoch = 2)"),
        "0",
        "an event with the old epoch landed after the take-over"
    );
    assert_eq!(
        db.value("SELECT count(*) FROM states WHERE state = 'stale'"),
        "0"
    );
}

/// A stale owner's event at a position the new owner already wrote is refused for its epoch,
/// not taken for a conflicting write (which would fail the old owner's whole store).
#[tokio::test]
async fn a_stale_write_at_a_position_the_new_owner_used_is_fenced_not_a_conflict() {
    let Some(db) = TestSchema::new("fencepos") else {
        return;
    };
    let a = Arc::new(
        PostgresStore::open(
            &db.url(),
            PostgresOptions {
                lease: Duration::from_millis(200),
                renew_every: Some(Duration::from_secs(3600)),
                ..options("host-a")
            },
        )
        .unwrap(),
    );
    let b = Arc::new(PostgresStore::open(&db.url(), options("host-b")).unwrap());
    a.write(StoreWrite::Actor(Box::new(actor("a", None))));
    a.write(event(0, "from a"));
    a.sync().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.take_over("a").unwrap(), Some(2));
    b.write(event(1, "from b"));
    b.sync().await.unwrap().unwrap();
    a.write(event(1, "stale from a"));
    let e = a.sync().await.unwrap().unwrap_err();
    assert!(
        e.contains("fenced: tree a is at epoch 2 (owner host-b)"),
        "{e}"
    );
    assert_eq!(*a.health().borrow(), StoreHealth::Healthy);
    assert_eq!(b.events("a", 0).unwrap()[1].data, b"from b");
}
