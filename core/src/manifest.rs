//! Actor manifests (CONTRACT §6): parsing, validation and path resolution.
//!
//! A manifest is TOML with `name`, `version`, `component` (relative to the manifest file),
//! optional `init_state` and a list of `[[handler]]` (or `[[handlers]]`) tables. Theater's other
//! top-level fields are accepted and ignored so Theater manifests load unchanged.

use std::path::{Path, PathBuf};

/// Largest manifest this host reads (files and inline manifests). A manifest is a few hundred
/// bytes of TOML; anything near this size is a mistake or an attack, and refusing it up front
/// keeps a spawn from reading and parsing megabytes.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Largest `init_state` file [`Manifest::read_init_state`] reads (a wasm32 actor could not hold
/// more in its linear memory anyway).
pub const MAX_INIT_STATE_BYTES: u64 = 1 << 30;

/// Human-readable byte count for messages (`8.0 MiB`, `512 bytes`).
fn byte_size(n: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= unit {
            return if n.is_multiple_of(unit) {
                format!("{} {name}", n / unit)
            } else {
                format!("{:.1} {name}", n as f64 / unit as f64)
            };
        }
    }
    format!("{n} bytes")
}

/// What a path that is not a regular file is, for messages.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        } else if t.is_socket() {
            return "a socket";
        } else if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    "a special file"
}

