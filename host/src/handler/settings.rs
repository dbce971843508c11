//! A handler's settings as written in one `[[handler]]` table, with typed getters that give
//! the standard messages. Every key a handler did not read is an error naming it, so a typo
//! never silently lifts a limit.

use std::cell::RefCell;

/// The settings of one `[[handler]]` entry (its keys beside `type` and those of its `config`
/// table), handed to [`Handler::settings`](super::Handler::settings).
///
/// ```
/// # use theater_supervisor::handler::SettingsTable;
/// let table: toml::Table = toml::from_str("max_keys = 3").unwrap();
/// let settings = SettingsTable::new("kv", &table);
/// assert_eq!(settings.u32("max_keys"), Ok(Some(3)));
/// assert_eq!(settings.unread(), None);
/// ```
pub struct SettingsTable<'a> {
    handler: &'a str,
    table: &'a toml::Table,
    read: RefCell<Vec<&'a str>>,
}

impl<'a> SettingsTable<'a> {
    /// The settings `table` of a `handler`-type entry.
    pub fn new(handler: &'a str, table: &'a toml::Table) -> Self {
        Self {
            handler,
            table,
            read: RefCell::new(Vec::new()),
        }
    }

    /// The handler type these settings are for.
    pub fn handler(&self) -> &str {
        self.handler
    }

    /// The raw value of `key` (marks it as known).
    pub fn get(&self, key: &str) -> Option<&'a toml::Value> {
        let (k, v) = self.table.get_key_value(key)?;
        self.read.borrow_mut().push(k.as_str());
        Some(v)
    }

    /// `key` as an integer in `0..=u32::MAX`.
    pub fn u32(&self, key: &str) -> Result<Option<u32>, String> {
        self.int(key, u32::MAX as i64).map(|v| v.map(|n| n as u32))
    }

    /// `key` as a non-negative integer.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, String> {
        self.int(key, i64::MAX).map(|v| v.map(|n| n as u64))
    }

    fn int(&self, key: &str, max: i64) -> Result<Option<i64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if (0..=max).contains(n) => Ok(Some(*n)),
            Some(toml::Value::Integer(n)) => {
                Err(format!("`{key}` must be between 0 and {max}, found {n}"))
            }
            Some(v) => Err(format!(
                "`{key}` must be an integer, found {}",
                v.type_str()
            )),
        }
    }

    /// `key` as a boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(format!("`{key}` must be a boolean, found {}", v.type_str())),
        }
    }

    /// `key` as a string.
    pub fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(format!("`{key}` must be a string, found {}", v.type_str())),
        }
    }

    /// `key` as an array of strings; `what` names the entries in messages (`glob strings`).
    pub fn strings(&self, key: &str, what: &str) -> Result<Option<Vec<String>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        format!("`{key}` entries must be strings, found {}", v.type_str())
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(format!(
                "`{key}` must be an array of {what}, found {}",
                v.type_str()
            )),
        }
    }

    /// The first key no getter asked for, if any (the registry refuses it).
    pub fn unread(&self) -> Option<&'a str> {
        let read = self.read.borrow();
        self.table
            .keys()
            .map(String::as_str)
            .find(|k| !read.contains(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn getters_give_the_standard_messages() {
        let t = table("n = -1\ns = 3\nb = \"x\"\nl = [1]\nm = 5\nok = [\"a\"]");
        let s = SettingsTable::new("x", &t);
        assert_eq!(
            s.u32("n").unwrap_err(),
            "`n` must be between 0 and 4294967295, found -1"
        );
        assert_eq!(
            s.string("s").unwrap_err(),
            "`s` must be a string, found integer"
        );
        assert_eq!(
            s.bool("b").unwrap_err(),
            "`b` must be a boolean, found string"
        );
        assert_eq!(
            s.strings("l", "globs").unwrap_err(),
            "`l` entries must be strings, found integer"
        );
        assert_eq!(
            s.strings("m", "glob strings").unwrap_err(),
            "`m` must be an array of glob strings, found integer"
        );
        assert_eq!(s.strings("ok", "x").unwrap(), Some(vec!["a".to_string()]));
        assert_eq!(s.u64("missing").unwrap(), None);
        assert_eq!(s.unread(), None);
    }

    #[test]
    fn unread_keys_are_named() {
        let t = table("max_keys = 1\nmax_kyes = 2");
        let s = SettingsTable::new("kv", &t);
        assert_eq!(s.u32("max_keys").unwrap(), Some(1));
        assert_eq!(s.unread(), Some("max_kyes"));
    }
}
