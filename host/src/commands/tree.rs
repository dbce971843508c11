//! `theater-supervisor tree --data DIR`: the stored supervision trees with each actor's status.

use super::data;
use crate::store::{Storage, StoredActor};
use std::collections::HashMap;
use std::path::PathBuf;

/// Shows every stored supervision tree, one actor per line.
#[derive(clap::Parser, Debug)]
pub struct TreeCommand {
    /// Data directory of `run --data` (default: see `run --help`).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl TreeCommand {
    /// Prints the trees; returns 0.
    pub fn exec(self) -> anyhow::Result<i32> {
        let dir = data::dir_or_default(self.data.as_deref());
        let store = data::open(&dir)?;
        let actors = store.actors()?;
        let mut children: HashMap<Option<&str>, Vec<&StoredActor>> = HashMap::new();
        for a in &actors {
            children.entry(a.parent.as_deref()).or_default().push(a);
        }
        // Roots, and actors whose parent is not stored (should not happen) at the top.
        let ids: std::collections::HashSet<&str> = actors.iter().map(|a| a.id.as_str()).collect();
        let mut out = String::new();
        for a in &actors {
            if a.parent.as_deref().is_none_or(|p| !ids.contains(p)) {
                print_node(a, &children, 0, &mut out);
            }
        }
        print!("{out}");
        println!("{} actors in {}", actors.len(), store.path().display());
        Ok(0)
    }
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
