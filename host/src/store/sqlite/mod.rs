//! [`SqliteStore`]: the embedded store, one SQLite database (`events.db`, WAL journal) in a data
//! directory, written by one writer thread that commits whatever is queued as one transaction.

use super::{
    Storage, StoreError, StoreHealth, StoreOptions, StoreWrite, StoredActor, StoredManifest,
    SyncWait,
};
use crate::chain::ChainEvent;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use theater_core::status::ActorStatus;
use tokio::sync::watch;

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
    health: watch::Receiver<StoreHealth>,
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
    /// Opens (creating if needed) the store in `dir` for reading and writing, with the default
    /// stall timeout.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        Self::open_with(
            dir,
            StoreOptions {
                durability,
                ..StoreOptions::default()
            },
        )
    }

    /// Opens (creating if needed) the store in `dir` for reading and writing.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let durability = options.durability;
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
        let (health_tx, health) = watch::channel(StoreHealth::Healthy);
        let stall = options.stall_timeout;
        let writer = std::thread::Builder::new()
            .name("theater-store".into())
            .spawn(move || Writer::new(conn, health_tx, stall).run(rx))
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
            health,
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
        let reader = match Self::reader(&path) {
            Ok(conn) => conn,
            // A WAL database needs its `-shm` file, which cannot be created on a read-only
            // filesystem; a cleanly closed store has everything in the database file, so it
            // can be read as immutable.
            Err(first) => Self::immutable_reader(&path).map_err(|e| {
                StoreError(format!("{first}; opening it as immutable failed too: {e}"))
            })?,
        };
        Ok(Self {
            reader: Mutex::new(reader),
            path,
            tx: None,
            writer: Mutex::new(None),
            checkpointer: Mutex::new(None),
            lock: Mutex::new(None),
            health: watch::channel(StoreHealth::Healthy).1,
        })
    }

    /// A read-only connection, checked with a first query (opening alone does not touch the
    /// WAL index).
    fn reader(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| StoreError(format!("cannot read {}: {e}", path.display())))?;
        Ok(conn)
    }

    /// A connection for a store on a read-only filesystem (`immutable=1`: no locks, no WAL).
    fn immutable_reader(path: &Path) -> Result<Connection, StoreError> {
        let wal = path.with_extension("db-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            tracing::warn!(
                wal = %wal.display(),
                "reading a read-only store whose write-ahead log is not empty: events only in the log (the host did not close the store) are not shown"
            );
        }
        let uri = format!("file:{}?immutable=1", path.display());
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| StoreError(format!("cannot read {}: {e}", path.display())))?;
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
        let rows = self.select_events(actor, from)?;
        for ((idx, _), expect) in rows.iter().zip(from..) {
            if *idx != expect {
                return Err(StoreError(format!(
                    "actor {actor}: stored chain has a gap: event {expect} is missing (next stored is {idx})"
                )));
            }
        }
        Ok(rows.into_iter().map(|(_, e)| e).collect())
    }

    fn stored_events(&self, actor: &str) -> Result<Vec<(u64, ChainEvent)>, StoreError> {
        self.select_events(actor, 0)
    }

    fn health(&self) -> watch::Receiver<StoreHealth> {
        self.health.clone()
    }
}

impl SqliteStore {
    fn select_actors(&self, only: Option<&str>) -> Result<Vec<StoredActor>, StoreError> {
        let conn = self.reader.lock().expect("store reader");
        let mut stmt = conn
            .prepare_cached(
                "SELECT a.id, a.parent, a.name, a.manifest_path, a.manifest_text, a.manifest_dir,
                        a.start_mode, a.start_bytes, a.status, a.state, a.restarts,
                        (SELECT COALESCE(MAX(e.idx) + 1, 0) FROM events e WHERE e.actor = a.id)
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
                next_index: n,
            });
        }
        Ok(out)
    }

    fn select_events(&self, actor: &str, from: u64) -> Result<Vec<(u64, ChainEvent)>, StoreError> {
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
        for row in rows {
            let (idx, hash, parent, event_type, data, timestamp, description) = row.map_err(err)?;
            let hash32 = |b: Vec<u8>, what: &str| -> Result<[u8; 32], StoreError> {
                b.try_into().map_err(|b: Vec<u8>| {
                    StoreError(format!(
                        "actor {actor}: event {idx}: {what} is {} bytes, not 32",
                        b.len()
                    ))
                })
            };
            out.push((
                idx as u64,
                ChainEvent {
                    hash: hash32(hash, "hash")?,
                    parent_hash: parent.map(|p| hash32(p, "parent hash")).transpose()?,
                    event_type,
                    data,
                    timestamp: timestamp as u64,
                    description,
                },
            ));
        }
        Ok(out)
    }
}

mod writer;
use writer::{Writer, checkpoint_loop};

#[cfg(test)]
mod tests;
