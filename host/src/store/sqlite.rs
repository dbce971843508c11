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

/// The checkpointer thread: a passive checkpoint every 100 ms (never blocks the writer). A busy
/// writer keeps appending while it runs, so the WAL would never be reset: once it holds more
/// than [`WAL_RESET_FRAMES`], a truncating checkpoint waits for the writer's current commit,
/// finishes, and empties the WAL (a pause of one fsync). A last one runs when the store closes.
fn checkpoint_loop(conn: Connection, stop: Receiver<()>) {
    // Logged when checkpoints start failing (a full disk) and when they work again, not at
    // every attempt.
    let failing = std::cell::Cell::new(false);
    let checkpoint = |mode: &str| -> Option<i64> {
        match conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        }) {
            Ok(frames) => {
                if failing.replace(false) {
                    tracing::info!("event store: checkpoints work again");
                }
                Some(frames)
            }
            Err(e) => {
                if !failing.replace(true) {
                    tracing::warn!(error = %e, "event store: checkpoint failed (retried every 100 ms)");
                }
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
/// batch are answered after its commit. A batch that fails is kept and retried, with the writes
/// queued after it, until it commits (then every waiting barrier is answered `Ok`) or the store
/// fails for good: a fatal error, or no commit for the stall timeout. A failed store answers
/// every barrier with its error and writes nothing more, so a stored chain never has a gap.
struct Writer {
    conn: Connection,
    health: watch::Sender<StoreHealth>,
    stall: Duration,
    /// Writes not committed yet, in queue order.
    pending: Vec<StoreWrite>,
    /// Barriers waiting for `pending` to commit.
    waiters: Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
    /// Since when commits have been failing.
    failing_since: Option<Instant>,
    /// Retries since the last commit.
    attempts: u32,
    /// Set once the store failed for good.
    failed: Option<String>,
    /// Writes dropped after the failure (never acknowledged).
    dropped: u64,
}

/// Largest number of queued messages taken into one batch.
const BATCH: usize = 4096;

impl Writer {
    fn new(conn: Connection, health: watch::Sender<StoreHealth>, stall: Duration) -> Self {
        Self {
            conn,
            health,
            stall,
            pending: Vec::new(),
            waiters: Vec::new(),
            failing_since: None,
            attempts: 0,
            failed: None,
            dropped: 0,
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        let mut closing = false;
        while !closing {
            // Block for work only when nothing is waiting to be retried.
            let first = if self.pending.is_empty() && self.waiters.is_empty() {
                match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                }
            } else {
                rx.try_recv().ok()
            };
            let mut next = first;
            let mut taken = 0;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(w) => self.queue(w),
                    Msg::Sync(done) => self.barrier(done),
                    Msg::Close => {
                        closing = true;
                        break;
                    }
                }
                taken += 1;
                if taken < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if self.failed.is_none() && !(self.pending.is_empty() && self.waiters.is_empty()) {
                self.try_commit(closing);
            }
        }
        if !self.pending.is_empty() {
            tracing::error!(
                writes = self.pending.len(),
                "event store closed with writes it could not commit (none of them was acknowledged)"
            );
        }
        if self.dropped > 0 {
            tracing::error!(
                writes = self.dropped,
                "event store had failed: these later writes were not stored (none was acknowledged)"
            );
        }
    }

    fn queue(&mut self, w: StoreWrite) {
        if self.failed.is_some() {
            self.dropped += 1;
        } else {
            self.pending.push(w);
        }
    }

    fn barrier(&mut self, done: tokio::sync::oneshot::Sender<Result<(), String>>) {
        match &self.failed {
            Some(e) => {
                let _ = done.send(Err(e.clone()));
            }
            None => self.waiters.push(done),
        }
    }

    /// One commit attempt of everything pending; on failure waits a little before the next
    /// (unless closing, where the last attempt is the only one).
    fn try_commit(&mut self, closing: bool) {
        match commit(&mut self.conn, &self.pending) {
            Ok(()) => {
                self.pending.clear();
                for w in self.waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
                if self.failing_since.take().is_some() {
                    tracing::warn!(
                        retries = self.attempts,
                        "event store: commits succeed again; nothing was lost"
                    );
                    self.health.send_replace(StoreHealth::Healthy);
                }
                self.attempts = 0;
            }
            Err(e) => {
                let since = *self.failing_since.get_or_insert_with(Instant::now);
                let message = e.to_string();
                if self.attempts == 0 {
                    tracing::error!(error = %message, "event store: a commit failed; keeping the writes and retrying");
                }
                self.attempts += 1;
                let stalled = since.elapsed() >= self.stall;
                if e.fatal || stalled || closing {
                    let why = if e.fatal || closing {
                        message
                    } else {
                        format!(
                            "{message} (no commit for {:?}, the store's stall timeout)",
                            self.stall
                        )
                    };
                    self.fail(why);
                } else {
                    self.health.send_replace(StoreHealth::Degraded(message));
                    let wait = Duration::from_millis(10u64 << self.attempts.min(6))
                        .min(self.stall.saturating_sub(since.elapsed()))
                        .max(Duration::from_millis(1));
                    std::thread::sleep(wait);
                }
            }
        }
    }

    fn fail(&mut self, why: String) {
        tracing::error!(error = %why, pending = self.pending.len(), "event store failed: nothing more will be written");
        // Health first: whoever a failed barrier wakes can already see why.
        self.health.send_replace(StoreHealth::Failed(why.clone()));
        for w in self.waiters.drain(..) {
            let _ = w.send(Err(why.clone()));
        }
        self.dropped += self.pending.len() as u64;
        self.pending.clear();
        self.failed = Some(why);
    }
}

/// A failed commit, and whether retrying can help.
struct CommitError {
    message: String,
    /// The database is damaged, not a database, or refuses a write for good (a stored position
    /// written again): retrying cannot succeed.
    fatal: bool,
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl CommitError {
    fn new(what: &str, e: rusqlite::Error) -> Self {
        let fatal = matches!(
            e.sqlite_error_code(),
            Some(
                ErrorCode::DatabaseCorrupt
                    | ErrorCode::NotADatabase
                    | ErrorCode::ConstraintViolation
                    | ErrorCode::ReadOnly
            )
        );
        Self {
            message: format!("{what}: {e}"),
            fatal,
        }
    }
}

/// Applies a batch in one transaction. `IMMEDIATE` takes the write lock up front (waiting out a
/// checkpoint through the busy timeout) instead of failing to upgrade a read snapshot later.
fn commit(conn: &mut Connection, writes: &[StoreWrite]) -> Result<(), CommitError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| CommitError::new("cannot begin a transaction", e))?;
    for w in writes {
        apply(&tx, w).map_err(|e| match (&e, w) {
            (
                rusqlite::Error::SqliteFailure(f, _),
                StoreWrite::Event { actor, index, .. },
            ) if f.code == ErrorCode::ConstraintViolation => CommitError {
                message: format!(
                    "actor {actor}: event {index} is already stored; refusing to overwrite it ({e})"
                ),
                fatal: true,
            },
            _ => CommitError::new("write failed", e),
        })?;
    }
    tx.commit()
        .map_err(|e| CommitError::new("commit failed", e))
}

fn apply(tx: &rusqlite::Transaction<'_>, w: &StoreWrite) -> rusqlite::Result<()> {
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
                "INSERT INTO events (actor, idx, hash, parent_hash, event_type, data, timestamp, description)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                actor,
                *index as i64,
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
                .execute(params![actor, status_name(*status), restarts])?;
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
            next_index: 0,
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
}
