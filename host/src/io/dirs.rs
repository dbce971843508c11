//! Settings of the `filesystem` handler and what a child may have under its parent.
//!
//! ```toml
//! [[handler]]
//! type = "filesystem"
//! dirs = [{ host = "data", guest = "/data", write = true }]   # `write` defaults to false
//! ```
//!
//! `host` is relative to the manifest's directory (or absolute). It is resolved with symlinks
//! followed (`canonicalize`) before any check, so `..`, absolute paths and symlinks cannot
//! take a child outside its parent's directories: a child may only have directories inside
//! one of its parent's, and may write only inside one its parent may write to.

use super::{Get, list};
use std::path::{Component, Path, PathBuf};

/// Most directories one actor may have.
pub const MAX_DIRS: usize = 64;

/// One entry of `dirs`, as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSetting {
    /// The host directory, as written (relative to the manifest, or absolute).
    pub host: String,
    /// Where the guest sees it: an absolute guest path (`/data`).
    pub guest: String,
    /// True when the guest may create, write and remove files there.
    pub write: bool,
}

/// The `filesystem` settings of one manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesystemSettings {
    /// The directories asked for.
    pub dirs: Vec<DirSetting>,
}

/// One directory an actor was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The host directory, canonical (symlinks resolved).
    pub host: PathBuf,
    /// The guest path it is preopened at.
    pub guest: String,
    /// Writable (else read-only: no file may be created, written, renamed or removed).
    pub write: bool,
}

/// The directories an actor was granted: its `wasi:filesystem` preopens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesystemGrant {
    /// In manifest order.
    pub dirs: Vec<Preopen>,
}

impl FilesystemSettings {
    /// Parses the `dirs` key.
    pub fn parse(get: Get<'_, '_>) -> Result<Self, String> {
        let Some(value) = get("dirs") else {
            return Ok(Self::default());
        };
        let toml::Value::Array(entries) = value else {
            return Err(format!(
                "`dirs` must be an array of tables like {{ host = \"data\", guest = \"/data\" }}, found {}",
                value.type_str()
            ));
        };
        if entries.len() > MAX_DIRS {
            return Err(format!(
                "`dirs` has {} entries; at most {MAX_DIRS} directories are allowed",
                entries.len()
            ));
        }
        let mut dirs: Vec<DirSetting> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("`dirs[{i}]`");
            let toml::Value::Table(t) = entry else {
                return Err(format!(
                    "{at} must be a table like {{ host = \"data\", guest = \"/data\" }}, found {}",
                    entry.type_str()
                ));
            };
            for key in t.keys() {
                if !["host", "guest", "write"].contains(&key.as_str()) {
                    return Err(format!(
                        "{at}: unknown field `{key}` (known: host, guest, write)"
                    ));
                }
            }
            let string = |key: &str| match t.get(key) {
                None => Err(format!("{at}: missing field `{key}`")),
                Some(toml::Value::String(s)) if s.is_empty() => {
                    Err(format!("{at}: `{key}` is empty"))
                }
                Some(toml::Value::String(s)) if s.contains('\0') => {
                    Err(format!("{at}: `{key}` contains a NUL byte"))
                }
                Some(toml::Value::String(s)) => Ok(s.clone()),
                Some(v) => Err(format!(
                    "{at}: `{key}` must be a string, found {}",
                    v.type_str()
                )),
            };
            let host = string("host")?;
            let guest = normalize_guest(&string("guest")?).map_err(|e| format!("{at}: {e}"))?;
            let write = match t.get("write") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(v) => {
                    return Err(format!(
                        "{at}: `write` must be a boolean, found {}",
                        v.type_str()
                    ));
                }
            };
            if let Some(other) = dirs.iter().position(|d| d.guest == guest) {
                return Err(format!(
                    "{at}: guest path `{guest}` is already used by `dirs[{other}]`"
                ));
            }
            dirs.push(DirSetting { host, guest, write });
        }
        Ok(Self { dirs })
    }
}

/// A guest path: absolute, no `.` or `..`, no trailing slash (except `/` itself).
fn normalize_guest(guest: &str) -> Result<String, String> {
    if !guest.starts_with('/') {
        return Err(format!(
            "guest path `{guest}` must be absolute (start with `/`, e.g. `/data`)"
        ));
    }
    let mut parts = Vec::new();
    for part in guest.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(format!(
                "guest path `{guest}` must not contain `.` or `..` components"
            ));
        }
        parts.push(part);
    }
    Ok(format!("/{}", parts.join("/")))
}

