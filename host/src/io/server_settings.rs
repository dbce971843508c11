//! Settings of the `http-server` handler: the address it listens on and the limits that keep a
//! slow or hostile client from harming anything but its own connection.
//!
//! ```toml
//! [[handler]]
//! type = "http-server"
//! listen = "127.0.0.1:8080"       # an IP address and port; port 0 picks a free one. Without
//!                                 # it the actor serves nothing but may pass the handler on
//!                                 # to its children (a child has it only if its parent has)
//! # Optional limits (defaults shown):
//! max_header_bytes = 16384        # request line + headers; larger: 431, connection closed
//! max_body_bytes = 1048576        # request body; larger: 413 before the actor sees it
//! max_response_bytes = 16777216   # response body the actor writes; larger: 500
//! header_timeout_ms = 5000        # to receive the request line and headers; else closed
//! body_timeout_ms = 10000         # to receive the whole request body; else 408
//! max_connections = 256           # open connections; more are closed at once
//! ```

use super::{Get, int_in};
use std::net::SocketAddr;
use std::time::Duration;

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest request line + headers, in bytes.
    pub max_header_bytes: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Largest response body, in bytes.
    pub max_response_bytes: u64,
    /// Time to receive the request line and headers (also the idle time between requests on
    /// a kept-alive connection).
    pub header_timeout: Duration,
    /// Time to receive the whole request body.
    pub body_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 << 10,
            max_body_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// The `http-server` settings of one manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpServerSettings {
    /// The address to listen on; `None` for a parent that only passes the handler on.
    pub listen: Option<SocketAddr>,
    /// Its limits.
    pub limits: ServerLimits,
}

/// Smallest `max_header_bytes` (hyper's smallest read buffer).
const MIN_HEADER_BYTES: u64 = 8 << 10;

impl HttpServerSettings {
    /// Parses `listen` and the limits.
    pub fn parse(get: Get<'_, '_>) -> Result<Self, String> {
        let listen = match get("listen") {
            None => None,
            Some(toml::Value::String(s)) => Some(s.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "`listen` must be an IP address and port like \"127.0.0.1:8080\" or \"[::1]:8080\", found \"{s}\""
                )
            })?),
            Some(v) => {
                return Err(format!(
                    "`listen` must be a string like \"127.0.0.1:8080\", found {}",
                    v.type_str()
                ));
            }
        };
        let d = ServerLimits::default();
        let ms = |key: &str, default: Duration| -> Result<Duration, String> {
            Ok(int_in(get, key, 1, 3_600_000)?.map_or(default, Duration::from_millis))
        };
        let limits = ServerLimits {
            max_header_bytes: int_in(get, "max_header_bytes", MIN_HEADER_BYTES, 1 << 20)?
                .map_or(d.max_header_bytes, |n| n as usize),
            max_body_bytes: int_in(get, "max_body_bytes", 0, 1 << 30)?.unwrap_or(d.max_body_bytes),
            max_response_bytes: int_in(get, "max_response_bytes", 0, 1 << 30)?
                .unwrap_or(d.max_response_bytes),
            header_timeout: ms("header_timeout_ms", d.header_timeout)?,
            body_timeout: ms("body_timeout_ms", d.body_timeout)?,
            max_connections: int_in(get, "max_connections", 1, 65_536)?
                .map_or(d.max_connections, |n| n as usize),
        };
        Ok(Self { listen, limits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HttpServerSettings, String> {
        let t: toml::Table = toml::from_str(text).unwrap();
        HttpServerSettings::parse(&|k| t.get(k))
    }

    #[test]
    fn listen_and_limits() {
        let s = parse(r#"listen = "127.0.0.1:8080""#).unwrap();
        assert_eq!(s.listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(parse("").unwrap().listen, None);
        assert_eq!(s.limits, ServerLimits::default());
        let s = parse(
            "listen = \"[::1]:0\"\nmax_body_bytes = 10\nheader_timeout_ms = 100\nmax_connections = 2\nmax_header_bytes = 8192",
        )
        .unwrap();
        assert_eq!(s.limits.max_body_bytes, 10);
        assert_eq!(s.limits.header_timeout, Duration::from_millis(100));
        assert_eq!(s.limits.max_connections, 2);
        assert_eq!(s.limits.max_header_bytes, 8192);
        let cases = [
            (
                "listen = 8080",
                "`listen` must be a string like \"127.0.0.1:8080\", found integer",
            ),
            (
                "listen = \"localhost:8080\"",
                "`listen` must be an IP address and port like \"127.0.0.1:8080\" or \"[::1]:8080\", found \"localhost:8080\"",
            ),
            (
                "listen = \"127.0.0.1:1\"\nmax_header_bytes = 100",
                "`max_header_bytes` must be between 8192 and 1048576, found 100",
            ),
            (
                "listen = \"127.0.0.1:1\"\nbody_timeout_ms = 0",
                "`body_timeout_ms` must be between 1 and 3600000, found 0",
            ),
            (
                "listen = \"127.0.0.1:1\"\nmax_connections = \"many\"",
                "`max_connections` must be an integer, found string",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err(), want, "{text}");
        }
    }
}
