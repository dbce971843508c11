//! `theater-supervisor new NAME [--template supervisor|worker|http]`: writes a new guest
//! project (crates, manifests, a `build.sh` that builds, composes and runs it) from the templates
//! in `host/templates/`.
//!
//! The project depends on the checkout this binary was built from: the guest SDK
//! (`guest-adapter/sdk`) and the WIT files by absolute path, the guest adapter
//! (`target/adapter/supervision-adapter.wasm`) and the guest toolchain script from `build.sh`.

use std::path::{Path, PathBuf};

/// Which project to write.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// A supervisor (guest SDK + the guest adapter) with one worker child.
    Supervisor,
    /// One worker actor (raw `theater:simple`, world `message-actor`).
    Worker,
    /// A supervisor (guest SDK + the guest adapter) keeping an HTTP worker (`wasm32-wasip2`,
    /// `wasi:http/incoming-handler`) alive.
    Http,
}

/// Writes a new actor project into the directory NAME (which must not exist yet).
#[derive(clap::Parser, Debug)]
pub struct NewCommand {
    /// The project's name: its directory, crate and actor name (lowercase letters, digits, `-`
    /// and `_`, starting with a letter).
    pub name: String,
    /// What to generate.
    #[arg(long, value_enum, default_value = "supervisor")]
    pub template: Template,
    /// The port the `http` template's worker listens on (127.0.0.1).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The theater-supervisor checkout whose SDK, WIT files and guest adapter the project uses.
    /// Default: `$THEATER_CHECKOUT`, else the checkout this binary was built from.
    #[arg(long, value_name = "DIR")]
    pub checkout: Option<PathBuf>,
}

/// Why `new` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name cannot be a directory, crate and actor name.
    #[error(
        "`{0}` cannot be a project name: use lowercase ASCII letters, digits, `-` and `_`, starting with a letter (at most 64)"
    )]
    BadName(String),
    /// The target directory exists.
    #[error("`{0}` already exists: choose another name or remove it")]
    Exists(PathBuf),
    /// The checkout is missing or not a theater-supervisor checkout.
    #[error(
        "`{dir}` is not a theater-supervisor checkout ({missing} is missing): pass --checkout DIR (or set THEATER_CHECKOUT) to the checkout the CLI was installed from"
    )]
    NotACheckout {
        /// The directory looked at.
        dir: PathBuf,
        /// The file that should be there.
        missing: &'static str,
    },
    /// The checkout path cannot be written into the generated TOML, Rust and shell files.
    #[error(
        "the checkout path `{0}` has a character the generated files cannot quote (quotes, backslashes, `$`, backticks, control characters or non-UTF-8): move the checkout"
    )]
    UnquotablePath(PathBuf),
    /// Writing a file failed (the partly written directory was removed).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The checkout this binary was compiled from (`cargo install --path host` keeps it).
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Files a checkout must have for a generated project to build.
const CHECKOUT_FILES: [&str; 3] = [
    "guest-adapter/sdk/Cargo.toml",
    "wit/worlds.wit",
    "scripts/guest-toolchain.sh",
];

mod files {
    pub const BUILD_SH: &str = include_str!("../../templates/common/build.sh");
    pub const GITIGNORE: &str = include_str!("../../templates/common/gitignore");
    pub const PROFILE: &str = include_str!("../../templates/common/profile.toml");
    pub const WORKER_CARGO: &str = include_str!("../../templates/common/worker.Cargo.toml");
    pub const WORKER_RS: &str = include_str!("../../templates/common/worker.rs");
    pub const SUP_WORKSPACE: &str = include_str!("../../templates/supervisor/workspace.toml");
    pub const SUP_CARGO: &str = include_str!("../../templates/supervisor/supervisor.Cargo.toml");
    pub const SUP_RS: &str = include_str!("../../templates/supervisor/supervisor.rs");
    pub const SUP_MANIFEST: &str = include_str!("../../templates/supervisor/manifest.toml");
    pub const SUP_WORKER_MANIFEST: &str =
        include_str!("../../templates/supervisor/worker-manifest.toml");
    pub const SUP_README: &str = include_str!("../../templates/supervisor/README.md");
    pub const WORKER_WORKSPACE: &str = include_str!("../../templates/worker/workspace.toml");
    pub const WORKER_MANIFEST: &str = include_str!("../../templates/worker/manifest.toml");
    pub const WORKER_README: &str = include_str!("../../templates/worker/README.md");
    pub const HTTP_WORKSPACE: &str = include_str!("../../templates/http/workspace.toml");
    pub const HTTP_SUP_RS: &str = include_str!("../../templates/http/supervisor.rs");
    pub const HTTP_WEB_CARGO: &str = include_str!("../../templates/http/web.Cargo.toml");
    pub const HTTP_WEB_RS: &str = include_str!("../../templates/http/web.rs");
    pub const HTTP_MANIFEST: &str = include_str!("../../templates/http/manifest.toml");
    pub const HTTP_WEB_MANIFEST: &str = include_str!("../../templates/http/web-manifest.toml");
    pub const HTTP_README: &str = include_str!("../../templates/http/README.md");
}

