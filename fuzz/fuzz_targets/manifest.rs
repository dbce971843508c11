//! Manifest parser: arbitrary bytes -> UTF-8 -> `Manifest::parse` must return `Ok` or `Err`,
//! never panic. An accepted manifest must satisfy the invariants below (checked against an
//! independent TOML parse of the same text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use theater_core::manifest::Manifest;

const ORIGIN: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let abs_dir = PathBuf::from("/fuzz/dir");
    let abs = Manifest::parse(text, ORIGIN, abs_dir.clone(), None);
    // The directory and the manifest path only resolve paths: they never change the verdict.
    let rel_dir = PathBuf::from("rel/dir");
    let rel_path = PathBuf::from("rel/dir/fuzz.toml");
    let rel = Manifest::parse(text, ORIGIN, rel_dir.clone(), Some(rel_path.clone()));
    assert_eq!(abs.is_ok(), rel.is_ok(), "verdict depends on dir: {text:?}");

    match (abs, rel) {
        (Ok(a), Ok(r)) => {
            check_ok(text, &a, &abs_dir, None);
            check_ok(text, &r, &rel_dir, Some(&rel_path));
            assert_eq!(a.handlers, r.handlers);
            assert_eq!(a.name, r.name);
            assert_eq!(a.version, r.version);
        }
        (Err(a), Err(r)) => {
            let (a, r) = (a.to_string(), r.to_string());
            let prefix = format!("invalid manifest {ORIGIN}: ");
            assert!(a.starts_with(&prefix) && a.len() > prefix.len(), "{a}");
            assert_eq!(a, r, "error message depends on dir");
        }
        _ => unreachable!(),
    }
});

fn check_ok(text: &str, m: &Manifest, dir: &Path, path: Option<&Path>) {
    assert!(
        !m.name.trim().is_empty(),
        "accepted an empty name: {text:?}"
    );
    assert_eq!(m.dir, dir);
    assert_eq!(m.path.as_deref(), path);

    // Independent reading of the same text: an accepted manifest is valid TOML with a string
    // `name` and a string `component` (or `component_path`), and every path is joined with `dir`.
    let table: toml::Table = toml::from_str(text).expect("accepted manifest is not valid TOML");
    let get_str = |k: &str| table.get(k).and_then(toml::Value::as_str);
    assert_eq!(get_str("name"), Some(m.name.as_str()));
    assert_eq!(m.version, get_str("version").unwrap_or("0.0.0"));
    let component = get_str("component")
        .or_else(|| get_str("component_path"))
        .expect("accepted manifest without a component");
    assert!(!component.is_empty());
    assert_eq!(m.component, dir.join(component));
    if Path::new(component).is_relative() {
        assert!(
            m.component.starts_with(dir),
            "{:?} not under {dir:?}",
            m.component
        );
    }
    assert_eq!(m.init_state, get_str("init_state").map(|s| dir.join(s)));

    // One handler per `[[handler]]` / `[[handlers]]` entry, in order.
    let declared: usize = ["handler", "handlers"]
        .iter()
        .filter_map(|k| table.get(*k))
        .map(|v| v.as_array().expect("handler list is an array").len())
        .sum();
    assert_eq!(m.handlers.len(), declared);
    // Each entry keeps its type and its settings: the entry's keys but `type` and `config`,
    // plus those of its `config` table (a key beside `type` wins).
    let entries = ["handler", "handlers"]
        .iter()
        .filter_map(|k| table.get(*k))
        .flat_map(|v| v.as_array().expect("handler list is an array").iter());
    for (entry, h) in entries.zip(&m.handlers) {
        let t = entry.as_table().expect("handler entry is a table");
        assert_eq!(
            t.get("type").and_then(toml::Value::as_str),
            Some(h.handler_type.as_str())
        );
        let config = t
            .get("config")
            .map(|c| c.as_table().expect("config is a table"));
        for (key, value) in &h.settings {
            let beside = t.get(key).filter(|_| key != "type" && key != "config");
            let inside = config.and_then(|c| c.get(key));
            assert_eq!(Some(value), beside.or(inside), "setting {key}: {text:?}");
        }
        let keys: std::collections::BTreeSet<&String> = t
            .keys()
            .chain(config.into_iter().flat_map(|c| c.keys()))
            .filter(|k| *k != "type" && *k != "config")
            .collect();
        let got: std::collections::BTreeSet<&String> = h.settings.keys().collect();
        assert_eq!(got, keys, "settings of {:?}: {text:?}", h.handler_type);
    }
    let origin = m.origin();
    match path {
        Some(p) => assert_eq!(origin, p.display().to_string()),
        None => assert!(origin.contains(&m.name)),
    }
}
