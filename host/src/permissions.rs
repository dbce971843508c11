//! What an actor may do: the handlers it was granted (each handler's grant), its resource
//! limits, and the manifests a supervisor may start. A child never gets more than its parent
//! (CONTRACT §6).

use crate::manifest::Manifest;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The manifests one actor's own `allowed_manifests` lets it start: globs relative to `base`.
#[derive(Debug, Clone)]
pub struct AllowedSet {
    base: PathBuf,
    patterns: Vec<String>,
    globs: GlobSet,
    /// Absolute globs set by the host (not relative to a manifest).
    absolute: bool,
}

/// Allowed sets by (directory, globs): building a glob set compiles regexes, far too slow to
/// repeat on every spawn.
type SetCache = Mutex<HashMap<(PathBuf, Option<Vec<String>>), Arc<AllowedSet>>>;

impl AllowedSet {
    /// Like [`AllowedSet::new`], shared process-wide for equal arguments.
    pub fn cached(base: &Path, patterns: Option<&[String]>) -> Result<Arc<Self>, String> {
        static CACHE: OnceLock<SetCache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let key = (base.to_path_buf(), patterns.map(<[String]>::to_vec));
        if let Some(hit) = cache.lock().expect("allowed-set cache").get(&key) {
            return Ok(hit.clone());
        }
        let set = Arc::new(Self::new(base, patterns)?);
        cache
            .lock()
            .expect("allowed-set cache")
            .insert(key, set.clone());
        Ok(set)
    }

    /// Builds the set for a manifest in `base` with the given globs (default: the whole tree).
    pub fn new(base: &Path, patterns: Option<&[String]>) -> Result<Self, String> {
        let base = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
        let patterns: Vec<String> = match patterns {
            Some(p) => p.to_vec(),
            None => vec!["**".to_string()],
        };
        let mut b = GlobSetBuilder::new();
        for p in &patterns {
            if Path::new(p).is_absolute() || p.split('/').any(|c| c == "..") {
                return Err(format!(
                    "allowed_manifests entry `{p}` must be relative to the manifest and stay inside its directory"
                ));
            }
            let glob = Glob::new(p).map_err(|e| format!("allowed_manifests entry `{p}`: {e}"))?;
            b.add(glob);
        }
        let globs = b.build().map_err(|e| e.to_string())?;
        Ok(Self {
            base,
            patterns,
            globs,
            absolute: false,
        })
    }

    /// A host-wide set: absolute globs (`/srv/app/**`) every started manifest must match.
    pub fn absolute(patterns: &[String]) -> Result<Self, String> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let rel = p.strip_prefix('/').ok_or_else(|| {
                format!("host allowed_manifests entry `{p}` must be an absolute path glob")
            })?;
            if rel.split('/').any(|c| c == "..") {
                return Err(format!(
                    "host allowed_manifests entry `{p}` must not contain `..`"
                ));
            }
            b.add(Glob::new(rel).map_err(|e| format!("host allowed_manifests entry `{p}`: {e}"))?);
        }
        Ok(Self {
            base: PathBuf::from("/"),
            patterns: patterns.to_vec(),
            globs: b.build().map_err(|e| e.to_string())?,
            absolute: true,
        })
    }

    /// True when the canonical path `path` lies under the base and matches a glob.
    pub fn allows(&self, path: &Path) -> bool {
        match path.strip_prefix(&self.base) {
            Ok(rel) => self.globs.is_match(rel),
            Err(_) => false,
        }
    }

    /// The globs and their base, for messages.
    pub fn describe(&self) -> String {
        if self.absolute {
            return format!("the host's {}", self.patterns.join(", "));
        }
        format!(
            "{} relative to {}",
            self.patterns.join(", "),
            self.base.display()
        )
    }
}

/// The effective permissions of one actor: its limits and the grant of each handler it has.
#[derive(Clone)]
pub struct Grants {
    /// Resource limits (never above the parent's).
    pub limits: Limits,
    /// Depth in the supervision tree: 0 for a root.
    pub depth: u32,
    /// Per handler of the registry (in registration order): its grant, if the actor has it.
    pub(crate) handlers: Vec<Option<crate::handler::Erased>>,
}

impl Grants {
    /// The grant of handler `i` of the registry, if the actor has that handler.
    pub(crate) fn handler(&self, i: usize) -> Option<&crate::handler::Erased> {
        self.handlers.get(i).and_then(Option::as_ref)
    }
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("limits", &self.limits)
            .field("depth", &self.depth)
            .field(
                "handlers",
                &self.handlers.iter().filter(|h| h.is_some()).count(),
            )
            .finish()
    }
}

/// Effective resource limits of one actor: its manifest's `[limits]`, where unset the parent's
/// (for a root, the host's from [`crate::SystemConfig`]). Never above the parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest size in bytes of any one linear memory.
    pub memory_bytes: u64,
    /// Largest number of elements of any one table.
    pub table_elements: u64,
    /// Deadline of each export call.
    pub call_timeout: Duration,
}

impl Limits {
    /// `m`'s limits under `parent`'s; asking for more than the parent has is refused.
    pub fn derive(m: &Manifest, parent: &Limits, parent_is_host: bool) -> Result<Self, String> {
        let whose = if parent_is_host {
            "the host's"
        } else {
            "its parent's"
        };
        let pick = |key: &str, want: Option<u64>, limit: u64| match want {
            Some(w) if w > limit => Err(format!(
                "permission denied: {} asks for limits.{key} = {w}, above {whose} limit of {limit}",
                m.origin()
            )),
            Some(w) => Ok(w),
            None => Ok(limit),
        };
        let parent_ms = parent.call_timeout.as_millis().min(u64::MAX as u128) as u64;
        Ok(Self {
            memory_bytes: pick("memory_bytes", m.limits.memory_bytes, parent.memory_bytes)?,
            table_elements: pick(
                "table_elements",
                m.limits.table_elements,
                parent.table_elements,
            )?,
            call_timeout: match m.limits.call_timeout_ms {
                None => parent.call_timeout,
                Some(ms) => Duration::from_millis(pick("call_timeout_ms", Some(ms), parent_ms)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_relative_to_base() {
        let set = AllowedSet::new(Path::new("/srv/app"), Some(&["children/**".into()])).unwrap();
        assert!(set.allows(Path::new("/srv/app/children/a.toml")));
        assert!(set.allows(Path::new("/srv/app/children/x/b.toml")));
        assert!(!set.allows(Path::new("/srv/app/other.toml")));
        assert!(!set.allows(Path::new("/srv/elsewhere/children/a.toml")));
        assert!(AllowedSet::new(Path::new("/srv"), Some(&["../x/**".into()])).is_err());
    }

    #[test]
    fn host_sets_take_absolute_globs() {
        let set = AllowedSet::absolute(&["/srv/app/**".into()]).unwrap();
        assert!(set.allows(Path::new("/srv/app/a/b.toml")));
        assert!(!set.allows(Path::new("/srv/other.toml")));
        assert!(AllowedSet::absolute(&["srv/**".into()]).is_err());
        assert!(AllowedSet::absolute(&["/srv/../etc/**".into()]).is_err());
        assert_eq!(set.describe(), "the host's /srv/app/**");
    }
}