/// One generated file: its path in the project and its text with the placeholders filled in.
struct File {
    path: String,
    text: String,
    executable: bool,
}

impl NewCommand {
    /// Writes the project; returns the exit status.
    pub fn exec(self) -> anyhow::Result<i32> {
        let dir = PathBuf::from(&self.name);
        let files = self.render()?;
        write_all(&dir, &files)?;
        let (template, next) = match self.template {
            Template::Supervisor => ("supervisor", "a supervisor and its worker"),
            Template::Http => ("http", "a supervisor and its HTTP worker"),
            Template::Worker => ("worker", "a worker"),
        };
        println!(
            "created {}/ from the `{template}` template: {next}",
            self.name
        );
        for f in &files {
            println!("  {}", f.path);
        }
        println!("build and run it: cd {} && ./build.sh run", self.name);
        if self.template == Template::Http {
            println!("then: curl http://127.0.0.1:{}/", self.port);
        }
        Ok(0)
    }

    /// Every file of the chosen template, rendered; nothing is written yet.
    fn render(&self) -> Result<Vec<File>, NewError> {
        let name = self.name.as_str();
        if !valid_name(name) {
            return Err(NewError::BadName(name.to_string()));
        }
        if Path::new(name).exists() {
            return Err(NewError::Exists(PathBuf::from(name)));
        }
        let checkout = self.checkout()?;
        let checkout = checkout
            .to_str()
            .filter(|p| quotable(p))
            .ok_or_else(|| NewError::UnquotablePath(checkout.clone()))?;
        let worker_crate = match self.template {
            Template::Supervisor => format!("{name}-worker"),
            _ => name.to_string(),
        };
        let vars = Vars {
            name,
            type_name: &camel_case(name),
            worker_crate: &worker_crate,
            checkout,
            port: self.port,
            sdk: &format!("{checkout}/guest-adapter/sdk"),
            wit: &format!("{checkout}/wit"),
        };
        let file = |path: &str, parts: &[&str]| File {
            path: path.to_string(),
            text: vars.fill(&parts.concat()),
            executable: false,
        };
        let mut files = match self.template {
            Template::Supervisor => vec![
                file("Cargo.toml", &[files::SUP_WORKSPACE, files::PROFILE]),
                file("supervisor/Cargo.toml", &[files::SUP_CARGO]),
                file("supervisor/src/lib.rs", &[files::SUP_RS]),
                file("worker/Cargo.toml", &[files::WORKER_CARGO]),
                file("worker/src/lib.rs", &[files::WORKER_RS]),
                file(&format!("{name}.toml"), &[files::SUP_MANIFEST]),
                file("worker.toml", &[files::SUP_WORKER_MANIFEST]),
                file("README.md", &[files::SUP_README]),
            ],
            Template::Http => vec![
                file("Cargo.toml", &[files::HTTP_WORKSPACE, files::PROFILE]),
                file("supervisor/Cargo.toml", &[files::SUP_CARGO]),
                file("supervisor/src/lib.rs", &[files::HTTP_SUP_RS]),
                file("web/Cargo.toml", &[files::HTTP_WEB_CARGO]),
                file("web/src/lib.rs", &[files::HTTP_WEB_RS]),
                file(&format!("{name}.toml"), &[files::HTTP_MANIFEST]),
                file("web.toml", &[files::HTTP_WEB_MANIFEST]),
                file("README.md", &[files::HTTP_README]),
            ],
            Template::Worker => vec![
                file(
                    "Cargo.toml",
                    &[files::WORKER_WORKSPACE, files::WORKER_CARGO, files::PROFILE],
                ),
                file("src/lib.rs", &[files::WORKER_RS]),
                file(&format!("{name}.toml"), &[files::WORKER_MANIFEST]),
                file("README.md", &[files::WORKER_README]),
            ],
        };
        let (crates, wasi_crates, supervisor) = match self.template {
            Template::Supervisor => (format!("{name} {worker_crate}"), String::new(), name),
            Template::Http => (name.to_string(), format!("{name}-web"), name),
            Template::Worker => (name.to_string(), String::new(), ""),
        };
        let build = files::BUILD_SH
            .replace("{{crates}}", &crates)
            .replace("{{wasi_crates}}", &wasi_crates)
            .replace("{{supervisor}}", supervisor);
        files.push(File {
            executable: true,
            ..file("build.sh", &[&build])
        });
        files.push(file(".gitignore", &[files::GITIGNORE]));
        // The SDK's lock file pins wit-bindgen and its dependencies to the versions the SDK is
        // built and tested with; cargo adds the new crates to it on the first build.
        let lock = Path::new(checkout).join("guest-adapter/Cargo.lock");
        if let Ok(text) = std::fs::read_to_string(&lock) {
            files.push(File {
                path: "Cargo.lock".into(),
                text,
                executable: false,
            });
        }
        Ok(files)
    }

