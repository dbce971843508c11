//! [`PostgresStore`]: the event store in a PostgreSQL database, shared by several hosts.
//!
//! Tables (schema [`schema`]): `actors` (written once per actor), `events` (append-only, one row
//! per chain position, unique on actor + position), `states` and `statuses` (the latest per
//! actor), `leases` (one per root tree: owner host id, epoch, expiry; see [`lease`]), and
//! `schema_version`. The host creates and migrates them at start.
//!
//! One writer task commits whatever is queued as one transaction (group commit, see
//! [`writer`]); a barrier ([`Storage::sync`]) completes once everything queued before it is
//! committed in PostgreSQL (with the server's `synchronous_commit`, `on` by default: flushed to
//! its WAL). The client runs on its own thread with its own Tokio runtime, so the store works the
//! same from async code, blocking threads and plain `main`s; reads block the calling thread
//! until the answer arrives (call them from `spawn_blocking` in async code).
//!
//! The URL is a libpq-style `postgres://user:password@host:port/dbname`; an extra `schema=NAME`
//! query parameter chooses the PostgreSQL schema (default `theater`), so several independent
//! stores can share one database.

mod lease;
mod schema;
mod writer;

pub use lease::{LeaseInfo, LeaseLost, default_host_id};

use super::{Storage, StoreError, StoreHealth, StoreWrite, StoredActor, StoredManifest, SyncWait};
use crate::chain::ChainEvent;
use lease::{Held, Leases};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use theater_core::status::ActorStatus;
use tokio::sync::{mpsc, oneshot, watch};
use writer::{Msg, Routed, Writer};

/// How a [`PostgresStore`] writes and leases.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// This host's id, recorded as the owner of the trees it runs (default
    /// [`default_host_id`]: hostname and process id).
    pub host_id: String,
    /// Length of a tree lease (default 5 s).
    pub lease: Duration,
    /// How often held leases are renewed (default a third of the lease).
    pub renew_every: Option<Duration>,
    /// The store fails for good when nothing could be committed for this long (default 10 s,
    /// as [`crate::store::StoreOptions`]).
    pub stall_timeout: Duration,
    /// Most connections to the database (default 4: the writer, renewals, reads).
    pub max_connections: usize,
    /// How long writes no barrier waits for yet are held before a transaction commits them
    /// anyway (default 2 ms): an operation's writes and its barrier then share one transaction.
    pub linger: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            host_id: default_host_id(),
            lease: Duration::from_secs(5),
            renew_every: None,
            stall_timeout: Duration::from_secs(10),
            max_connections: 4,
            linger: writer::LINGER,
        }
    }
}

/// The event store in a PostgreSQL database.
pub struct PostgresStore {
    client: Client,
    host: String,
    lease: Duration,
    tx: Option<mpsc::UnboundedSender<Msg>>,
    leases: Arc<Leases>,
    health: watch::Receiver<StoreHealth>,
    commits: Arc<std::sync::atomic::AtomicU64>,
}

/// The connection pool on the client thread's runtime.
struct Client {
    /// `postgres://user@host:port/db (schema S)`, without the password, for messages.
    target: String,
    schema: String,
    handle: tokio::runtime::Handle,
    pool: deadpool_postgres::Pool,
    /// Stops the client thread's runtime; joined by `stop`.
    thread: Mutex<Option<(oneshot::Sender<()>, std::thread::JoinHandle<()>)>>,
}

/// A database error with the server's message and detail.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {} ({d})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

pub(super) fn status_name(s: ActorStatus) -> &'static str {
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

/// Whether `s` names a PostgreSQL store (`postgres://` or `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Splits the `schema=` parameter off a URL and builds the client configuration.
fn parse_url(url: &str) -> Result<(tokio_postgres::Config, String, String), StoreError> {
    if !is_postgres_url(url) {
        return Err(StoreError(format!(
            "`{url}` is not a PostgreSQL URL (expected postgres://user@host:port/dbname)"
        )));
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut schema = "theater".to_string();
    let mut rest = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("schema", v)) => schema = v.to_string(),
            _ => rest.push(kv),
        }
    }
    if !schema::valid_schema_name(&schema) {
        return Err(StoreError(format!(
            "schema `{schema}` in {url}: a schema name is lower-case letters, digits and `_`, not starting with a digit"
        )));
    }
    let clean = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = tokio_postgres::Config::from_str(&clean)
        .map_err(|e| StoreError(format!("invalid PostgreSQL URL: {e}")))?;
    config
        .application_name(format!("theater-supervisor/{schema}"))
        // A host paused (SIGSTOP, a suspended VM) inside a transaction would hold its lease
        // row's lock and block the take-over for as long as it sleeps: the server ends such a
        // session after 2 s (the host's writer retries its batch on a new connection).
        .options(format!(
            "-c search_path={schema} -c idle_in_transaction_session_timeout=2000"
        ));
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{p}"),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let target = format!(
        "postgres://{}@{}/{} (schema {schema})",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        config.get_dbname().unwrap_or("?"),
    );
    Ok((config, schema, target))
}

