//! `host:port` patterns of the `http-client` handler: which authorities an actor may send
//! requests to, and whether a child's patterns stay within its parent's.
//!
//! ```toml
//! [[handler]]
//! type = "http-client"
//! allow = ["127.0.0.1:8080", "api.example.com:443", "*.example.com:443", "localhost:*"]
//! ```
//!
//! A pattern is `HOST:PORT`. `HOST` is a DNS name, an IPv4 address, a bracketed IPv6 address
//! (`[::1]`), `*.SUFFIX` (any name with one or more labels before `SUFFIX`, not `SUFFIX`
//! itself) or `*` (any host). `PORT` is a number or `*`. Names compare case-insensitively and
//! without a trailing dot. A request's authority is its URI's host and port (80 for `http`,
//! 443 for `https` when none is written). Patterns match names as written in the request, not
//! the addresses they resolve to.

use super::list;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Most patterns one actor may have.
pub const MAX_PATTERNS: usize = 256;

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`.
    Any,
    /// A name or address, normalised (lower case, IPv6 in brackets, canonical form).
    Exact(String),
    /// `*.suffix`: the suffix, normalised, without the leading dot.
    Subdomains(String),
}

/// One `host:port` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityPattern {
    host: HostPattern,
    /// `None` = `*`.
    port: Option<u16>,
    text: String,
}

impl fmt::Display for AuthorityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Lower case, no trailing dot; IPv6 in its canonical bracketed form. `None` when it is not a
/// valid host name or address.
fn normalize_host(host: &str) -> Option<String> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(|a| format!("[{a}]"));
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.parse::<Ipv4Addr>().is_ok() {
        return Some(host);
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!host.is_empty() && host.len() <= 253 && host.split('.').all(valid_label)).then_some(host)
}

impl AuthorityPattern {
    /// Parses one pattern.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{text}` is not a host:port pattern: {why}");
        let (host, port) = text
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| {
                bad("write the port too, e.g. `api.example.com:443` or `localhost:*`")
            })?;
        if host.contains(':') && !host.contains('[') {
            return Err(bad("write an IPv6 address in brackets, e.g. `[::1]:8080`"));
        }
        let port = match port {
            "*" => None,
            p => match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(bad(&format!(
                        "the port must be 1 to 65535 or `*`, found `{p}`"
                    )));
                }
                Ok(n) => Some(n),
            },
        };
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Subdomains(
                normalize_host(suffix)
                    .filter(|s| !s.starts_with('['))
                    .ok_or_else(|| bad(&format!("`{suffix}` after `*.` is not a host name")))?,
            )
        } else if host.contains('*') {
            return Err(bad(
                "`*` may only be the whole host or its first label (`*.example.com`)",
            ));
        } else {
            HostPattern::Exact(
                normalize_host(host)
                    .ok_or_else(|| bad(&format!("`{host}` is not a host name or IP address")))?,
            )
        };
        Ok(Self {
            host,
            port,
            text: text.to_string(),
        })
    }

    /// True when a request to `host:port` is allowed by this pattern (`host` as in a URI:
    /// IPv6 in brackets).
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let Some(host) = normalize_host(host) else {
            return false;
        };
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomains(s) => is_subdomain(&host, s),
        }
    }

    /// True when every authority `other` matches is matched by this pattern too.
    pub fn covers(&self, other: &Self) -> bool {
        let port = match (self.port, other.port) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        port && match (&self.host, &other.host) {
            (HostPattern::Any, _) => true,
            (_, HostPattern::Any) => false,
            (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
            (HostPattern::Exact(_), HostPattern::Subdomains(_)) => false,
            (HostPattern::Subdomains(s), HostPattern::Exact(h)) => is_subdomain(h, s),
            (HostPattern::Subdomains(s), HostPattern::Subdomains(t)) => {
                t == s || is_subdomain(t, s)
            }
        }
    }
}

/// True when `host` is `x.suffix` for one or more labels `x` (an IP address never is).
fn is_subdomain(host: &str, suffix: &str) -> bool {
    !host.starts_with('[')
        && host.parse::<Ipv4Addr>().is_err()
        && host.len() > suffix.len() + 1
        && host.ends_with(suffix)
        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
}

/// The authorities an actor may send HTTP requests to (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<AuthorityPattern>,
}

