//! Which event store a command uses: the SQLite file of a data directory (`--data DIR`, the
//! default) or a PostgreSQL database shared by several hosts (`--store postgres://...`).

use super::data;
use crate::chain::ChainEvent;
use crate::store::{LeaseInfo, PostgresStore, SqliteStore, Storage, StoreError, StoredActor};
use std::path::Path;

/// `--store URL` of the read-only commands: checked at parse time.
pub fn parse_store_url(s: &str) -> Result<String, String> {
    if crate::store::is_postgres_url(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a store URL: expected postgres://user@host:port/dbname (the embedded store is chosen with --data DIR)"
        ))
    }
}

/// An event store opened for reading.
pub enum ReadStore {
    /// A data directory's SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl ReadStore {
    /// Opens `--store URL` if given, else the data directory (`--data DIR` or the default).
    pub fn open(dir: Option<&Path>, url: Option<&str>) -> anyhow::Result<Self> {
        Ok(match url {
            Some(url) => Self::Postgres(PostgresStore::open_read_only(url)?),
            None => Self::Sqlite(data::open(&data::dir_or_default(dir))?),
        })
    }

    /// Where it is, for messages: the database file, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(s) => s.path().display().to_string(),
            Self::Postgres(p) => p.target().to_string(),
        }
    }

    /// The option that names this store again, for hints (`--data DIR` or `--store URL`).
    pub fn option_hint(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "--data DIR",
            Self::Postgres(_) => "--store URL",
        }
    }

    fn storage(&self) -> &dyn Storage {
        match self {
            Self::Sqlite(s) => s,
            Self::Postgres(p) => p,
        }
    }

    /// Every stored actor, in creation order.
    pub fn actors(&self) -> Result<Vec<StoredActor>, StoreError> {
        self.storage().actors()
    }

    /// Stored events of one actor from position `from` on.
    pub fn events(&self, actor: &str, from: u64) -> Result<Vec<ChainEvent>, StoreError> {
        self.storage().events(actor, from)
    }

    /// Every stored event of one actor with its position, gaps included.
    pub fn stored_events(&self, actor: &str) -> Result<Vec<(u64, ChainEvent)>, StoreError> {
        self.storage().stored_events(actor)
    }

    /// The trees' leases (PostgreSQL only; none for a data directory, owned by its one host).
    pub fn leases(&self) -> Result<Vec<LeaseInfo>, StoreError> {
        match self {
            Self::Sqlite(_) => Ok(Vec::new()),
            Self::Postgres(p) => p.leases(),
        }
    }
}

/// The store `run` writes: a data directory's SQLite file, or a shared PostgreSQL database.
#[derive(Clone)]
pub enum HostStore {
    /// `--data DIR` (the default).
    Sqlite(std::sync::Arc<SqliteStore>),
    /// `--store postgres://...`.
    Postgres(std::sync::Arc<PostgresStore>),
}

impl HostStore {
    /// As the actor system's storage.
    pub fn storage(&self) -> std::sync::Arc<dyn Storage> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(p) => p.clone(),
        }
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(s) => s.path().display().to_string(),
            Self::Postgres(p) => format!("{} as host {}", p.target(), p.host_id()),
        }
    }

    /// Commits what is queued and stops the writer.
    pub fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close(),
            Self::Postgres(p) => p.close(),
        }
    }
}