impl Client {
    /// Starts the client thread and the pool; checks that the database answers.
    fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let (config, schema, target) = parse_url(url)?;
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("theater-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                rt.block_on(async move {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| StoreError(format!("cannot start the store's thread: {e}")))?;
        let handle = handle_rx
            .recv()
            .map_err(|_| StoreError("the store's thread died".into()))?
            .map_err(|e| StoreError(format!("cannot start the store's runtime: {e}")))?;
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(max_connections.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError(format!("cannot set up the connection pool: {e}")))?;
        let client = Self {
            target,
            schema,
            handle,
            pool,
            thread: Mutex::new(Some((stop, thread))),
        };
        let pool = client.pool.clone();
        client
            .run(async move {
                let c = pool.get().await.map_err(pool_error)?;
                c.simple_query("SELECT 1").await.map_err(|e| describe(&e))?;
                Ok::<_, String>(())
            })?
            .map_err(|e| {
                StoreError(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    client.target
                ))
            })?;
        Ok(client)
    }

    /// Runs `fut` on the store's runtime and waits for it, from any thread.
    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError(format!("the store for {} is closed", self.target)))
    }

    /// Runs a query on a pooled connection and waits for its rows.
    fn query(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let st = client.prepare_cached(sql).await.map_err(|e| describe(&e))?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            client.query(&st, &refs).await.map_err(|e| describe(&e))
        })?
        .map_err(|e| StoreError(format!("{}: {e}", self.target)))
    }

    /// Stops the client thread (its runtime drops every task still running).
    fn stop(&self) {
        if let Some((stop, thread)) = self.thread.lock().expect("store thread").take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => describe(&e),
        e => e.to_string(),
    }
}

