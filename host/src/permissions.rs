//! What an actor may do: the handlers it was granted, how many children it may have and which
//! manifests it may start. A child never gets more than its parent (CONTRACT §6).

use crate::manifest::{DEFAULT_MAX_CHILDREN, Manifest};
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
        })
    }

    /// True when the canonical path `path` lies under the base and matches a glob.
    pub fn allows(&self, path: &Path) -> bool {
        match path.strip_prefix(&self.base) {
            Ok(rel) => self.globs.is_match(rel),
            Err(_) => false,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} relative to {}",
            self.patterns.join(", "),
            self.base.display()
        )
    }
}

/// The effective permissions of one actor.
#[derive(Debug, Clone)]
pub struct Grants {
    /// `Some` when the actor may use `theater:simple/supervisor`.
    pub supervisor: Option<SupervisorGrant>,
    /// True when the actor may use `theater:simple/message-server-host`.
    pub message_server: bool,
    /// Resource limits (never above the parent's).
    pub limits: Limits,
    /// Depth in the supervision tree: 0 for a root.
    pub depth: u32,
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

/// Supervisor permissions.
#[derive(Debug, Clone)]
pub struct SupervisorGrant {
    /// Limit of live children.
    pub max_children: u32,
    /// The actor's own allowed set and those of every ancestor: a manifest must be allowed by
    /// all of them.
    pub allowed: Vec<Arc<AllowedSet>>,
}

impl Grants {
    /// Grants of a root actor: exactly what its manifest asks for, within the host's limits.
    pub fn for_root(m: &Manifest, host: &Limits) -> Result<Self, String> {
        Self::derive(m, None, Limits::derive(m, host, true)?)
    }

    /// Grants of a child started by an actor holding `parent`; refuses anything the parent lacks.
    pub fn for_child(m: &Manifest, parent: &Grants) -> Result<Self, String> {
        Self::derive(m, Some(parent), Limits::derive(m, &parent.limits, false)?)
    }

    fn derive(m: &Manifest, parent: Option<&Grants>, limits: Limits) -> Result<Self, String> {
        let denied = |what: String| format!("permission denied: {what}");
        let supervisor = match m.supervisor() {
            None => None,
            Some((max, globs)) => {
                let parent_sup = match parent {
                    Some(p) => Some(p.supervisor.as_ref().ok_or_else(|| {
                        denied(format!(
                            "{} asks for the `supervisor` handler, which its parent does not have",
                            m.origin()
                        ))
                    })?),
                    None => None,
                };
                let parent_max = parent_sup.map(|p| p.max_children);
                let max_children = match (max, parent_max) {
                    (Some(want), Some(limit)) if want > limit => {
                        return Err(denied(format!(
                            "{} asks for max_children = {want}, but its parent may only have {limit}",
                            m.origin()
                        )));
                    }
                    (Some(want), _) => want,
                    (None, Some(limit)) => limit.min(DEFAULT_MAX_CHILDREN),
                    (None, None) => DEFAULT_MAX_CHILDREN,
                };
                let mut allowed = parent_sup.map(|p| p.allowed.clone()).unwrap_or_default();
                allowed.push(
                    AllowedSet::cached(&m.dir, globs)
                        .map_err(|e| format!("invalid manifest {}: {e}", m.origin()))?,
                );
                Some(SupervisorGrant {
                    max_children,
                    allowed,
                })
            }
        };
        let message_server = m.has_message_server();
        if message_server && parent.is_some_and(|p| !p.message_server) {
            return Err(denied(format!(
                "{} asks for the `message-server` handler, which its parent does not have",
                m.origin()
            )));
        }
        Ok(Self {
            supervisor,
            message_server,
            limits,
            depth: parent.map_or(0, |p| p.depth + 1),
        })
    }
}

impl SupervisorGrant {
    /// Checks that the canonical manifest path may be started by this actor.
    pub fn check_manifest(&self, canonical: &Path, shown: &str) -> Result<(), String> {
        for set in &self.allowed {
            if !set.allows(canonical) {
                return Err(format!(
                    "permission denied: manifest {shown} (resolved to {}) is outside the manifests this actor may start (allowed_manifests: {})",
                    canonical.display(),
                    set.describe()
                ));
            }
        }
        Ok(())
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
}
