//! The SQLite store's writer thread (group commit, retries, failure) and its checkpointer.

use super::*;

/// The checkpointer thread: a passive checkpoint every 100 ms (never blocks the writer). A busy
/// writer keeps appending while it runs, so the WAL would never be reset: once it holds more
/// than [`WAL_RESET_FRAMES`], a truncating checkpoint waits for the writer's current commit,
/// finishes, and empties the WAL (a pause of one fsync). A last one runs when the store closes.
pub(super) fn checkpoint_loop(conn: Connection, stop: Receiver<()>) {
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
/// batch are answered after its commit. A batch commits as soon as a barrier waits, otherwise
/// after [`LINGER`]. A batch that fails is kept and retried, with the writes
/// queued after it, until it commits (then every waiting barrier is answered `Ok`) or the store
/// fails for good: a fatal error, or no commit for the stall timeout. A failed store answers
/// every barrier with its error and writes nothing more, so a stored chain never has a gap.
pub(super) struct Writer {
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
    /// Since when `pending` has waited without a barrier.
    lingering_since: Option<Instant>,
}

/// How long queued writes wait for a barrier (or more writes) before they are committed
/// anyway: what an event no operation waits for may take to reach the file.
const LINGER: Duration = Duration::from_millis(2);

/// Largest number of queued messages taken into one batch.
const BATCH: usize = 4096;

impl Writer {
    pub(super) fn new(
        conn: Connection,
        health: watch::Sender<StoreHealth>,
        stall: Duration,
    ) -> Self {
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
            lingering_since: None,
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        let mut closing = false;
        while !closing {
            // Block for work only when nothing is waiting to be retried.
            let mut linger_over = false;
            let first = if self.pending.is_empty() && self.waiters.is_empty() {
                match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                }
            } else if self.waiters.is_empty()
                && self.failing_since.is_none()
                && self.failed.is_none()
            {
                // Writes no barrier waits for yet linger a moment: the barrier that usually
                // follows them (an operation's) then finds them in its own transaction, and one
                // commit covers the whole operation.
                // Once the linger is over the batch commits, however fast writes keep coming.
                let since = *self.lingering_since.get_or_insert_with(Instant::now);
                let left = (since + LINGER).saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(m) if !left.is_zero() => Some(m),
                    Ok(m) => {
                        linger_over = true;
                        Some(m)
                    }
                    Err(_) => {
                        linger_over = true;
                        None
                    }
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
            let ready = linger_over
                || closing
                || !self.waiters.is_empty()
                || self.failing_since.is_some()
                || self.pending.len() >= BATCH;
            if ready
                && self.failed.is_none()
                && !(self.pending.is_empty() && self.waiters.is_empty())
            {
                self.lingering_since = None;
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
