//! The data directory of the CLI: where `run` keeps the durable event store, and how the
//! read-only commands (`verify --data`, `events`, `tree`) open it.

use super::store_select::ReadStore;
use crate::store::{SqliteStore, StoredActor};
use std::path::{Path, PathBuf};

/// The data directory when `--data` is not given: `$THEATER_DATA_DIR`, else
/// `$XDG_DATA_HOME/theater-supervisor`, else `~/.local/share/theater-supervisor`, else
/// `./.theater-data`.
pub fn default_dir() -> PathBuf {
    // An empty variable counts as unset (it would put the store in the current directory).
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(d) = var("THEATER_DATA_DIR") {
        return d.into();
    }
    if let Some(d) = var("XDG_DATA_HOME") {
        return PathBuf::from(d).join("theater-supervisor");
    }
    if let Some(h) = var("HOME") {
        return PathBuf::from(h).join(".local/share/theater-supervisor");
    }
    PathBuf::from(".theater-data")
}

/// `--data DIR` or the default.
pub fn dir_or_default(dir: Option<&Path>) -> PathBuf {
    dir.map(Path::to_path_buf).unwrap_or_else(default_dir)
}

/// Opens a data directory read-only.
pub fn open(dir: &Path) -> anyhow::Result<SqliteStore> {
    Ok(SqliteStore::open_read_only(dir)?)
}

/// Finds one stored actor by its id or a unique prefix of it (log lines show 8 characters).
pub fn find_actor(store: &ReadStore, wanted: &str) -> anyhow::Result<StoredActor> {
    let actors = store.actors()?;
    if let Some(a) = actors.iter().find(|a| a.id == wanted) {
        return Ok(a.clone());
    }
    let hits: Vec<&StoredActor> = actors
        .iter()
        .filter(|a| !wanted.is_empty() && a.id.starts_with(wanted))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => anyhow::bail!(
            "no actor `{wanted}` in {} ({} actors stored; `theater-supervisor tree {}` lists them)",
            store.describe(),
            actors.len(),
            store.option_hint()
        ),
        many => anyhow::bail!(
            "`{wanted}` matches {} actors ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