impl AllowList {
    /// Parses the `allow` entries.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        if entries.len() > MAX_PATTERNS {
            return Err(format!(
                "`allow` has {} patterns; at most {MAX_PATTERNS} are allowed",
                entries.len()
            ));
        }
        let patterns = entries
            .iter()
            .map(|e| AuthorityPattern::parse(e).map_err(|why| format!("`allow`: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// The patterns, in manifest order.
    pub fn patterns(&self) -> &[AuthorityPattern] {
        &self.patterns
    }

    /// True when some pattern allows `host:port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.patterns.iter().any(|p| p.matches(host, port))
    }

    /// Refuses a child (`origin` in messages) whose patterns are not each covered by one of
    /// `self`'s, its parent's.
    pub fn check_child(&self, child: &AllowList, origin: &str) -> Result<(), String> {
        for p in &child.patterns {
            if !self.patterns.iter().any(|q| q.covers(p)) {
                return Err(format!(
                    "permission denied: {origin} asks for http-client pattern `{p}`, which its parent's patterns do not cover ({})",
                    list(&self.patterns)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> AuthorityPattern {
        AuthorityPattern::parse(text).unwrap()
    }

    #[test]
    fn parse_names_what_is_wrong() {
        let cases = [
            ("example.com", "write the port too"),
            (
                "example.com:",
                "the port must be 1 to 65535 or `*`, found ``",
            ),
            ("example.com:0", "found `0`"),
            ("example.com:70000", "found `70000`"),
            (":80", "write the port too"),
            ("::1:80", "write an IPv6 address in brackets"),
            (
                "a*.example.com:80",
                "`*` may only be the whole host or its first label",
            ),
            ("*.:80", "`` after `*.` is not a host name"),
            (
                "exa mple.com:80",
                "`exa mple.com` is not a host name or IP address",
            ),
            ("[::g]:80", "`[::g]` is not a host name or IP address"),
            ("*.[::1]:80", "`[::1]` after `*.` is not a host name"),
        ];
        for (text, want) in cases {
            let e = AuthorityPattern::parse(text).unwrap_err();
            assert!(
                e.starts_with(&format!("`{text}` is not a host:port pattern: "))
                    && e.contains(want),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn patterns_match_authorities() {
        assert!(p("127.0.0.1:8080").matches("127.0.0.1", 8080));
        assert!(!p("127.0.0.1:8080").matches("127.0.0.1", 8081));
        assert!(!p("127.0.0.1:8080").matches("127.0.0.2", 8080));
        assert!(p("API.Example.com.:443").matches("api.example.COM", 443));
        assert!(p("*.example.com:443").matches("api.example.com", 443));
        assert!(p("*.example.com:443").matches("a.b.example.com", 443));
        assert!(!p("*.example.com:443").matches("example.com", 443));
        assert!(!p("*.example.com:443").matches("badexample.com", 443));
        assert!(!p("*.example.com:443").matches("example.com.evil.net", 443));
        assert!(p("localhost:*").matches("localhost", 1));
        assert!(p("*:80").matches("anything.at.all", 80));
        assert!(!p("*:80").matches("anything", 81));
        assert!(p("[::1]:80").matches("[0:0::1]", 80));
        assert!(!p("[::1]:80").matches("::1", 80));
        // `*.` never matches an address.
        assert!(!p("*.0.1:80").matches("127.0.0.1", 80));
    }

    #[test]
    fn cover_is_implication() {
        let yes = [
            ("*:*", "a.example.com:1"),
            ("*:443", "*:443"),
            ("*.example.com:*", "*.example.com:443"),
            ("*.example.com:443", "*.api.example.com:443"),
            ("*.example.com:443", "api.example.com:443"),
            ("localhost:*", "localhost:8080"),
            ("127.0.0.1:80", "127.0.0.1:80"),
        ];
        let no = [
            ("*:443", "*:*"),
            ("*.example.com:443", "*:443"),
            ("*.example.com:443", "example.com:443"),
            ("*.api.example.com:443", "*.example.com:443"),
            ("api.example.com:443", "*.api.example.com:443"),
            ("localhost:8080", "localhost:*"),
            ("127.0.0.1:80", "127.0.0.1:81"),
            ("*.example.com:443", "evilexample.com:443"),
        ];
        for (a, b) in yes {
            assert!(p(a).covers(&p(b)), "{a} should cover {b}");
        }
        for (a, b) in no {
            assert!(!p(a).covers(&p(b)), "{a} should not cover {b}");
        }
    }

    #[test]
    fn a_child_gets_only_patterns_its_parent_covers() {
        let list = |v: &[&str]| {
            AllowList::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        let parent = list(&["127.0.0.1:8080", "*.example.com:443"]);
        parent
            .check_child(&list(&["api.example.com:443", "127.0.0.1:8080"]), "c.toml")
            .unwrap();
        parent.check_child(&list(&[]), "c.toml").unwrap();
        assert_eq!(
            parent
                .check_child(&list(&["127.0.0.1:*"]), "c.toml")
                .unwrap_err(),
            "permission denied: c.toml asks for http-client pattern `127.0.0.1:*`, which its parent's patterns do not cover (127.0.0.1:8080, *.example.com:443)"
        );
        assert!(
            AllowList::default()
                .check_child(&list(&["a.b:1"]), "c.toml")
                .unwrap_err()
                .ends_with("do not cover (none)")
        );
        assert!(parent.allows("x.example.com", 443) && !parent.allows("example.com", 443));
        assert_eq!(
            AllowList::parse(&["nope".into()]).unwrap_err(),
            "`allow`: `nope` is not a host:port pattern: write the port too, e.g. `api.example.com:443` or `localhost:*`"
        );
    }
}
