//! The host crate's layering, checked on its sources: the supervision tree holds no wasmtime
//! type, dependencies between the top-level modules form no circle (tree <- engine <- handler
//! <- system), and no source file grows past 800 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a source file belongs to (`tree`, `engine`, `lifecycle`, ...).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The crate's top-level modules each file's code (not its comments) names as `crate::x`.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = module_of(f);
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name != me && modules.contains(&name) {
                    deps.entry(me.clone()).or_default().insert(name);
                }
            }
        }
    }
    deps
}

#[test]
fn the_top_level_modules_depend_on_each_other_without_a_circle() {
    let deps = dependencies();
    // Depth-first search for a path back to the start.
    fn reaches(
        deps: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for d in deps.get(from).into_iter().flatten() {
            if d == to || (seen.insert(d.clone()) && reaches(deps, d, to, seen)) {
                return true;
            }
        }
        false
    }
    for m in deps.keys() {
        assert!(
            !reaches(&deps, m, m, &mut BTreeSet::new()),
            "module `{m}` depends on itself through others: {deps:#?}"
        );
    }
    // The layers the host is built in.
    for (low, high) in [
        ("tree", "engine"),
        ("tree", "system"),
        ("engine", "system"),
        ("engine", "handler"),
        ("handler", "system"),
        ("handler", "handlers"),
    ] {
        assert!(
            !deps.get(low).is_some_and(|d| d.contains(high)),
            "`{low}` must not depend on `{high}`: {deps:#?}"
        );
    }
}

#[test]
fn the_supervision_tree_holds_no_wasmtime_type() {
    let mut files = Vec::new();
    sources(&src().join("tree"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
        for line in code {
            assert!(!line.contains("wasmtime"), "{}: {line}", f.display());
        }
    }
}

#[test]
fn no_source_file_is_longer_than_800_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    for f in files {
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(lines <= 800, "{} has {lines} lines", f.display());
    }
}