impl FilesystemGrant {
    /// What an actor whose manifest (in `manifest_dir`, named `origin` in messages) asks for
    /// `wanted` gets. `parent` is its parent's grant (`None` for a root, which gets what its
    /// manifest asks for). Every directory must exist; a child's must lie inside one of its
    /// parent's (after resolving symlinks) and be writable only inside a writable one.
    pub fn derive(
        wanted: &FilesystemSettings,
        parent: Option<&FilesystemGrant>,
        manifest_dir: &Path,
        origin: &str,
    ) -> Result<Self, String> {
        let mut dirs = Vec::with_capacity(wanted.dirs.len());
        for d in &wanted.dirs {
            let joined = manifest_dir.join(&d.host);
            let host = joined.canonicalize().map_err(|e| {
                format!(
                    "{origin}: filesystem dir `{}` (resolved to {}) cannot be used: {e}",
                    d.host,
                    joined.display()
                )
            })?;
            if !host.is_dir() {
                return Err(format!(
                    "{origin}: filesystem dir `{}` (resolved to {}) is not a directory",
                    d.host,
                    host.display()
                ));
            }
            if let Some(p) = parent {
                p.check_child_dir(d, &host, origin)?;
            }
            dirs.push(Preopen {
                host,
                guest: d.guest.clone(),
                write: d.write,
            });
        }
        Ok(Self { dirs })
    }

    /// Refuses a child's directory that is not inside one of these, or writable where these
    /// are not.
    fn check_child_dir(&self, d: &DirSetting, host: &Path, origin: &str) -> Result<(), String> {
        let inside: Vec<&Preopen> = self.dirs.iter().filter(|p| within(host, &p.host)).collect();
        if inside.is_empty() {
            return Err(format!(
                "permission denied: {origin} asks for filesystem dir `{}` (resolved to {}), which is not inside any directory its parent has ({})",
                d.host,
                host.display(),
                list(self.dirs.iter().map(|p| p.host.display()))
            ));
        }
        if d.write && !inside.iter().any(|p| p.write) {
            return Err(format!(
                "permission denied: {origin} asks to write to filesystem dir `{}` (resolved to {}), but its parent may only read there (its writable directories: {})",
                d.host,
                host.display(),
                list(
                    self.dirs
                        .iter()
                        .filter(|p| p.write)
                        .map(|p| p.host.display())
                )
            ));
        }
        Ok(())
    }
}

