//! [`SqliteStore`]: the embedded store, one SQLite database (`events.db`, WAL journal) in a data
//! directory, written by one writer thread that commits whatever is queued as one transaction.

use super::{Storage, StoreError, StoreWrite, StoredActor, StoredManifest, SyncWait};
use crate::chain::ChainEvent;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use theater_core::status::ActorStatus;

/// When commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous = NORMAL`: a committed transaction survives the host process being
    /// killed (it is in the OS page cache); an OS crash or power loss may lose the last ones.
    #[default]
    Process,
    /// WAL with `synchronous = FULL`: every commit is fsync'ed before it counts as durable.
    Fsync,
}

/// Name of the database file in a data directory.
pub const DB_FILE: &str = "events.db";

/// Lock file of a data directory: one writing host at a time.
const LOCK_FILE: &str = "lock";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    parent TEXT,
    name TEXT NOT NULL,
    manifest_path TEXT,
    manifest_text TEXT,
    manifest_dir TEXT,
    start_mode TEXT NOT NULL,
    start_bytes BLOB,
    status TEXT NOT NULL,
    state BLOB,
    restarts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    actor TEXT NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    parent_hash BLOB,
    event_type TEXT NOT NULL,
    data BLOB NOT NULL,
    timestamp INTEGER NOT NULL,
    description TEXT,
    PRIMARY KEY (actor, idx)
) WITHOUT ROWID;
";

enum Msg {
    Write(StoreWrite),
    Sync(tokio::sync::oneshot::Sender<Result<(), String>>),
    Close,
}

/// SQLite store in a data directory.
pub struct SqliteStore {
    path: PathBuf,
    tx: Option<Mutex<Sender<Msg>>>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Moves the WAL into the database file every 100 ms (dropping the sender stops it).
    checkpointer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    /// The data directory's lock file, locked while this store may write (released by `close`).
    lock: Mutex<Option<std::fs::File>>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn status_name(s: ActorStatus) -> &'static str {
    match s {
        ActorStatus::Starting => "starting",
        ActorStatus::Running => "running",
        ActorStatus::Stopping => "stopping",
        ActorStatus::Stopped => "stopped",
        ActorStatus::Failed => "failed",
    }
}

