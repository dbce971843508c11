//! The writer task: group commit of queued writes, retries, health, fencing.
//!
//! Whatever is queued when a transaction starts goes into it (up to [`BATCH`] writes), so
//! concurrent operations share one round trip and one commit. A transaction starts as soon as a
//! barrier waits; writes no barrier waits for linger up to [`super::PostgresOptions::linger`] first. A batch that fails with a
//! transient error (connection lost, server restarting, disk full) stays at the head of the
//! queue and is retried with backoff; later writes queue behind it, so a chain never gets a gap.
//! The store fails for good on a conflicting event (a position already stored with another hash:
//! nothing is overwritten) or when nothing could be committed for the stall timeout; then every
//! barrier gets the error. A write the database refuses because its tree's lease moved to
//! another host (a newer epoch) is dropped with the rest of that tree's queued writes, and the
//! lease is reported lost.

use super::lease::Leases;
use super::{describe, schema, status_name};
use crate::store::StoreHealth;
use crate::store::{StoreWrite, StoredManifest};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use theater_core::status::ActorStatus;
use tokio::sync::{mpsc, oneshot, watch};

/// Most writes in one transaction.
pub(super) const BATCH: usize = 4096;

/// How long queued writes wait for a barrier (or more writes) before they are committed
/// anyway, by default ([`super::PostgresOptions::linger`]).
pub(super) const LINGER: Duration = Duration::from_millis(2);

/// A write with the tree and lease epoch it is written under.
pub(super) struct Routed {
    pub write: StoreWrite,
    /// `None`: refused before queueing (no lease held for its tree), with the reason.
    pub tree: Result<(String, i64), String>,
    /// The write stores a new root: its lease row (epoch 1) is created in the same transaction.
    pub new_root: bool,
}

pub(super) enum Msg {
    Write(Box<Routed>),
    Sync(oneshot::Sender<Result<(), String>>),
    Close(std::sync::mpsc::Sender<()>),
}

struct Pending {
    seq: u64,
    routed: Routed,
}

struct Waiter {
    /// Covers writes with `seq < target`.
    target: u64,
    /// Target of the barrier before it: refusals in `[from, target)` fail this barrier.
    from: u64,
    done: oneshot::Sender<Result<(), String>>,
}

pub(super) struct Writer {
    pub pool: deadpool_postgres::Pool,
    pub leases: Arc<Leases>,
    pub host: String,
    pub lease: Duration,
    pub stall_timeout: Duration,
    /// See [`super::PostgresOptions::linger`].
    pub linger: Duration,
    pub health: watch::Sender<StoreHealth>,
    /// Transactions committed so far.
    pub commits: Arc<std::sync::atomic::AtomicU64>,
}

enum CommitError {
    /// The tree's lease moved on: drop its writes carrying `epoch` or older.
    Fenced {
        root: String,
        epoch: i64,
        why: String,
    },
    /// Fails the store for good.
    Fatal(String),
    /// Retried.
    Transient(String),
}