/// True when the canonical `path` is `dir` or lies under it (whole components only:
/// `/data2` is not inside `/data`).
fn within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir) && !path.components().any(|c| c == Component::ParentDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<FilesystemSettings, String> {
        let t: toml::Table = toml::from_str(text).unwrap();
        FilesystemSettings::parse(&|k| t.get(k))
    }

    #[test]
    fn parses_dirs_and_names_every_mistake() {
        let s = settings(
            r#"dirs = [{ host = "data", guest = "/data/", write = true }, { host = "/etc", guest = "/cfg" }]"#,
        )
        .unwrap();
        assert_eq!(
            s.dirs,
            [
                DirSetting {
                    host: "data".into(),
                    guest: "/data".into(),
                    write: true
                },
                DirSetting {
                    host: "/etc".into(),
                    guest: "/cfg".into(),
                    write: false
                }
            ]
        );
        assert_eq!(settings("").unwrap(), FilesystemSettings::default());
        let cases = [
            (
                "dirs = 3",
                "`dirs` must be an array of tables like { host = \"data\", guest = \"/data\" }, found integer",
            ),
            (
                "dirs = [\"data\"]",
                "`dirs[0]` must be a table like { host = \"data\", guest = \"/data\" }, found string",
            ),
            (
                r#"dirs = [{ host = "d", guest = "/d", writable = true }]"#,
                "`dirs[0]`: unknown field `writable` (known: host, guest, write)",
            ),
            (
                r#"dirs = [{ guest = "/d" }]"#,
                "`dirs[0]`: missing field `host`",
            ),
            (
                r#"dirs = [{ host = "d", guest = "d" }]"#,
                "`dirs[0]`: guest path `d` must be absolute (start with `/`, e.g. `/data`)",
            ),
            (
                r#"dirs = [{ host = "d", guest = "/a/../b" }]"#,
                "`dirs[0]`: guest path `/a/../b` must not contain `.` or `..` components",
            ),
            (
                r#"dirs = [{ host = "d", guest = "/d", write = "yes" }]"#,
                "`dirs[0]`: `write` must be a boolean, found string",
            ),
            (
                r#"dirs = [{ host = "", guest = "/d" }]"#,
                "`dirs[0]`: `host` is empty",
            ),
            (
                r#"dirs = [{ host = "a", guest = "/d" }, { host = "b", guest = "/d/" }]"#,
                "`dirs[1]`: guest path `/d` is already used by `dirs[0]`",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(settings(text).unwrap_err(), want, "{text}");
        }
    }

    /// A directory tree: root/{data/{sub, logs}, other}, root/data/link -> root/other,
    /// root/data/up -> root/data/.. (a symlink out and one up).
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        for d in ["data/sub", "data/logs", "other"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("data/file"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("other"), root.join("data/link")).unwrap();
        std::os::unix::fs::symlink("..", root.join("data/sub/up")).unwrap();
        (t, root)
    }

    fn grant(
        text: &str,
        parent: Option<&FilesystemGrant>,
        dir: &Path,
    ) -> Result<FilesystemGrant, String> {
        FilesystemGrant::derive(&settings(text).unwrap(), parent, dir, "child.toml")
    }

    #[test]
    fn a_child_gets_only_directories_inside_its_parents() {
        let (_t, root) = tree();
        let parent = grant(
            r#"dirs = [{ host = "data", guest = "/data", write = false }, { host = "data/logs", guest = "/logs", write = true }]"#,
            None,
            &root,
        )
        .unwrap();
        assert_eq!(parent.dirs[0].host, root.join("data"));
        assert!(parent.dirs[1].write);

        // Inside, read-only: fine, from any manifest directory.
        let g = grant(
            r#"dirs = [{ host = "../data/sub", guest = "/s" }]"#,
            Some(&parent),
            &root.join("other"),
        )
        .unwrap();
        assert_eq!(g.dirs[0].host, root.join("data/sub"));
        // Writable inside a writable one: fine.
        grant(
            r#"dirs = [{ host = "data/logs", guest = "/l", write = true }]"#,
            Some(&parent),
            &root,
        )
        .unwrap();

        let outside = |text: &str, resolved: &Path| {
            let e = grant(text, Some(&parent), &root).unwrap_err();
            assert!(
                e.starts_with("permission denied: child.toml asks for filesystem dir")
                    && e.contains(&format!(
                        "(resolved to {}), which is not inside any directory its parent has",
                        resolved.display()
                    )),
                "{e}"
            );
        };
        // `..`, an absolute path and symlinks out of the parent's directory are all refused.
        outside(r#"dirs = [{ host = "data/..", guest = "/x" }]"#, &root);
        let other = root.join("other");
        outside(
            &format!(
                r#"dirs = [{{ host = "{}", guest = "/x" }}]"#,
                other.display()
            ),
            &other,
        );
        outside(r#"dirs = [{ host = "data/link", guest = "/x" }]"#, &other);
        outside(
            r#"dirs = [{ host = "data/sub/up/..", guest = "/x" }]"#,
            &root,
        );

        // Writing where the parent may only read.
        let e = grant(
            r#"dirs = [{ host = "data/sub", guest = "/s", write = true }]"#,
            Some(&parent),
            &root,
        )
        .unwrap_err();
        assert_eq!(
            e,
            format!(
                "permission denied: child.toml asks to write to filesystem dir `data/sub` (resolved to {}), but its parent may only read there (its writable directories: {})",
                root.join("data/sub").display(),
                root.join("data/logs").display()
            )
        );

        // A parent without directories: nothing.
        let none = FilesystemGrant::default();
        let e = grant(
            r#"dirs = [{ host = "data", guest = "/d" }]"#,
            Some(&none),
            &root,
        )
        .unwrap_err();
        assert!(
            e.ends_with("which is not inside any directory its parent has (none)"),
            "{e}"
        );
    }

    #[test]
    fn missing_and_non_directory_hosts_are_named() {
        let (_t, root) = tree();
        let e = grant(r#"dirs = [{ host = "nope", guest = "/n" }]"#, None, &root).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "child.toml: filesystem dir `nope` (resolved to {}) cannot be used: ",
                root.join("nope").display()
            )),
            "{e}"
        );
        let e = grant(
            r#"dirs = [{ host = "data/file", guest = "/n" }]"#,
            None,
            &root,
        )
        .unwrap_err();
        assert_eq!(
            e,
            format!(
                "child.toml: filesystem dir `data/file` (resolved to {}) is not a directory",
                root.join("data/file").display()
            )
        );
    }

    #[test]
    fn within_compares_whole_components() {
        assert!(within(Path::new("/a/b"), Path::new("/a")));
        assert!(within(Path::new("/a"), Path::new("/a")));
        assert!(!within(Path::new("/ab"), Path::new("/a")));
        assert!(!within(Path::new("/a/../b"), Path::new("/a")));
    }
}