impl PostgresStore {
    /// Connects, creates or migrates the schema, and starts the writer and the lease renewal.
    pub fn open(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let client = Client::connect(url, options.max_connections)?;
        let (pool, schema) = (client.pool.clone(), client.schema.clone());
        let found = client
            .run(async move {
                let mut c = pool.get().await.map_err(pool_error)?;
                schema::migrate(&mut c, &schema)
                    .await
                    .map_err(|e| describe(&e))
            })?
            .map_err(|e| {
                StoreError(format!(
                    "cannot open the event store in {}: {e}",
                    client.target
                ))
            })?;
        if found > schema::VERSION {
            return Err(StoreError(format!(
                "the event store in {} has schema version {found}, newer than this host knows ({}): upgrade theater-supervisor",
                client.target,
                schema::VERSION
            )));
        }
        let leases = Arc::new(Leases::new());
        let (health_tx, health) = watch::channel(StoreHealth::Healthy);
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = Writer {
            commits: commits.clone(),
            pool: client.pool.clone(),
            leases: leases.clone(),
            host: options.host_id.clone(),
            lease: options.lease,
            stall_timeout: options.stall_timeout,
            linger: options.linger,
            health: health_tx,
        };
        client.handle.spawn(writer.run(rx));
        let every = options.renew_every.unwrap_or(options.lease / 3);
        let (pool, renewing, host, length) = (
            client.pool.clone(),
            leases.clone(),
            options.host_id.clone(),
            options.lease,
        );
        client.handle.spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                lease::renew_once(&pool, &renewing, &host, length).await;
            }
        });
        Ok(Self {
            client,
            host: options.host_id,
            lease: options.lease,
            tx: Some(tx),
            leases,
            health,
            commits,
        })
    }

    /// Opens the store for reading only (`verify`, `events`, `tree`): no writer, no leases.
    pub fn open_read_only(url: &str) -> Result<Self, StoreError> {
        let client = Client::connect(url, 2)?;
        let (pool, schema) = (client.pool.clone(), client.schema.clone());
        let version = client
            .run(async move {
                let c = pool.get().await.map_err(pool_error)?;
                schema::version(&c, &schema).await.map_err(|e| describe(&e))
            })?
            .map_err(|e| {
                StoreError(format!(
                    "cannot read the event store in {}: {e}",
                    client.target
                ))
            })?;
        match version {
            Some(v) if v > schema::VERSION => Err(StoreError(format!(
                "the event store in {} has schema version {v}, newer than this host knows ({}): upgrade theater-supervisor",
                client.target,
                schema::VERSION
            ))),
            Some(_) => Ok(Self {
                client,
                host: String::new(),
                lease: Duration::ZERO,
                tx: None,
                leases: Arc::new(Leases::new()),
                health: watch::channel(StoreHealth::Healthy).1,
                commits: Default::default(),
            }),
            None => Err(StoreError(format!(
                "no event store in {} (`theater-supervisor run --store URL` creates it)",
                client.target
            ))),
        }
    }

    fn query(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.client.query(sql, params)
    }

    /// Where the store is: `postgres://user@host:port/db (schema S)` (no password).
    pub fn target(&self) -> &str {
        &self.client.target
    }

    /// This host's id (empty for a read-only store).
    pub fn host_id(&self) -> &str {
        &self.host
    }

    /// Length of the leases this store takes.
    pub fn lease_length(&self) -> Duration {
        self.lease
    }

    /// Transactions the writer committed so far (each holds every write queued when it began).
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reports every lease this store loses from now on.
    pub fn lost_leases(&self) -> tokio::sync::broadcast::Receiver<LeaseLost> {
        self.leases.lost.subscribe()
    }

    /// The trees this store holds leases for, with their epochs.
    pub fn held(&self) -> Vec<(String, i64)> {
        let mut held: Vec<(String, i64)> = self
            .leases
            .routing()
            .held
            .iter()
            .map(|(r, h)| (r.clone(), h.epoch))
            .collect();
        held.sort();
        held
    }

    /// Every stored lease, oldest tree first.
    pub fn leases(&self) -> Result<Vec<LeaseInfo>, StoreError> {
        let rows = self.query(
            "SELECT l.root, l.owner, l.epoch,
                    (extract(epoch FROM (l.expires_at - now())) * 1000)::int8, l.ended
               FROM leases l LEFT JOIN actors a ON a.id = l.root
              ORDER BY a.seq NULLS LAST, l.root",
            vec![],
        )?;
        Ok(rows
            .iter()
            .map(|r| LeaseInfo {
                root: r.get(0),
                owner: r.get(1),
                epoch: r.get(2),
                expires_in_ms: r.get(3),
                ended: r.get(4),
            })
            .collect())
    }

    /// Takes over the lease of the tree rooted at `root` once it has expired: the epoch grows by
    /// one, this host becomes the owner, and its writes for the tree carry the new epoch.
    /// Returns the new epoch, or `None` when the lease is live, ended, or missing (the reason is
    /// in [`LeaseInfo`] from [`PostgresStore::leases`]).
    pub fn take_over(&self, root: &str) -> Result<Option<i64>, StoreError> {
        let started = Instant::now();
        let rows = self.query(
            "UPDATE leases SET owner = $2, epoch = epoch + 1, changed_at = now(),
                               expires_at = now() + $3 * interval '1 millisecond'
              WHERE root = $1 AND NOT ended AND expires_at < now()
              RETURNING epoch",
            vec![
                Box::new(root.to_string()),
                Box::new(self.host.clone()),
                Box::new(self.lease.as_millis() as f64),
            ],
        )?;
        let Some(epoch) = rows.first().map(|r| r.get::<_, i64>(0)) else {
            return Ok(None);
        };
        let members = self.query(
            "SELECT id FROM actors WHERE root = $1",
            vec![Box::new(root.to_string())],
        )?;
        let mut r = self.leases.routing();
        for m in &members {
            r.tree_of.insert(m.get(0), root.to_string());
        }
        r.tree_of.insert(root.to_string(), root.to_string());
        r.held.insert(
            root.to_string(),
            Held {
                epoch,
                confirmed: true,
                renewed: started,
            },
        );
        tracing::info!(%root, epoch, host = %self.host, "took over a tree's lease");
        Ok(Some(epoch))
    }

    /// The stored actors of one tree, in creation order.
    pub fn tree_actors(&self, root: &str) -> Result<Vec<StoredActor>, StoreError> {
        self.select_actors(Some(root), None)
    }

    /// Commits everything queued and stops the writer, the renewals and the client thread (also
    /// done on drop). Held leases are not released: they expire (a tree still running in the
    /// database is taken over by another host).
    pub fn close(&self) {
        if let Some(tx) = &self.tx {
            let (done, wait) = std::sync::mpsc::channel();
            if tx.send(Msg::Close(done)).is_ok() {
                let _ = wait.recv();
            }
        }
        self.client.stop();
    }

    /// Decides the tree and epoch of a write.
    fn route(&self, w: &StoreWrite) -> Routed {
        let mut r = self.leases.routing();
        let (actor, parent) = match w {
            StoreWrite::Actor(a) => (&a.id, Some(a.parent.as_deref())),
            StoreWrite::Event { actor, .. }
            | StoreWrite::State { actor, .. }
            | StoreWrite::Status { actor, .. } => (actor, None),
        };
        let mut new_root = false;
        let root = match parent {
            Some(None) => {
                // A new root: its tree gets a lease with epoch 1, created with it.
                if !r.held.contains_key(actor) && !r.tree_of.contains_key(actor) {
                    new_root = true;
                    r.held.insert(
                        actor.clone(),
                        Held {
                            epoch: 1,
                            confirmed: false,
                            renewed: Instant::now(),
                        },
                    );
                }
                Some(actor.clone())
            }
            Some(Some(p)) => r.tree_of.get(p).cloned(),
            None => r.tree_of.get(actor).cloned(),
        };
        if let Some(root) = &root {
            r.tree_of.insert(actor.clone(), root.clone());
        }
        let tree = match root {
            None => Err(format!(
                "actor {actor} belongs to no tree this host ({}) holds",
                self.host
            )),
            Some(root) => match r.held.get(&root) {
                Some(h) => Ok((root, h.epoch)),
                None => Err(format!(
                    "host {} does not hold the lease of tree {root}",
                    self.host
                )),
            },
        };
        if let Err(why) = &tree {
            tracing::debug!(%why, "event store: a write was refused");
        }
        Routed {
            write: w.clone(),
            tree,
            new_root,
        }
    }

    fn select_actors(
        &self,
        root: Option<&str>,
        only: Option<&str>,
    ) -> Result<Vec<StoredActor>, StoreError> {
        let rows = self.query(
            "SELECT a.id, a.parent, a.name, a.manifest_path, a.manifest_text, a.manifest_dir,
                    a.start_mode, a.start_bytes, s.status, st.state, s.restarts,
                    coalesce((SELECT max(e.idx) + 1 FROM events e WHERE e.actor = a.id), 0)
               FROM actors a
               LEFT JOIN statuses s ON s.actor = a.id
               LEFT JOIN states st ON st.actor = a.id
              WHERE ($1::text IS NULL OR a.root = $1) AND ($2::text IS NULL OR a.id = $2)
              ORDER BY a.seq",
            vec![
                Box::new(root.map(str::to_string)),
                Box::new(only.map(str::to_string)),
            ],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.get(0);
            let manifest = match (
                r.get::<_, Option<String>>(3),
                r.get::<_, Option<String>>(4),
                r.get::<_, Option<String>>(5),
            ) {
                (Some(p), _, _) => StoredManifest::Path(p.into()),
                (None, Some(text), Some(dir)) => StoredManifest::Inline {
                    text,
                    dir: dir.into(),
                },
                _ => return Err(StoreError(format!("actor {id}: no stored manifest"))),
            };
            let status: Option<String> = r.get(8);
            out.push(StoredActor {
                parent: r.get(1),
                name: r.get(2),
                manifest,
                start_mode: r.get(6),
                start_bytes: r.get(7),
                status: parse_status(status.as_deref().unwrap_or("starting"))?,
                state: r.get(9),
                restarts: r.get::<_, Option<i32>>(10).unwrap_or(0) as u32,
                next_index: r.get::<_, i64>(11) as u64,
                id,
            });
        }
        Ok(out)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Storage for PostgresStore {
    fn write(&self, w: StoreWrite) {
        let Some(tx) = &self.tx else {
            tracing::error!("event store opened read-only; a write was dropped");
            return;
        };
        let routed = self.route(&w);
        if tx.send(Msg::Write(Box::new(routed))).is_err() {
            tracing::error!("event store writer has stopped; a write was lost");
        }
    }

    fn sync(&self) -> SyncWait {
        let (done, wait) = oneshot::channel();
        match &self.tx {
            Some(tx) => {
                if let Err(e) = tx.send(Msg::Sync(done))
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
        self.select_actors(None, None)
    }

    fn actor(&self, id: &str) -> Result<Option<StoredActor>, StoreError> {
        Ok(self.select_actors(None, Some(id))?.pop())
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

impl PostgresStore {
    fn select_events(&self, actor: &str, from: u64) -> Result<Vec<(u64, ChainEvent)>, StoreError> {
        let rows = self.query(
            "SELECT idx, hash, parent_hash, event_type, data, ts, description
               FROM events WHERE actor = $1 AND idx >= $2 ORDER BY idx",
            vec![Box::new(actor.to_string()), Box::new(from as i64)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let idx: i64 = r.get(0);
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
                    hash: hash32(r.get(1), "hash")?,
                    parent_hash: r
                        .get::<_, Option<Vec<u8>>>(2)
                        .map(|p| hash32(p, "parent hash"))
                        .transpose()?,
                    event_type: r.get(3),
                    data: r.get(4),
                    timestamp: r.get::<_, i64>(5) as u64,
                    description: r.get(6),
                },
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
