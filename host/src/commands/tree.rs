//! `theater-supervisor tree [--data DIR | --store URL]`: the stored supervision trees with each
//! actor's status, and with a PostgreSQL store each tree's owner host and lease epoch.

use super::store_select::{self, ReadStore};
use crate::store::{LeaseInfo, StoredActor};
use std::collections::HashMap;
use std::path::PathBuf;

/// Shows every stored supervision tree, one actor per line.
#[derive(clap::Parser, Debug)]
pub struct TreeCommand {
    /// Data directory of `run --data` (default: see `run --help`).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Read the PostgreSQL event store at this URL instead of a data directory
    /// (postgres://user@host:port/dbname; `?schema=NAME` picks the schema, default `theater`).
    #[arg(long, value_name = "URL", conflicts_with = "data", value_parser = store_select::parse_store_url)]
    pub store: Option<String>,
}

impl TreeCommand {
    /// Prints the trees; returns 0.
    pub fn exec(self) -> anyhow::Result<i32> {
        let store = ReadStore::open(self.data.as_deref(), self.store.as_deref())?;
        let actors = store.actors()?;
        let leases: HashMap<String, LeaseInfo> = store
            .leases()?
            .into_iter()
            .map(|l| (l.root.clone(), l))
            .collect();
        let mut children: HashMap<Option<&str>, Vec<&StoredActor>> = HashMap::new();
        for a in &actors {
            children.entry(a.parent.as_deref()).or_default().push(a);
        }
        // Roots, and actors whose parent is not stored (should not happen) at the top.
        let ids: std::collections::HashSet<&str> = actors.iter().map(|a| a.id.as_str()).collect();
        let mut out = String::new();
        for a in &actors {
            if a.parent.as_deref().is_none_or(|p| !ids.contains(p)) {
                if let Some(l) = leases.get(&a.id) {
                    out.push_str(&lease_line(l));
                }
                print_node(a, &children, 0, &mut out);
            }
        }
        print!("{out}");
        println!("{} actors in {}", actors.len(), store.describe());
        Ok(0)
    }
}

/// `tree ROOT: owner host-a, epoch 3, lease expires in 4.2 s` (or expired, or ended).
fn lease_line(l: &LeaseInfo) -> String {
    let state = if l.ended {
        "tree ended".to_string()
    } else if l.expires_in_ms >= 0 {
        format!("lease expires in {:.1} s", l.expires_in_ms as f64 / 1000.0)
    } else {
        format!(
            "lease EXPIRED {:.1} s ago",
            -l.expires_in_ms as f64 / 1000.0
        )
    };
    format!(
        "tree {}: owner {}, epoch {}, {state}\n",
        l.root, l.owner, l.epoch
    )
}

fn print_node(
    a: &StoredActor,
    children: &HashMap<Option<&str>, Vec<&StoredActor>>,
    depth: usize,
    out: &mut String,
) {
    let status = serde_json::to_value(a.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    out.push_str(&format!(
        "{}{} {} [{status}] {} events{}\n",
        "  ".repeat(depth),
        a.name,
        a.id,
        a.next_index,
        if a.restarts > 0 {
            format!(", {} restarts", a.restarts)
        } else {
            String::new()
        }
    ));
    if let Some(kids) = children.get(&Some(a.id.as_str())) {
        for k in kids {
            print_node(k, children, depth + 1, out);
        }
    }
}