    /// `--checkout`, `$THEATER_CHECKOUT` or the checkout this binary was built from, checked.
    fn checkout(&self) -> Result<PathBuf, NewError> {
        let dir = self
            .checkout
            .clone()
            .or_else(|| std::env::var_os("THEATER_CHECKOUT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(BUILT_FROM));
        for missing in CHECKOUT_FILES {
            if !dir.join(missing).is_file() {
                return Err(NewError::NotACheckout { dir, missing });
            }
        }
        dir.canonicalize().map_err(|_| NewError::NotACheckout {
            dir,
            missing: CHECKOUT_FILES[0],
        })
    }
}

/// The placeholders of the templates.
struct Vars<'a> {
    name: &'a str,
    type_name: &'a str,
    worker_crate: &'a str,
    checkout: &'a str,
    port: u16,
    sdk: &'a str,
    wit: &'a str,
}

impl Vars<'_> {
    fn fill(&self, text: &str) -> String {
        let worker_name = if self.worker_crate == self.name {
            self.name
        } else {
            "worker"
        };
        text.replace("{{name}}", self.name)
            .replace("{{Type}}", self.type_name)
            .replace("{{worker_crate}}", self.worker_crate)
            .replace("{{worker_name}}", worker_name)
            .replace("{{checkout}}", self.checkout)
            .replace("{{port}}", &self.port.to_string())
            .replace("{{sdk}}", self.sdk)
            .replace("{{wit}}", self.wit)
    }
}

/// Creates `dir` and writes every file; on any failure removes what it created.
fn write_all(dir: &Path, files: &[File]) -> Result<(), NewError> {
    let failed = |path: &Path, source| NewError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => NewError::Exists(dir.to_path_buf()),
        _ => failed(dir, e),
    })?;
    let written = files.iter().try_for_each(|f| {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed(parent, e))?;
        }
        std::fs::write(&path, &f.text).map_err(|e| failed(&path, e))?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| failed(&path, e))?;
        }
        Ok(())
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    written
}

/// A directory, crate and actor name: `[a-z][a-z0-9_-]{0,63}`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A path that can sit unescaped in a TOML basic string, a Rust string literal and a
/// single-quoted shell word.
fn quotable(path: &str) -> bool {
    !path
        .chars()
        .any(|c| c.is_control() || matches!(c, '"' | '\'' | '\\' | '$' | '`'))
}

/// `my-shop` -> `MyShop`: the Rust type of the supervisor.
fn camel_case(name: &str) -> String {
    name.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_camel_cased() {
        assert!(valid_name("shop"));
        assert!(valid_name("my-shop_2"));
        for bad in [
            "", "Shop", "2shop", "-shop", "shop/x", "../shop", "shop.rs", "a b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(65)));
        assert_eq!(camel_case("my-shop_2"), "MyShop2");
        assert!(quotable("/work/main"));
        assert!(!quotable("/work/it's"));
        assert!(!quotable("/work/$HOME"));
    }

    #[test]
    fn every_placeholder_is_filled() {
        for template in [Template::Supervisor, Template::Worker, Template::Http] {
            let cmd = NewCommand {
                name: "my-shop".into(),
                template,
                port: 8080,
                checkout: Some(PathBuf::from(BUILT_FROM)),
            };
            for f in cmd.render().unwrap() {
                assert!(
                    !f.text.contains("{{"),
                    "{} in {template:?}: {}",
                    f.path,
                    f.text
                );
            }
        }
    }

    #[test]
    fn the_http_template_listens_on_the_port_asked_for() {
        let cmd = NewCommand {
            name: "site".into(),
            template: Template::Http,
            port: 18_123,
            checkout: Some(PathBuf::from(BUILT_FROM)),
        };
        let files = cmd.render().unwrap();
        let web = files.iter().find(|f| f.path == "web.toml").unwrap();
        assert!(
            web.text.contains("listen = \"127.0.0.1:18123\""),
            "{}",
            web.text
        );
        let build = files.iter().find(|f| f.path == "build.sh").unwrap();
        assert!(
            build.text.contains("WASI_CRATES=(site-web)"),
            "{}",
            build.text
        );
    }
}