impl Writer {
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut q = Queue::default();
        let mut stalled_since: Option<Instant> = None;
        let mut backoff = Duration::from_millis(10);
        let mut lingering_since: Option<tokio::time::Instant> = None;
        loop {
            // Wait for work unless some is pending (or we retry after a backoff).
            if q.pending.is_empty() && q.closing.is_none() {
                match rx.recv().await {
                    Some(m) => q.take(m),
                    None => break,
                }
            }
            while q.pending.len() < BATCH
                && let Ok(m) = rx.try_recv()
            {
                q.take(m);
            }
            if let Some(e) = &q.failed {
                q.pending.clear();
                for w in q.waiters.drain(..) {
                    let _ = w.done.send(Err(e.clone()));
                }
            }
            // Writes no barrier waits for yet linger a moment: the barrier that usually follows
            // them (an operation's) then finds them in its own transaction, not behind one in
            // flight, and one commit covers the whole operation.
            if q.waiters.is_empty() && q.closing.is_none() && !q.pending.is_empty() {
                // Once the linger is over the batch commits, however fast writes keep coming.
                let until =
                    *lingering_since.get_or_insert_with(tokio::time::Instant::now) + self.linger;
                if q.pending.len() < BATCH
                    && tokio::time::Instant::now() < until
                    && let Ok(Some(m)) = tokio::time::timeout_at(until, rx.recv()).await
                {
                    q.take(m);
                    continue;
                }
            }
            lingering_since = None;
            if !q.pending.is_empty() {
                let n = q.pending.len().min(BATCH);
                match self.commit(q.pending.range(..n)).await {
                    Ok(()) => {
                        self.commits
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        self.confirm(q.pending.range(..n));
                        q.pending.drain(..n);
                        stalled_since = None;
                        backoff = Duration::from_millis(10);
                        self.health.send_if_modified(|h| {
                            let changed = !matches!(h, StoreHealth::Healthy);
                            *h = StoreHealth::Healthy;
                            changed
                        });
                    }
                    Err(CommitError::Fenced { root, epoch, why }) => {
                        q.pending.retain(|p| match &p.routed.tree {
                            Ok((r, e)) if *r == root && *e <= epoch => {
                                q.refused.insert(p.seq, why.clone());
                                false
                            }
                            _ => true,
                        });
                        self.leases.lose(&root, Some(epoch), why);
                    }
                    Err(CommitError::Fatal(e)) => {
                        tracing::error!(error = %e, "event store failed for good");
                        self.health.send_replace(StoreHealth::Failed(e.clone()));
                        q.failed = Some(e);
                        continue;
                    }
                    Err(CommitError::Transient(e)) => {
                        let since = *stalled_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.stall_timeout {
                            let e = format!(
                                "nothing could be committed for {} ms: {e}",
                                self.stall_timeout.as_millis()
                            );
                            tracing::error!(error = %e, "event store failed for good");
                            self.health.send_replace(StoreHealth::Failed(e.clone()));
                            q.failed = Some(e);
                            continue;
                        }
                        tracing::warn!(error = %e, "event store: a batch failed; it stays queued and is retried");
                        self.health.send_if_modified(|h| {
                            let new = StoreHealth::Degraded(e.clone());
                            let changed = *h != new;
                            *h = new;
                            changed
                        });
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
            // Answer the barriers whose writes are all done.
            let done_upto = q.pending.front().map_or(q.queued, |p| p.seq);
            while q.waiters.front().is_some_and(|w| w.target <= done_upto) {
                let w = q.waiters.pop_front().expect("front");
                let why = q.refused.range(w.from..w.target).next().map(|(_, why)| why);
                let _ = w.done.send(match why {
                    Some(why) => Err(format!("a write was refused: {why}")),
                    None => Ok(()),
                });
            }
            let keep_from = q.waiters.front().map_or(q.last_target, |w| w.from);
            q.refused = q.refused.split_off(&keep_from);
            if let Some(done) = &q.closing
                && (q.pending.is_empty() || q.failed.is_some())
            {
                let _ = done.send(());
                break;
            }
        }
    }
}

/// The writer loop's queue: writes not committed yet, barriers waiting, refusals.
#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    waiters: VecDeque<Waiter>,
    /// Writes refused before or when committing, by sequence number, with the reason.
    refused: BTreeMap<u64, String>,
    /// Writes taken so far (the next one's sequence number).
    queued: u64,
    /// Target of the newest barrier.
    last_target: u64,
    /// Set once the store failed for good.
    failed: Option<String>,
    /// Set by `Close`: answered once everything pending is committed.
    closing: Option<std::sync::mpsc::Sender<()>>,
}

impl Queue {
    fn take(&mut self, m: Msg) {
        match m {
            Msg::Write(routed) => {
                let seq = self.queued;
                self.queued += 1;
                if let Err(why) = &routed.tree {
                    self.refused.insert(seq, why.clone());
                } else if self.failed.is_none() {
                    self.pending.push_back(Pending {
                        seq,
                        routed: *routed,
                    });
                }
            }
            Msg::Sync(done) => {
                if let Some(e) = &self.failed {
                    let _ = done.send(Err(e.clone()));
                    return;
                }
                self.waiters.push_back(Waiter {
                    target: self.queued,
                    from: self.last_target,
                    done,
                });
                self.last_target = self.queued;
            }
            Msg::Close(done) => self.closing = Some(done),
        }
    }
}

impl Writer {
    /// Marks the leases created by a committed batch as existing (renewal starts for them).
    fn confirm<'a>(&self, batch: impl Iterator<Item = &'a Pending>) {
        let roots: Vec<&str> = batch
            .filter(|p| p.routed.new_root)
            .filter_map(|p| p.routed.tree.as_ref().ok().map(|(r, _)| r.as_str()))
            .collect();
        if roots.is_empty() {
            return;
        }
        let mut r = self.leases.routing();
        for root in roots {
            if let Some(h) = r.held.get_mut(root) {
                h.confirmed = true;
                h.renewed = Instant::now();
            }
        }
    }

