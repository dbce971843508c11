//! Settings of the `environment` handler: the variables `wasi:cli/environment` returns.
//!
//! ```toml
//! [[handler]]
//! type = "environment"
//! vars = { GREETING = "hello", MODE = "test" }
//! ```
//!
//! An actor gets exactly its own manifest's variables: nothing from the host's environment and
//! nothing from its parent's.

use super::Get;

/// Most variables one actor may have.
pub const MAX_VARS: usize = 1024;
/// Largest size of all names and values together.
pub const MAX_TOTAL_BYTES: usize = 1 << 20;

/// The variables of one manifest, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvVars {
    /// `(name, value)` pairs, sorted by name.
    pub vars: Vec<(String, String)>,
}

impl EnvVars {
    /// Parses the `vars` key.
    pub fn parse(get: Get<'_, '_>) -> Result<Self, String> {
        let Some(value) = get("vars") else {
            return Ok(Self::default());
        };
        let toml::Value::Table(t) = value else {
            return Err(format!(
                "`vars` must be a table of strings like {{ KEY = \"value\" }}, found {}",
                value.type_str()
            ));
        };
        if t.len() > MAX_VARS {
            return Err(format!(
                "`vars` has {} variables; at most {MAX_VARS} are allowed",
                t.len()
            ));
        }
        let mut vars = Vec::with_capacity(t.len());
        let mut total = 0;
        for (k, v) in t {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(format!(
                    "`vars`: `{}` is not a variable name (it must be non-empty, without `=` or NUL)",
                    k.escape_debug()
                ));
            }
            let toml::Value::String(s) = v else {
                return Err(format!(
                    "`vars.{k}` must be a string, found {}",
                    v.type_str()
                ));
            };
            if s.contains('\0') {
                return Err(format!("`vars.{k}` contains a NUL byte"));
            }
            total += k.len() + s.len();
            vars.push((k.clone(), s.clone()));
        }
        if total > MAX_TOTAL_BYTES {
            return Err(format!(
                "`vars` holds {total} bytes of names and values; at most {MAX_TOTAL_BYTES} are allowed"
            ));
        }
        vars.sort();
        Ok(Self { vars })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EnvVars, String> {
        let t: toml::Table = toml::from_str(text).unwrap();
        EnvVars::parse(&|k| t.get(k))
    }

    #[test]
    fn vars_are_exactly_the_manifests() {
        let v = parse(r#"vars = { B = "2", A = "1", EMPTY = "" }"#).unwrap();
        assert_eq!(
            v.vars,
            [
                ("A".to_string(), "1".to_string()),
                ("B".into(), "2".into()),
                ("EMPTY".into(), "".into())
            ]
        );
        assert_eq!(parse("").unwrap(), EnvVars::default());
        assert_eq!(
            parse("vars = [\"A=1\"]").unwrap_err(),
            "`vars` must be a table of strings like { KEY = \"value\" }, found array"
        );
        assert_eq!(
            parse("vars = { N = 3 }").unwrap_err(),
            "`vars.N` must be a string, found integer"
        );
        assert_eq!(
            parse(r#"vars = { "A=B" = "x" }"#).unwrap_err(),
            "`vars`: `A=B` is not a variable name (it must be non-empty, without `=` or NUL)"
        );
        assert_eq!(
            parse(r#"vars = { "" = "x" }"#).unwrap_err(),
            "`vars`: `` is not a variable name (it must be non-empty, without `=` or NUL)"
        );
        assert_eq!(
            parse("vars = { A = \"x\\u0000y\" }").unwrap_err(),
            "`vars.A` contains a NUL byte"
        );
    }
}
