//! The built-in I/O handlers on the WASI 0.2 standard interfaces (CONTRACT §8): `filesystem`
//! (`wasi:filesystem` preopens), `http-client` (`wasi:http/outgoing-handler` behind an
//! allow-list of authorities), `http-server` (an HTTP/1.1 listener calling the actor's
//! `wasi:http/incoming-handler` through its mailbox) and `environment` (`wasi:cli/environment`).
//!
//! The settings of each handler and the rule that a child never gets more than its parent are
//! plain logic in [`dirs`], [`authority`], [`env`] and [`server_settings`], unit-tested without
//! any wasm; the handlers themselves are [`filesystem`], [`http_client`], [`http_server`] and
//! [`environment`].

pub mod authority;
mod body;
pub mod dirs;
pub mod env;
pub mod environment;
pub mod filesystem;
pub mod http_client;
pub mod http_server;
pub mod server_settings;

pub use environment::EnvironmentHandler;
pub use filesystem::FilesystemHandler;
pub use http_client::HttpClientHandler;
pub use http_server::HttpServerHandler;

/// Looks one settings key up (a handler's `[[handler]]` table); marks it as known.
pub type Get<'a, 'b> = &'b dyn Fn(&str) -> Option<&'a toml::Value>;

/// `key` as a non-negative integer within `min..=max`, or `None` when it is unset.
pub(crate) fn int_in(
    get: Get<'_, '_>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, String> {
    match get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(n)) if *n >= 0 && (min..=max).contains(&(*n as u64)) => {
            Ok(Some(*n as u64))
        }
        Some(toml::Value::Integer(n)) => Err(format!(
            "`{key}` must be between {min} and {max}, found {n}"
        )),
        Some(v) => Err(format!(
            "`{key}` must be an integer, found {}",
            v.type_str()
        )),
    }
}

/// The paths of a list, for messages: `a, b` or `none`.
pub(crate) fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
