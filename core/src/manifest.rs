//! Actor manifests (CONTRACT §6): parsing, validation and path resolution.
//!
//! A manifest is TOML with `name`, `version`, `component` (relative to the manifest file),
//! optional `init_state` and a list of `[[handler]]` (or `[[handlers]]`) tables. Theater's other
//! top-level fields are accepted and ignored so Theater manifests load unchanged.

use std::path::{Path, PathBuf};

/// Default live-children limit of a supervisor handler that does not set `max_children`.
pub const DEFAULT_MAX_CHILDREN: u32 = 64;

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

/// One `[[handler]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerConfig {
    /// `type = "runtime"`: log, get-chain, shutdown (granted to every actor anyway).
    Runtime,
    /// `type = "supervisor"`: grants `theater:simple/supervisor`.
    Supervisor {
        /// Limit of live children; `None` means the default (or the parent's limit if lower).
        max_children: Option<u32>,
        /// Globs of manifests this actor may start, relative to its manifest's directory.
        allowed_manifests: Option<Vec<String>>,
    },
    /// `type = "message-server"`: grants `theater:simple/message-server-host`.
    MessageServer,
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
    /// Handlers in declaration order.
    pub handlers: Vec<HandlerConfig>,
    /// The manifest file (canonical), or `None` for an inline manifest.
    pub path: Option<PathBuf>,
    /// Directory that relative paths resolve against.
    pub dir: PathBuf,
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
];

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read(path).map_err(|source| ManifestError::NotFound {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
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
                handlers
                    .push(parse_handler(h).map_err(|m| invalid(format!("{key} #{}: {m}", i + 1)))?);
            }
        }
        Ok(Self {
            name,
            version,
            component: dir.join(component),
            init_state,
            handlers,
            path,
            dir,
        })
    }

    /// The supervisor handler's settings, if the manifest has one.
    pub fn supervisor(&self) -> Option<(Option<u32>, Option<&[String]>)> {
        self.handlers.iter().find_map(|h| match h {
            HandlerConfig::Supervisor {
                max_children,
                allowed_manifests,
            } => Some((*max_children, allowed_manifests.as_deref())),
            _ => None,
        })
    }

    /// True when the manifest has a `message-server` handler.
    pub fn has_message_server(&self) -> bool {
        self.handlers.contains(&HandlerConfig::MessageServer)
    }

    /// Where the manifest came from, for messages.
    pub fn origin(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("inline manifest `{}`", self.name),
        }
    }
}

/// Handler types Theater knows that this host does not provide.
const SUPPORTED_HANDLERS: &str = "runtime, supervisor, message-server";

fn parse_handler(h: &toml::Table) -> Result<HandlerConfig, String> {
    let ty = match h.get("type") {
        Some(toml::Value::String(s)) => s.as_str(),
        Some(v) => return Err(format!("`type` must be a string, found {}", v.type_str())),
        None => return Err("missing `type`".into()),
    };
    // Theater puts handler settings either beside `type` or in a `config` table.
    let config = match h.get("config") {
        Some(toml::Value::Table(t)) => Some(t),
        Some(v) => return Err(format!("`config` must be a table, found {}", v.type_str())),
        None => None,
    };
    let get = |key: &str| h.get(key).or_else(|| config.and_then(|c| c.get(key)));
    let allowed_keys: &[&str] = match ty {
        "runtime" | "message-server" => &["type", "config"],
        "supervisor" => &["type", "config", "max_children", "allowed_manifests"],
        other => {
            return Err(format!(
                "handler type `{other}` is not provided by this host (supported: {SUPPORTED_HANDLERS})"
            ));
        }
    };
    let keys = h.keys().chain(config.into_iter().flat_map(|c| c.keys()));
    for key in keys {
        if !allowed_keys.contains(&key.as_str()) {
            return Err(format!("unknown field `{key}` for handler type `{ty}`"));
        }
    }
    Ok(match ty {
        "runtime" => HandlerConfig::Runtime,
        "message-server" => HandlerConfig::MessageServer,
        _ => {
            let max_children = match get("max_children") {
                None => None,
                Some(toml::Value::Integer(n)) if *n >= 0 && *n <= u32::MAX as i64 => {
                    Some(*n as u32)
                }
                Some(toml::Value::Integer(n)) => {
                    return Err(format!(
                        "`max_children` must be between 0 and {}, found {n}",
                        u32::MAX
                    ));
                }
                Some(v) => {
                    return Err(format!(
                        "`max_children` must be an integer, found {}",
                        v.type_str()
                    ));
                }
            };
            let allowed_manifests = match get("allowed_manifests") {
                None => None,
                Some(toml::Value::Array(a)) => Some(
                    a.iter()
                        .map(|v| {
                            v.as_str().map(str::to_string).ok_or_else(|| {
                                format!(
                                    "`allowed_manifests` entries must be strings, found {}",
                                    v.type_str()
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(v) => {
                    return Err(format!(
                        "`allowed_manifests` must be an array of glob strings, found {}",
                        v.type_str()
                    ));
                }
            };
            HandlerConfig::Supervisor {
                max_children,
                allowed_manifests,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, "test", PathBuf::from("/m"), None)
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
        assert_eq!(
            m.supervisor(),
            Some((Some(3), Some(&["children/**".to_string()][..])))
        );
        assert!(m.has_message_server());
    }

    #[test]
    fn errors_are_specific() {
        let e = parse("name = \"x\"\ncomponent = \"a.wasm\"\n[[handler]]\ntype = \"http-client\"")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("handler type `http-client` is not provided"),
            "{e}"
        );
        let e = parse("name = 3\ncomponent = \"a\"").unwrap_err();
        assert!(e.to_string().contains("`name` must be a string"), "{e}");
        let e = parse("name = \"x\"").unwrap_err();
        assert!(e.to_string().contains("missing field `component`"), "{e}");
        assert!(parse("name = \"x\"\ncomponent = \"a\"\n[interface]\nimplements = \"x\"").is_ok());
        let e = parse(
            "name = \"x\"\ncomponent = \"a\"\n[[handler]]\ntype = \"supervisor\"\nmax_chidren = 3",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `max_chidren`"), "{e}");
        let e = parse("name = [").unwrap_err();
        assert!(e.to_string().starts_with("invalid manifest test:"), "{e}");
        let e = parse("name = \"x\"\ncomponent = \"a\"\n[[handler]]\ntype = \"supervisor\"\nmax_children = \"many\"").unwrap_err();
        assert!(
            e.to_string().contains("`max_children` must be an integer"),
            "{e}"
        );
    }
}