    async fn commit<'a>(
        &self,
        batch: impl Iterator<Item = &'a Pending>,
    ) -> Result<(), CommitError> {
        let rows = Rows::collect(batch);
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| CommitError::Transient(format!("cannot connect: {e}")))?;
        let tx = client.transaction().await.map_err(classify)?;
        rows.apply(&tx, &self.host, self.lease).await?;
        tx.commit().await.map_err(classify)
    }
}

/// Sorts a database error into the three kinds.
fn classify(e: tokio_postgres::Error) -> CommitError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code == schema::FENCED {
            let root = db.detail().unwrap_or_default().to_string();
            let epoch = db.hint().and_then(|h| h.parse().ok()).unwrap_or(i64::MAX);
            return CommitError::Fenced {
                root,
                epoch,
                why: db.message().to_string(),
            };
        }
        // Integrity (23), syntax/undefined objects (42), and our own raised errors (P0):
        // retrying cannot help.
        if code.starts_with("23") || code.starts_with("42") || code.starts_with("P0") {
            return CommitError::Fatal(describe(&e));
        }
    }
    CommitError::Transient(describe(&e))
}

/// One batch as column arrays, one statement per table.
#[derive(Default)]
struct Rows {
    new_roots: Vec<String>,
    actors: ActorRows,
    events: EventRows,
    /// The last state per actor.
    states: HashMap<String, Latest<Option<Vec<u8>>>>,
    /// The last status and restart count per actor.
    statuses: HashMap<String, Latest<(ActorStatus, u32)>>,
    /// Roots whose tree ended in this batch: (root, epoch).
    ended: Vec<(String, i64)>,
}

/// The latest value of an actor's state or status in a batch.
struct Latest<T> {
    root: String,
    epoch: i64,
    value: T,
    /// `false` (from a new actor's record): written only if none is stored yet.
    upsert: bool,
}

#[derive(Default)]
struct ActorRows {
    id: Vec<String>,
    root: Vec<String>,
    epoch: Vec<i64>,
    parent: Vec<Option<String>>,
    name: Vec<String>,
    manifest_path: Vec<Option<String>>,
    manifest_text: Vec<Option<String>>,
    manifest_dir: Vec<Option<String>>,
    start_mode: Vec<String>,
    start_bytes: Vec<Option<Vec<u8>>>,
}

#[derive(Default)]
struct EventRows {
    actor: Vec<String>,
    idx: Vec<i64>,
    root: Vec<String>,
    epoch: Vec<i64>,
    hash: Vec<Vec<u8>>,
    parent_hash: Vec<Option<Vec<u8>>>,
    event_type: Vec<String>,
    data: Vec<Vec<u8>>,
    ts: Vec<i64>,
    description: Vec<Option<String>>,
}