/// Reads a regular file of at most `max` bytes. Checks the file's type before opening it: opening
/// a FIFO blocks until a writer appears, and reading a device like `/dev/zero` never ends.
/// `Err` is `(not found, message)`: `true` when the file could not be found or read at all.
fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, (bool, String)> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| (true, e.to_string()))?;
    if !meta.is_file() {
        let kind = file_kind(&meta);
        return Err((
            false,
            format!("it is {kind}, not a regular file, so it cannot be {what}"),
        ));
    }
    let too_large = |len: u64| {
        format!(
            "the file is too large ({}; {what} may be at most {})",
            byte_size(len),
            byte_size(max)
        )
    };
    if meta.len() > max {
        return Err((false, too_large(meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| (true, e.to_string()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again: the file may have grown since it was measured.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| (true, e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err((false, too_large(bytes.len() as u64)));
    }
    Ok(bytes)
}

/// Everything that can be wrong with a manifest, each with a message a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file does not exist or cannot be read.
    #[error("manifest not found: {path} ({source})")]
    NotFound {
        /// The path that was tried.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The text is not valid TOML or has wrong field types.
    #[error("invalid manifest {origin}: {message}")]
    Invalid {
        /// Path or `inline manifest`.
        origin: String,
        /// What is wrong (the TOML parser's message, or ours).
        message: String,
    },
}

/// One `[[handler]]` entry as written: its `type` and its settings. What the settings mean is
/// the business of the host's handler of that type, which checks them (an unknown type or an
/// unknown key is an error there, naming it).
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerEntry {
    /// The handler type (`type = "..."`).
    pub handler_type: String,
    /// The entry's other keys and those of its `config = { ... }` table (Theater writes
    /// settings either way; a key beside `type` wins over the same key in `config`).
    pub settings: toml::Table,
    /// Where it was declared, for messages: `handler #1`, `handlers #2`.
    pub position: String,
}

/// A parsed manifest with every path resolved.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Actor name (used in logs).
    pub name: String,
    /// Actor version string.
    pub version: String,
    /// Absolute path of the component file.
    pub component: PathBuf,
    /// Absolute path of the initial state file, if any.
    pub init_state: Option<PathBuf>,
    /// Handler entries in declaration order (`[[handler]]` first, then `[[handlers]]`).
    pub handlers: Vec<HandlerEntry>,
    /// The manifest file (canonical), or `None` for an inline manifest.
    pub path: Option<PathBuf>,
    /// Directory that relative paths resolve against.
    pub dir: PathBuf,
    /// The `[limits]` table (unset fields inherit the parent's limit).
    pub limits: LimitsConfig,
    /// The TOML text of an inline manifest (kept so a stored tree can be resumed).
    pub inline_text: Option<String>,
}

/// The `[limits]` table of a manifest. Every field is optional: unset means "the parent's
/// limit" (for a root: the host's). A child may not ask for more than its parent has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest size in bytes any one linear memory of the actor may grow to.
    pub memory_bytes: Option<u64>,
    /// Largest number of elements any one table of the actor may grow to.
    pub table_elements: Option<u64>,
    /// Deadline of each export call (init, handlers, callbacks), in milliseconds.
    pub call_timeout_ms: Option<u64>,
}

impl LimitsConfig {
    /// Field names of the `[limits]` table.
    pub const FIELDS: [&'static str; 3] = ["memory_bytes", "table_elements", "call_timeout_ms"];

    fn parse(v: &toml::Value) -> Result<Self, String> {
        let t = v.as_table().ok_or_else(|| {
            format!(
                "`limits` must be a table (`[limits]`), found {}",
                v.type_str()
            )
        })?;
        let mut out = Self::default();
        for (key, value) in t {
            let n = match value {
                toml::Value::Integer(n) if *n > 0 => *n as u64,
                toml::Value::Integer(n) => {
                    return Err(format!("`limits.{key}` must be positive, found {n}"));
                }
                other => {
                    return Err(format!(
                        "`limits.{key}` must be an integer, found {}",
                        other.type_str()
                    ));
                }
            };
            match key.as_str() {
                "memory_bytes" => out.memory_bytes = Some(n),
                "table_elements" => out.table_elements = Some(n),
                "call_timeout_ms" => out.call_timeout_ms = Some(n),
                other => {
                    return Err(format!(
                        "unknown field `limits.{other}` (known: {})",
                        Self::FIELDS.join(", ")
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Top-level keys this host understands; anything else is ignored with a warning.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "version",
    "component",
    "component_path",
    "init_state",
    "handler",
    "handlers",
    "description",
    "long_description",
    "save_chain",
    "permission_policy",
    "limits",
];

impl Manifest {
    /// Reads and parses a manifest file.
    ///
    /// Refuses, with a message naming the path, anything that is not a regular file (a
    /// directory, a FIFO, a device) and files above [`MAX_MANIFEST_BYTES`].
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let origin = path.display().to_string();
        let text = read_bounded(path, MAX_MANIFEST_BYTES, "a manifest").map_err(
            |(not_found, message)| {
                if not_found {
                    ManifestError::NotFound {
                        path: path.to_path_buf(),
                        source: std::io::Error::other(message),
                    }
                } else {
                    ManifestError::Invalid {
                        origin: origin.clone(),
                        message,
                    }
                }
            },
        )?;
        let text = String::from_utf8(text).map_err(|_| ManifestError::Invalid {
            origin: origin.clone(),
            message: "the file is not UTF-8 text (is it a TOML manifest?)".into(),
        })?;
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let dir = canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &origin, dir, Some(canonical))
    }

    /// Parses manifest text; relative paths resolve against `dir`.
    pub fn parse(
        text: &str,
        origin: &str,
        dir: PathBuf,
        path: Option<PathBuf>,
    ) -> Result<Self, ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            origin: origin.to_string(),
            message,
        };
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(invalid(format!(
                "the manifest is too large ({}; a manifest may be at most {})",
                byte_size(text.len() as u64),
                byte_size(MAX_MANIFEST_BYTES)
            )));
        }
        let table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for key in table.keys() {
            // Theater manifests grew fields over time; an unknown one is reported, not fatal,
            // so older and newer Theater manifests still load.
            if !KNOWN_KEYS.contains(&key.as_str()) {
                tracing::warn!(
                    manifest = origin,
                    "ignoring unknown manifest field `{key}` (known fields: {})",
                    KNOWN_KEYS.join(", ")
                );
            }
        }
        let string = |key: &str| -> Result<Option<String>, ManifestError> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(format!(
                    "field `{key}` must be a string, found {}",
                    other.type_str()
                ))),
            }
        };
        let name = string("name")?.ok_or_else(|| invalid("missing field `name`".into()))?;
        if name.trim().is_empty() {
            return Err(invalid("field `name` is empty".into()));
        }
        let version = string("version")?.unwrap_or_else(|| "0.0.0".into());
        let component = match (string("component")?, string("component_path")?) {
            (Some(c), _) | (None, Some(c)) => c,
            (None, None) => return Err(invalid(
                "missing field `component` (path of the .wasm component, relative to the manifest)"
                    .into(),
            )),
        };
        if component.is_empty() {
            return Err(invalid("field `component` is empty".into()));
        }
        let init_state = string("init_state")?.map(|p| dir.join(p));
        for key in ["description", "long_description", "permission_policy"] {
            if let Some(v) = table.get(key)
                && !v.is_str()
                && !v.is_table()
            {
                return Err(invalid(format!(
                    "field `{key}` must be a string, found {}",
                    v.type_str()
                )));
            }
        }
        if let Some(v) = table.get("save_chain")
            && !v.is_bool()
        {
            return Err(invalid(format!(
                "field `save_chain` must be a boolean, found {}",
                v.type_str()
            )));
        }

        let mut handlers = Vec::new();
        for key in ["handler", "handlers"] {
            let Some(list) = table.get(key) else { continue };
            let list = list.as_array().ok_or_else(|| {
                invalid(format!(
                    "`{key}` must be an array of tables (`[[{key}]]`), found {}",
                    list.type_str()
                ))
            })?;
            for (i, h) in list.iter().enumerate() {
                let h = h
                    .as_table()
                    .ok_or_else(|| invalid(format!("`{key}` entry #{} must be a table", i + 1)))?;
                let position = format!("{key} #{}", i + 1);
                let entry = parse_handler(h).map_err(|m| invalid(format!("{position}: {m}")))?;
                handlers.push(HandlerEntry {
                    handler_type: entry.0,
                    settings: entry.1,
                    position,
                });
            }
        }
        let limits = match table.get("limits") {
            Some(v) => LimitsConfig::parse(v).map_err(invalid)?,
            None => LimitsConfig::default(),
        };
        Ok(Self {
            inline_text: path.is_none().then(|| text.to_string()),
            limits,
            name,
            version,
            component: dir.join(component),
            init_state,
            handlers,
            path,
            dir,
        })
    }

    /// Reads the `init_state` file, if the manifest names one: only a regular file (a FIFO or a
    /// device like `/dev/zero` would block or never end) of at most [`MAX_INIT_STATE_BYTES`].
    /// The error names the manifest and the path.
    pub fn read_init_state(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(p) = &self.init_state else {
            return Ok(None);
        };
        read_bounded(p, MAX_INIT_STATE_BYTES, "an init_state")
            .map(Some)
            .map_err(|(_, e)| {
                format!(
                    "{}: cannot read init_state {} ({e})",
                    self.origin(),
                    p.display()
                )
            })
    }

    /// Where the manifest came from, for messages.
    pub fn origin(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("inline manifest `{}`", self.name),
        }
    }
}