fn parse_status(s: &str) -> Result<ActorStatus, StoreError> {
    Ok(match s {
        "starting" => ActorStatus::Starting,
        "running" => ActorStatus::Running,
        "stopping" => ActorStatus::Stopping,
        "stopped" => ActorStatus::Stopped,
        "failed" => ActorStatus::Failed,
        other => return Err(StoreError(format!("unknown stored status `{other}`"))),
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir` for reading and writing.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        // One host per data directory: a second one would resume the first one's live actors.
        let lock_path = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError(format!(
                    "data directory {} is in use by another theater-supervisor process (give this one another --data DIR)",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )));
            }
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Fsync => "FULL",
        };
        // Checkpoints (which fsync) run on their own thread, off the commit path that
        // durability barriers wait for.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync};
             PRAGMA wal_autocheckpoint = 0; {SCHEMA}"
        ))
        .map_err(|e| StoreError(format!("cannot set up {}: {e}", path.display())))?;
        let (tx, rx) = channel();
        let writer = std::thread::Builder::new()
            .name("theater-store".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(err)?;
        let reader = Self::reader(&path)?;
        let checkpoints = Connection::open(&path).map_err(err)?;
        checkpoints
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        let (stop_checkpoints, stopped) = channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("theater-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, stopped))
            .map_err(err)?;
        Ok(Self {
            path,
            tx: Some(Mutex::new(tx)),
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some((stop_checkpoints, checkpointer))),
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Opens the store in `dir` read-only (for `verify`, `events`, `tree`), even while a host
    /// is writing it.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError(format!(
                "no event store in {} (expected {}; `theater-supervisor run --data {}` creates it)",
                dir.display(),
                path.display(),
                dir.display()
            )));
        }
        Ok(Self {
            reader: Mutex::new(Self::reader(&path)?),
            path,
            tx: None,
            writer: Mutex::new(None),
            checkpointer: Mutex::new(None),
            lock: Mutex::new(None),
        })
    }

    fn reader(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        Ok(conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits everything queued and stops the writer (also done on drop).
    pub fn close(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.lock().expect("store sender").send(Msg::Close);
        }
        if let Some(w) = self.writer.lock().expect("writer handle").take() {
            let _ = w.join();
        }
        if let Some((stop, thread)) = self.checkpointer.lock().expect("checkpointer").take() {
            drop(stop);
            let _ = thread.join();
        }
        // Nothing is written after this: another host may take the directory.
        self.lock.lock().expect("lock file").take();
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Storage for SqliteStore {
    fn write(&self, w: StoreWrite) {
        match &self.tx {
            Some(tx) => {
                if tx
                    .lock()
                    .expect("store sender")
                    .send(Msg::Write(w))
                    .is_err()
                {
                    tracing::error!("event store writer has stopped; a write was lost");
                }
            }
            None => tracing::error!("event store opened read-only; a write was dropped"),
        }
    }

    fn sync(&self) -> SyncWait {
        let (done, wait) = tokio::sync::oneshot::channel();
        match &self.tx {
            Some(tx) => {
                if let Err(e) = tx.lock().expect("store sender").send(Msg::Sync(done))
                    && let Msg::Sync(done) = e.0
                {
                    let _ = done.send(Err("event store writer has stopped".into()));
                }
            }
            None => {
                let _ = done.send(Ok(()));
            }
        }
        wait
    }

    fn actors(&self) -> Result<Vec<StoredActor>, StoreError> {
        self.select_actors(None)
    }

    fn actor(&self, id: &str) -> Result<Option<StoredActor>, StoreError> {
        Ok(self.select_actors(Some(id))?.pop())
    }

    fn events(&self, actor: &str, from: u64) -> Result<Vec<ChainEvent>, StoreError> {
        self.select_events(actor, from)
    }
}

impl SqliteStore {
    fn select_actors(&self, only: Option<&str>) -> Result<Vec<StoredActor>, StoreError> {
        let conn = self.reader.lock().expect("store reader");
        let mut stmt = conn
            .prepare_cached(
                "SELECT a.id, a.parent, a.name, a.manifest_path, a.manifest_text, a.manifest_dir,
                        a.start_mode, a.start_bytes, a.status, a.state, a.restarts,
                        (SELECT COUNT(*) FROM events e WHERE e.actor = a.id)
                 FROM actors a WHERE ?1 IS NULL OR a.id = ?1 ORDER BY a.seq",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([only], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<Vec<u8>>>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                    r.get::<_, u32>(10)?,
                    r.get::<_, u64>(11)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, parent, name, mpath, mtext, mdir, mode, bytes, status, state, restarts, n) =
                row.map_err(err)?;
            let manifest = match (mpath, mtext, mdir) {
                (Some(p), _, _) => StoredManifest::Path(p.into()),
                (None, Some(text), Some(dir)) => StoredManifest::Inline {
                    text,
                    dir: dir.into(),
                },
                _ => return Err(StoreError(format!("actor {id}: no stored manifest"))),
            };
            out.push(StoredActor {
                id,
                parent,
                name,
                manifest,
                start_mode: mode,
                start_bytes: bytes,
                status: parse_status(&status)?,
                state,
                restarts,
                events: n,
            });
        }
        Ok(out)
    }

    fn select_events(&self, actor: &str, from: u64) -> Result<Vec<ChainEvent>, StoreError> {
        let conn = self.reader.lock().expect("store reader");
        let mut stmt = conn
            .prepare_cached(
                "SELECT idx, hash, parent_hash, event_type, data, timestamp, description
                 FROM events WHERE actor = ?1 AND idx >= ?2 ORDER BY idx",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![actor, from as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for (expect, row) in (from as i64..).zip(rows) {
            let (idx, hash, parent, event_type, data, timestamp, description) = row.map_err(err)?;
            if idx != expect {
                return Err(StoreError(format!(
                    "actor {actor}: stored chain has a gap: event {expect} is missing (next stored is {idx})"
                )));
            }
            let hash32 = |b: Vec<u8>, what: &str| -> Result<[u8; 32], StoreError> {
                b.try_into().map_err(|b: Vec<u8>| {
                    StoreError(format!(
                        "actor {actor}: event {idx}: {what} is {} bytes, not 32",
                        b.len()
                    ))
                })
            };
            out.push(ChainEvent {
                hash: hash32(hash, "hash")?,
                parent_hash: parent.map(|p| hash32(p, "parent hash")).transpose()?,
                event_type,
                data,
                timestamp: timestamp as u64,
                description,
            });
        }
        Ok(out)
    }
}

/// The checkpointer thread: a passive checkpoint every 100 ms (never blocks the writer). A busy
/// writer keeps appending while it runs, so the WAL would never be reset: once it holds more
/// than [`WAL_RESET_FRAMES`], a truncating checkpoint waits for the writer's current commit,
/// finishes, and empties the WAL (a pause of one fsync). A last one runs when the store closes.
fn checkpoint_loop(conn: Connection, stop: Receiver<()>) {
    let checkpoint = |mode: &str| -> Option<i64> {
        match conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        }) {
            Ok(frames) => Some(frames),
            Err(e) => {
                tracing::warn!(error = %e, "event store: checkpoint failed");
                None
            }
        }
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(std::time::Duration::from_millis(100))
    {
        if checkpoint("PASSIVE").is_some_and(|frames| frames > WAL_RESET_FRAMES) {
            checkpoint("TRUNCATE");
        }
    }
    checkpoint("TRUNCATE");
}

/// WAL frames (pages) above which the checkpointer resets the WAL: 8,192 pages, 32 MiB.
const WAL_RESET_FRAMES: i64 = 8192;

/// The writer thread: each batch of queued writes is one transaction; barriers queued in the
/// batch are answered after its commit. A batch that fails (the database busy past the timeout,
/// a full disk) is retried a few times before its barriers get the error.
fn write_loop(mut conn: Connection, rx: Receiver<Msg>) {
    const BATCH: usize = 4096;
    let mut closing = false;
    while !closing {
        let Ok(first) = rx.recv() else { break };
        let mut writes = Vec::new();
        let mut waiters = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Write(w) => writes.push(w),
                Msg::Sync(done) => waiters.push(done),
                Msg::Close => {
                    closing = true;
                    break;
                }
            }
            if writes.len() + waiters.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        let mut result = Ok(());
        for attempt in 0..5 {
            result = commit(&mut conn, &writes);
            match &result {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, attempt, "event store: a batch failed; retrying");
                    std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
                }
            }
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// Applies a batch in one transaction. `IMMEDIATE` takes the write lock up front (waiting out a
/// checkpoint through the busy timeout) instead of failing to upgrade a read snapshot later.
fn commit(conn: &mut Connection, writes: &[StoreWrite]) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| format!("cannot begin a transaction: {e}"))?;
    for w in writes {
        apply(&tx, w.clone()).map_err(|e| format!("write failed: {e}"))?;
    }
    tx.commit().map_err(|e| format!("commit failed: {e}"))
}

fn apply(tx: &rusqlite::Transaction<'_>, w: StoreWrite) -> rusqlite::Result<()> {
    match w {
        StoreWrite::Actor(a) => {
            let (path, text, dir) = match &a.manifest {
                StoredManifest::Path(p) => (Some(p.display().to_string()), None, None),
                StoredManifest::Inline { text, dir } => {
                    (None, Some(text.clone()), Some(dir.display().to_string()))
                }
            };
            let existing: Option<i64> = tx
                .prepare_cached("SELECT seq FROM actors WHERE id = ?1")?
                .query_row([&a.id], |r| r.get(0))
                .optional()?;
            if existing.is_none() {
                tx.prepare_cached(
                    "INSERT INTO actors (id, parent, name, manifest_path, manifest_text, manifest_dir,
                                         start_mode, start_bytes, status, state, restarts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    a.id,
                    a.parent,
                    a.name,
                    path,
                    text,
                    dir,
                    a.start_mode,
                    a.start_bytes,
                    status_name(a.status),
                    a.state,
                    a.restarts
                ])?;
            }
        }
        StoreWrite::Event {
            actor,
            index,
            event,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO events (actor, idx, hash, parent_hash, event_type, data, timestamp, description)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                actor,
                index as i64,
                &event.hash[..],
                event.parent_hash.as_ref().map(|h| &h[..]),
                event.event_type,
                event.data,
                event.timestamp as i64,
                event.description
            ])?;
        }
        StoreWrite::State { actor, state } => {
            tx.prepare_cached("UPDATE actors SET state = ?2 WHERE id = ?1")?
                .execute(params![actor, state])?;
        }
        StoreWrite::Status {
            actor,
            status,
            restarts,
        } => {
            tx.prepare_cached("UPDATE actors SET status = ?2, restarts = ?3 WHERE id = ?1")?
                .execute(params![actor, status_name(status), restarts])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
            events: 0,
        }
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
            (b.status, b.restarts, b.events),
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
}
