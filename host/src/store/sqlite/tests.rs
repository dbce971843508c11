//! Tests of the SQLite store.

use super::*;
use crate::chain::{Chain, ChainSink};
use crate::store::StoreSink;
use std::sync::Arc;

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

#[tokio::test]
async fn writes_no_barrier_waits_for_are_committed_after_the_linger() {
    let dir = tempfile_dir();
    let store = Arc::new(SqliteStore::open(&dir, Durability::Process).unwrap());
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    let sink: Arc<dyn ChainSink> = Arc::new(StoreSink {
        actor: "a".into(),
        storage: store.clone(),
    });
    let mut chain = Chain::with_sink(sink, 0);
    chain.append("e", vec![1], None);
    // No barrier: another connection sees the writes once the writer stops waiting for one.
    let start = std::time::Instant::now();
    loop {
        let seen = SqliteStore::open_read_only(&dir)
            .ok()
            .and_then(|r| r.events("a", 0).ok())
            .map_or(0, |e| e.len());
        if seen == 1 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "a write without a barrier was never committed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    store.close();
}

#[tokio::test]
async fn writes_are_durable_after_a_barrier_and_readable_read_only() {
    let dir = tempfile_dir();
    let store = Arc::new(SqliteStore::open(&dir, Durability::Process).unwrap());
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    store.write(StoreWrite::Actor(Box::new(actor("b", Some("a")))));
    let sink: Arc<dyn ChainSink> = Arc::new(StoreSink {
        actor: "b".into(),
        storage: store.clone(),
    });
    let mut chain = Chain::with_sink(sink, 2);
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
    let reader = SqliteStore::open_read_only(&dir).unwrap();
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
    let events = reader.events("b", 0).unwrap();
    crate::chain::verify(&events, chain.head().as_ref()).unwrap();
    assert_eq!(reader.events("b", 7).unwrap().len(), 3);
    assert!(reader.actor("zz").unwrap().is_none());
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
}

fn event(n: u8) -> ChainEvent {
    let mut chain = Chain::default();
    chain.append("e", vec![n], None);
    chain.events()[0].clone()
}

#[tokio::test]
async fn a_stored_event_is_never_overwritten_and_the_store_fails_instead() {
    let dir = tempfile_dir();
    let store = SqliteStore::open(&dir, Durability::Process).unwrap();
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    let (first, second) = (event(1), event(2));
    let write = |e: &ChainEvent| {
        store.write(StoreWrite::Event {
            actor: "a".into(),
            index: 0,
            event: e.clone(),
        })
    };
    write(&first);
    store.sync().await.unwrap().unwrap();
    write(&second);
    let e = store.sync().await.unwrap().unwrap_err();
    assert!(
        e.contains("event 0 is already stored; refusing to overwrite it"),
        "{e}"
    );
    assert!(matches!(&*store.health().borrow(), StoreHealth::Failed(_)));
    // A failed store answers every later barrier with its error and writes nothing more.
    store.write(StoreWrite::State {
        actor: "a".into(),
        state: Some(b"later".to_vec()),
    });
    assert!(store.sync().await.unwrap().is_err());
    let reader = SqliteStore::open_read_only(&dir).unwrap();
    assert_eq!(reader.events("a", 0).unwrap(), [first]);
    assert_eq!(reader.actor("a").unwrap().unwrap().state, None);
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_chain_continues_after_its_highest_stored_position_even_past_a_gap() {
    let dir = tempfile_dir();
    let store = SqliteStore::open(&dir, Durability::Process).unwrap();
    store.write(StoreWrite::Actor(Box::new(actor("a", None))));
    let mut chain = Chain::default();
    for i in 0..6u8 {
        chain.append("e", vec![i], None);
    }
    for index in [0u64, 1, 2, 5] {
        store.write(StoreWrite::Event {
            actor: "a".into(),
            index,
            event: chain.events()[index as usize].clone(),
        });
    }
    store.sync().await.unwrap().unwrap();
    let a = store.actor("a").unwrap().unwrap();
    assert_eq!(a.next_index, 6);
    let e = store.events("a", 0).unwrap_err().to_string();
    assert!(e.contains("event 3 is missing (next stored is 5)"), "{e}");
    let rows = store.stored_events("a").unwrap();
    assert_eq!(
        rows.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 5]
    );
    assert_eq!(
        theater_core::diagnose::diagnose(&rows)[0],
        theater_core::diagnose::ChainProblem::Gap { from: 3, to: 4 }
    );
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_corrupted_database_fails_the_store_at_once() {
    let dir = tempfile_dir();
    {
        let store = SqliteStore::open(&dir, Durability::Process).unwrap();
        for i in 0..200 {
            store.write(StoreWrite::Actor(Box::new(actor(&format!("a{i}"), None))));
        }
        store.sync().await.unwrap().unwrap();
    }
    let db = dir.join(DB_FILE);
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 8192, "{len}");
    let mut bytes = std::fs::read(&db).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 131 % 251) as u8;
    }
    std::fs::write(&db, bytes).unwrap();
    let store = SqliteStore::open_with(
        &dir,
        StoreOptions {
            durability: Durability::Process,
            stall_timeout: Duration::from_secs(3600),
        },
    )
    .unwrap();
    let t0 = Instant::now();
    store.write(StoreWrite::Actor(Box::new(actor("late", None))));
    let e = store.sync().await.unwrap().unwrap_err();
    assert!(e.contains("malformed"), "{e}");
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "failed at once, not after the stall timeout"
    );
    assert!(matches!(&*store.health().borrow(), StoreHealth::Failed(_)));
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_data_directory_takes_one_writer_at_a_time() {
    let dir = tempfile_dir();
    let first = SqliteStore::open(&dir, Durability::Process).unwrap();
    let e = SqliteStore::open(&dir, Durability::Process)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("is in use by another theater-supervisor process"),
        "{e}"
    );
    SqliteStore::open_read_only(&dir).unwrap();
    first.close();
    drop(first);
    SqliteStore::open(&dir, Durability::Process).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_store_is_named() {
    let e = SqliteStore::open_read_only(Path::new("/nonexistent/theater-data"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no event store in /nonexistent/theater-data"),
        "{e}"
    );
}

fn tempfile_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "theater-store-test-{}-{}-{}",
        std::process::id(),
        crate::chain::now_millis(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