/// Splits one `[[handler]]` table into its type and its settings.
fn parse_handler(h: &toml::Table) -> Result<(String, toml::Table), String> {
    let ty = match h.get("type") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(v) => return Err(format!("`type` must be a string, found {}", v.type_str())),
        None => return Err("missing `type`".into()),
    };
    let mut settings = match h.get("config") {
        Some(toml::Value::Table(t)) => t.clone(),
        Some(v) => return Err(format!("`config` must be a table, found {}", v.type_str())),
        None => toml::Table::new(),
    };
    for (key, value) in h {
        settings.insert(key.clone(), value.clone());
    }
    // Neither is a setting (inside `config` they are ignored, as Theater does).
    settings.remove("type");
    settings.remove("config");
    Ok((ty, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, "test", PathBuf::from("/m"), None)
    }

    #[test]
    fn limits_parse_and_refuse_bad_values() {
        let m = parse(
            "name = \"a\"\ncomponent = \"a.wasm\"\n[limits]\nmemory_bytes = 1048576\ncall_timeout_ms = 50\n",
        )
        .unwrap();
        assert_eq!(m.limits.memory_bytes, Some(1 << 20));
        assert_eq!(m.limits.call_timeout_ms, Some(50));
        assert_eq!(m.limits.table_elements, None);
        for (bad, want) in [
            ("limits = 3", "`limits` must be a table"),
            ("[limits]\nmemory_bytes = \"big\"", "must be an integer"),
            ("[limits]\ncall_timeout_ms = 0", "must be positive"),
            ("[limits]\nstack = 1", "unknown field `limits.stack`"),
        ] {
            let e = parse(&format!("name = \"a\"\ncomponent = \"a.wasm\"\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn oversized_and_non_regular_manifests_are_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("manifest-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = "name = \"x\"\ncomponent = \"a.wasm\"\n";
        // 2 MiB of comments around a valid manifest: refused before parsing, file or inline.
        let huge = format!("{ok}{}", "# padding padding padding\n".repeat(80_000));
        let path = dir.join("huge.toml");
        std::fs::write(&path, &huge).unwrap();
        let e = Manifest::from_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("huge.toml") && e.contains("too large") && e.contains("at most 1 MiB"),
            "{e}"
        );
        let e = parse(&huge).unwrap_err().to_string();
        assert!(e.contains("too large"), "{e}");
        // Just under the limit still parses.
        let fits = format!(
            "{ok}{}",
            "#".repeat(MAX_MANIFEST_BYTES as usize - ok.len() - 1)
        );
        assert!(parse(&fits).is_ok());
        // A directory.
        let e = Manifest::from_file(&dir).unwrap_err().to_string();
        assert!(e.contains("is a directory, not a regular file"), "{e}");
        // A FIFO: refused without opening it (opening would block until a writer appears).
        let fifo = dir.join("fifo.toml");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = Manifest::from_file(&fifo).unwrap_err().to_string();
            assert!(e.contains("a FIFO (named pipe), not a regular file"), "{e}");
        }
        // A device never ends: refused, not read.
        let e = Manifest::from_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a device"), "{e}");
        // Missing: not found, with the path.
        let e = Manifest::from_file(&dir.join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("manifest not found") && e.contains("missing.toml"),
            "{e}"
        );
        // init_state: same rules.
        let mut m = parse(ok).unwrap();
        assert_eq!(m.read_init_state().unwrap(), None);
        m.init_state = Some(PathBuf::from("/dev/zero"));
        let e = m.read_init_state().unwrap_err();
        assert!(
            e.contains("cannot read init_state /dev/zero") && e.contains("a device"),
            "{e}"
        );
        m.init_state = Some(path.clone());
        assert_eq!(m.read_init_state().unwrap().unwrap().len(), huge.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn full_manifest_parses() {
        let m = parse(
            r#"
name = "worker"
version = "0.1.0"
component = "worker.wasm"
init_state = "state.bin"
description = "x"
save_chain = true
[[handler]]
type = "runtime"
[[handler]]
type = "supervisor"
max_children = 3
allowed_manifests = ["children/**"]
[[handlers]]
type = "message-server"
config = {}
"#,
        )
        .unwrap();
        assert_eq!(m.component, PathBuf::from("/m/worker.wasm"));
        assert_eq!(m.init_state, Some(PathBuf::from("/m/state.bin")));
        let types: Vec<(&str, &str)> = m
            .handlers
            .iter()
            .map(|h| (h.handler_type.as_str(), h.position.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("runtime", "handler #1"),
                ("supervisor", "handler #2"),
                ("message-server", "handlers #1")
            ]
        );
        let sup = &m.handlers[1].settings;
        assert_eq!(sup.get("max_children"), Some(&toml::Value::Integer(3)));
        assert!(sup.get("type").is_none());
        assert!(m.handlers[2].settings.is_empty());
    }

    #[test]
    fn handler_settings_merge_config_tables() {
        let m = parse(
            "name = \"x\"\ncomponent = \"a\"\n[[handler]]\ntype = \"kv\"\nmax_keys = 3\nconfig = { max_keys = 9, other = true }\n",
        )
        .unwrap();
        let s = &m.handlers[0].settings;
        assert_eq!(s.get("max_keys"), Some(&toml::Value::Integer(3)));
        assert_eq!(s.get("other"), Some(&toml::Value::Boolean(true)));
        assert_eq!(s.len(), 2);
        let e = parse("name = \"x\"\ncomponent = \"a\"\n[[handler]]\ntype = \"kv\"\nconfig = 3\n")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("handler #1: `config` must be a table"),
            "{e}"
        );
    }

    #[test]
    fn errors_are_specific() {
        // Handler types and their settings are checked by the host's handler registry.
        let m = parse("name = \"x\"\ncomponent = \"a.wasm\"\n[[handler]]\ntype = \"http-client\"")
            .unwrap();
        assert_eq!(m.handlers[0].handler_type, "http-client");
        let e = parse("name = \"x\"\ncomponent = \"a.wasm\"\n[[handler]]\ntype = 3").unwrap_err();
        assert!(
            e.to_string()
                .contains("handler #1: `type` must be a string"),
            "{e}"
        );
        let e = parse("name = 3\ncomponent = \"a\"").unwrap_err();
        assert!(e.to_string().contains("`name` must be a string"), "{e}");
        let e = parse("name = \"x\"").unwrap_err();
        assert!(e.to_string().contains("missing field `component`"), "{e}");
        assert!(parse("name = \"x\"\ncomponent = \"a\"\n[interface]\nimplements = \"x\"").is_ok());
        let e = parse("name = [").unwrap_err();
        assert!(e.to_string().starts_with("invalid manifest test:"), "{e}");
    }
}