impl Rows {
    fn collect<'a>(batch: impl Iterator<Item = &'a Pending>) -> Self {
        let mut rows = Rows::default();
        for p in batch {
            let Ok((root, epoch)) = &p.routed.tree else {
                continue;
            };
            let (root, epoch) = (root.clone(), *epoch);
            if p.routed.new_root {
                rows.new_roots.push(root.clone());
            }
            match &p.routed.write {
                StoreWrite::Actor(a) => {
                    let (path, text, dir) = match &a.manifest {
                        StoredManifest::Path(p) => (Some(p.display().to_string()), None, None),
                        StoredManifest::Inline { text, dir } => {
                            (None, Some(text.clone()), Some(dir.display().to_string()))
                        }
                    };
                    let r = &mut rows.actors;
                    r.id.push(a.id.clone());
                    r.root.push(root.clone());
                    r.epoch.push(epoch);
                    r.parent.push(a.parent.clone());
                    r.name.push(a.name.clone());
                    r.manifest_path.push(path);
                    r.manifest_text.push(text);
                    r.manifest_dir.push(dir);
                    r.start_mode.push(a.start_mode.clone());
                    r.start_bytes.push(a.start_bytes.clone());
                    rows.states.entry(a.id.clone()).or_insert(Latest {
                        root: root.clone(),
                        epoch,
                        value: a.state.clone(),
                        upsert: false,
                    });
                    rows.statuses.entry(a.id.clone()).or_insert(Latest {
                        root,
                        epoch,
                        value: (a.status, a.restarts),
                        upsert: false,
                    });
                }
                StoreWrite::Event {
                    actor,
                    index,
                    event,
                } => {
                    let r = &mut rows.events;
                    r.actor.push(actor.clone());
                    r.idx.push(*index as i64);
                    r.root.push(root);
                    r.epoch.push(epoch);
                    r.hash.push(event.hash.to_vec());
                    r.parent_hash.push(event.parent_hash.map(|h| h.to_vec()));
                    r.event_type.push(event.event_type.clone());
                    r.data.push(event.data.clone());
                    r.ts.push(event.timestamp as i64);
                    r.description.push(event.description.clone());
                }
                StoreWrite::State { actor, state } => {
                    rows.states.insert(
                        actor.clone(),
                        Latest {
                            root,
                            epoch,
                            value: state.clone(),
                            upsert: true,
                        },
                    );
                }
                StoreWrite::Status {
                    actor,
                    status,
                    restarts,
                } => {
                    if *actor == root
                        && matches!(status, ActorStatus::Stopped | ActorStatus::Failed)
                    {
                        rows.ended.push((root.clone(), epoch));
                    }
                    rows.statuses.insert(
                        actor.clone(),
                        Latest {
                            root,
                            epoch,
                            value: (*status, *restarts),
                            upsert: true,
                        },
                    );
                }
            }
        }
        rows
    }

    async fn apply(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        host: &str,
        lease: Duration,
    ) -> Result<(), CommitError> {
        if !self.new_roots.is_empty() {
            let st = tx
                .prepare_cached(
                    "INSERT INTO leases (root, owner, epoch, expires_at)
                     SELECT r, $2, 1, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) r
                     ON CONFLICT (root) DO NOTHING",
                )
                .await
                .map_err(classify)?;
            tx.execute(&st, &[&self.new_roots, &host, &(lease.as_millis() as f64)])
                .await
                .map_err(classify)?;
        }
        // The rest is sent at once (tokio-postgres pipelines the statements of one connection):
        // one round trip for the whole batch, then the commit. The statements touch different
        // tables and rows, so the order the server runs them in does not matter.
        let (_, inserted, ..) = tokio::try_join!(
            self.insert_actors(tx),
            self.insert_events(tx),
            self.write_states(tx, false),
            self.write_statuses(tx, false),
            self.write_states(tx, true),
            self.write_statuses(tx, true),
            self.mark_ended(tx),
        )?;
        let e = &self.events;
        if inserted < e.actor.len() as u64 {
            // Rows skipped as conflicts never reach the fencing trigger: a stale owner's
            // event at a position the new owner already wrote is refused for its epoch here,
            // before it could count as a conflict.
            self.check_epochs(tx).await?;
            let st = tx
                .prepare_cached(
                    "SELECT u.actor, u.idx FROM unnest($1::text[], $2::int8[], $3::bytea[])
                            AS u(actor, idx, hash)
                       JOIN events s ON s.actor = u.actor AND s.idx = u.idx
                      WHERE s.hash <> u.hash LIMIT 1",
                )
                .await
                .map_err(classify)?;
            if let Some(row) = tx
                .query_opt(&st, &[&e.actor, &e.idx, &e.hash])
                .await
                .map_err(classify)?
            {
                return Err(CommitError::Fatal(format!(
                    "actor {}: event {} is already stored with another hash (a conflicting write; nothing was overwritten)",
                    row.get::<_, String>(0),
                    row.get::<_, i64>(1)
                )));
            }
        }
        Ok(())
    }

    async fn insert_actors(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), CommitError> {
        let a = &self.actors;
        if a.id.is_empty() {
            return Ok(());
        }
        let st = tx
            .prepare_cached(
                "INSERT INTO actors (id, root, epoch, parent, name, manifest_path, manifest_text,
                                     manifest_dir, start_mode, start_bytes)
                 SELECT id, root, epoch, parent, name, mp, mt, md, sm, sb
                   FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[],
                               $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])
                        WITH ORDINALITY AS u(id, root, epoch, parent, name, mp, mt, md, sm, sb, ord)
                  ORDER BY ord
                 ON CONFLICT (id) DO NOTHING",
            )
            .await
            .map_err(classify)?;
        tx.execute(
            &st,
            &[
                &a.id,
                &a.root,
                &a.epoch,
                &a.parent,
                &a.name,
                &a.manifest_path,
                &a.manifest_text,
                &a.manifest_dir,
                &a.start_mode,
                &a.start_bytes,
            ],
        )
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Inserts the batch's events; returns how many were new.
    async fn insert_events(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<u64, CommitError> {
        let e = &self.events;
        if e.actor.is_empty() {
            return Ok(0);
        }
        // An event already stored at the same position with the same hash is this host's own
        // earlier commit whose acknowledgement was lost (a retried batch): kept as it is. Any
        // other stored event there is a conflict: the store fails, nothing is overwritten.
        let st = tx
            .prepare_cached(
                "INSERT INTO events (actor, idx, root, epoch, hash, parent_hash, event_type,
                                     data, ts, description)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[],
                                      $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],
                                      $9::int8[], $10::text[])
                 ON CONFLICT (actor, idx) DO NOTHING",
            )
            .await
            .map_err(classify)?;
        let inserted = tx
            .execute(
                &st,
                &[
                    &e.actor,
                    &e.idx,
                    &e.root,
                    &e.epoch,
                    &e.hash,
                    &e.parent_hash,
                    &e.event_type,
                    &e.data,
                    &e.ts,
                    &e.description,
                ],
            )
            .await
            .map_err(classify)?;
        Ok(inserted)
    }

    async fn mark_ended(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<(), CommitError> {
        if self.ended.is_empty() {
            return Ok(());
        }
        let (roots, epochs): (Vec<&str>, Vec<i64>) =
            self.ended.iter().map(|(r, e)| (r.as_str(), *e)).unzip();
        let st = tx
            .prepare_cached(
                "UPDATE leases l SET ended = true, changed_at = now()
                   FROM unnest($1::text[], $2::int8[]) AS h(root, epoch)
                  WHERE l.root = h.root AND l.epoch = h.epoch",
            )
            .await
            .map_err(classify)?;
        tx.execute(&st, &[&roots, &epochs])
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Locks the batch's trees' lease rows and refuses the batch if one of its epochs is not
    /// the tree's current one (what the fencing trigger does for inserted rows).
    async fn check_epochs(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), CommitError> {
        let mut carried: HashMap<&str, i64> = HashMap::new();
        for (root, epoch) in self.events.root.iter().zip(&self.events.epoch) {
            carried.insert(root.as_str(), *epoch);
        }
        let roots: Vec<&str> = carried.keys().copied().collect();
        let st = tx
            .prepare_cached(
                "SELECT root, epoch, owner FROM leases WHERE root = ANY($1::text[]) FOR SHARE",
            )
            .await
            .map_err(classify)?;
        let rows = tx.query(&st, &[&roots]).await.map_err(classify)?;
        let current: HashMap<String, (i64, String)> = rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        for (root, epoch) in carried {
            match current.get(root) {
                Some((now, _)) if *now == epoch => {}
                now => {
                    let (now, owner) = now
                        .map(|(e, o)| (e.to_string(), o.clone()))
                        .unwrap_or(("none".into(), "none".into()));
                    return Err(CommitError::Fenced {
                        root: root.to_string(),
                        epoch,
                        why: format!(
                            "fenced: tree {root} is at epoch {now} (owner {owner}), this write carries epoch {epoch}"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    async fn write_states(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        upsert: bool,
    ) -> Result<(), CommitError> {
        let (mut actor, mut root, mut epoch, mut state) = (vec![], vec![], vec![], vec![]);
        for (a, l) in &self.states {
            if l.upsert == upsert {
                actor.push(a.as_str());
                root.push(l.root.as_str());
                epoch.push(l.epoch);
                state.push(l.value.as_deref());
            }
        }
        if actor.is_empty() {
            return Ok(());
        }
        let sql = if upsert {
            "INSERT INTO states (actor, root, epoch, state)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::bytea[])
             ON CONFLICT (actor) DO UPDATE SET state = excluded.state, epoch = excluded.epoch,
                                               root = excluded.root"
        } else {
            "INSERT INTO states (actor, root, epoch, state)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::bytea[])
             ON CONFLICT (actor) DO NOTHING"
        };
        let st = tx.prepare_cached(sql).await.map_err(classify)?;
        tx.execute(&st, &[&actor, &root, &epoch, &state])
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn write_statuses(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        upsert: bool,
    ) -> Result<(), CommitError> {
        let (mut actor, mut root, mut epoch, mut status, mut restarts) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (a, l) in &self.statuses {
            if l.upsert == upsert {
                actor.push(a.as_str());
                root.push(l.root.as_str());
                epoch.push(l.epoch);
                status.push(status_name(l.value.0));
                restarts.push(l.value.1 as i32);
            }
        }
        if actor.is_empty() {
            return Ok(());
        }
        let sql = if upsert {
            "INSERT INTO statuses (actor, root, epoch, status, restarts)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int4[])
             ON CONFLICT (actor) DO UPDATE SET status = excluded.status,
                 restarts = excluded.restarts, epoch = excluded.epoch, root = excluded.root"
        } else {
            "INSERT INTO statuses (actor, root, epoch, status, restarts)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int4[])
             ON CONFLICT (actor) DO NOTHING"
        };
        let st = tx.prepare_cached(sql).await.map_err(classify)?;
        tx.execute(&st, &[&actor, &root, &epoch, &status, &restarts])
            .await
            .map_err(classify)?;
        Ok(())
    }
}
