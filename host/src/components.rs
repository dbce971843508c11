//! Loading components: compile once per content hash, pre-instantiate against the shared linker,
//! find the exports an actor offers and the handlers its imports need.

use crate::actor::ActorStore;
use crate::handler::{ExportFn, HandlerRegistry};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

/// The export functions a component offers, among those the host and its handlers call.
#[derive(Debug, Default)]
pub struct ExportTable {
    found: Vec<(ExportFn, ComponentExportIndex)>,
}

impl ExportTable {
    /// True when the component exports `f`.
    pub fn has(&self, f: &ExportFn) -> bool {
        self.find(f).is_some()
    }

    /// The position of `f` in the table (for per-instance caches) and its export index.
    pub(crate) fn find(&self, f: &ExportFn) -> Option<(usize, ComponentExportIndex)> {
        // A handful of entries: a scan beats hashing two strings.
        self.found
            .iter()
            .position(|(e, _)| e.function == f.function && e.interface == f.interface)
            .map(|i| (i, self.found[i].1))
    }

    /// Number of exports found.
    pub(crate) fn len(&self) -> usize {
        self.found.len()
    }
}

/// A compiled, linked component ready to instantiate.
pub(crate) struct LoadedComponent {
    /// SHA-256 of the component bytes (the cache key), as lowercase hex (recorded in every
    /// start event).
    pub hash_hex: String,
    pub pre: InstancePre<ActorStore>,
    pub exports: Arc<ExportTable>,
    /// Interfaces the component imports that a handler provides: (handler index, interface).
    /// An actor whose manifest lacks one of those handlers is refused at start.
    pub needs: Vec<(usize, String)>,
}

/// Components by content hash; a second spawn of the same bytes never compiles again. A file
/// whose length, modification time and inode are unchanged is not even read again.
#[derive(Default)]
pub(crate) struct ComponentCache {
    by_hash: Mutex<HashMap<[u8; 32], Arc<LoadedComponent>>>,
    by_path: Mutex<HashMap<PathBuf, (FileStamp, Arc<LoadedComponent>)>>,
}

/// What identifies a file's version without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` (following symlinks), if it can be read.
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            len: m.len(),
            modified: m.modified().ok(),
            inode: m.ino(),
        })
    }
}

/// Largest component file this host reads. Real components are a few MiB (an interpreter
/// compiled to a component, tens of MiB); a file above this is a mistake or an attack, and is
/// refused before anything is read into memory.
pub(crate) const MAX_COMPONENT_BYTES: u64 = 512 << 20;

/// Reads a component file after checking what it is: a directory, a FIFO (opening it blocks
/// until a writer appears), a device (`/dev/zero` never ends) or a file above
/// [`MAX_COMPONENT_BYTES`] is refused with a message naming the path.
pub(crate) fn read_component_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = path.display();
    let not_found = |e: std::io::Error| format!("component not found: {shown} ({e})");
    let meta = std::fs::metadata(path).map_err(not_found)?;
    if meta.is_dir() {
        return Err(format!(
            "component {shown} is a directory, not a file: `component` in the manifest must name the .wasm component file"
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "component {shown} is not a regular file (a FIFO, socket or device): `component` in the manifest must name the .wasm component file"
        ));
    }
    let too_large = |len: u64| {
        format!(
            "component {shown} is too large ({} MiB; this host loads components of at most {} MiB)",
            len >> 20,
            MAX_COMPONENT_BYTES >> 20
        )
    };
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(too_large(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(not_found)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again: the file may have grown since it was measured.
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(not_found)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// `theater:simple/actor.init` as the contract (and `wit/actor.wit`) defines it.
const INIT_SIGNATURE: &str = "func(state: option<list<u8>>, params: tuple<string>) -> result<tuple<option<list<u8>>>, string>";

/// A component-model type in WIT syntax, for messages and signature checks (named types are
/// shown by kind: `record`, `variant`, ...).
fn wit_type(t: &Type) -> String {
    let list = |ts: Vec<Type>| ts.iter().map(wit_type).collect::<Vec<_>>().join(", ");
    match t {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit_type(&l.ty())),
        Type::Option(o) => format!("option<{}>", wit_type(&o.ty())),
        Type::Tuple(t) => format!("tuple<{}>", list(t.types().collect())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (Some(ok), Some(err)) => format!("result<{}, {}>", wit_type(&ok), wit_type(&err)),
            (Some(ok), None) => format!("result<{}>", wit_type(&ok)),
            (None, Some(err)) => format!("result<_, {}>", wit_type(&err)),
            (None, None) => "result".into(),
        },
        Type::Record(_) => "record".into(),
        Type::Variant(_) => "variant".into(),
        Type::Enum(_) => "enum".into(),
        Type::Flags(_) => "flags".into(),
        Type::Own(_) | Type::Borrow(_) => "resource".into(),
        _ => "an async or map type".into(),
    }
}

/// A function type in WIT syntax, with parameter names unless `names` is false (names do not
/// matter to the canonical ABI, so signatures are compared without them).
fn wit_func(f: &ComponentFunc, names: bool) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(n, t)| {
            if names {
                format!("{n}: {}", wit_type(&t))
            } else {
                wit_type(&t)
            }
        })
        .collect();
    let results: Vec<String> = f.results().map(|t| wit_type(&t)).collect();
    match results.len() {
        0 => format!("func({})", params.join(", ")),
        _ => format!("func({}) -> {}", params.join(", "), results.join(", ")),
    }
}

/// Removes parameter names from a signature written like [`INIT_SIGNATURE`].
fn without_names(sig: &str) -> String {
    let (head, rest) = sig.split_once('(').unwrap_or((sig, ""));
    let (params, tail) = rest.split_once(") ->").unwrap_or((rest, ""));
    let params: Vec<&str> = split_top_level(params)
        .into_iter()
        .map(|p| p.split_once(": ").map_or(p, |(_, t)| t))
        .collect();
    format!("{head}({}) ->{tail}", params.join(", "))
}

/// Splits `a, b<c, d>, e` at the commas outside `<...>`.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

/// Checks that the `init` of the actor interface exported as `iface` has the contract's type,
/// so a component built against another WIT is refused when it is loaded, with both
/// signatures, instead of failing inside `init` with a bare type-mismatch.
fn check_init_type(
    engine: &Engine,
    component: &Component,
    iface: &str,
    shown: &str,
) -> Result<(), String> {
    let ty = component.component_type();
    let Some(ComponentItem::ComponentInstance(inst)) = ty.get_export(engine, iface).map(|e| e.ty)
    else {
        return Ok(());
    };
    let found = match inst.get_export(engine, "init").map(|e| e.ty) {
        Some(ComponentItem::ComponentFunc(f)) => {
            if wit_func(&f, false) == without_names(INIT_SIGNATURE) {
                return Ok(());
            }
            wit_func(&f, true)
        }
        Some(_) => "not a function".to_string(),
        None => return Ok(()),
    };
    Err(format!(
        "{shown} exports `{iface}.init` with the wrong type: it is `{found}`, but a Theater actor's init is `{INIT_SIGNATURE}` (was it built against another version of the theater:simple WIT?)"
    ))
}

const WASM_MAGIC: [u8; 4] = *b"\0asm";
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];

impl ComponentCache {
    /// Loads the component at `path`, compiling and linking it only if these bytes were never
    /// seen before. Errors are messages for people.
    pub async fn load(
        &self,
        engine: &Engine,
        linker: &Linker<ActorStore>,
        handlers: &HandlerRegistry,
        path: &Path,
    ) -> Result<Arc<LoadedComponent>, String> {
        let stamp = FileStamp::of(path);
        if let Some(stamp) = stamp
            && let Some((s, hit)) = self.by_path.lock().expect("cache lock").get(path)
            && *s == stamp
        {
            return Ok(hit.clone());
        }
        let loaded = self.load_bytes(engine, linker, handlers, path).await?;
        if let Some(stamp) = stamp {
            self.by_path
                .lock()
                .expect("cache lock")
                .insert(path.to_path_buf(), (stamp, loaded.clone()));
        }
        Ok(loaded)
    }

    async fn load_bytes(
        &self,
        engine: &Engine,
        linker: &Linker<ActorStore>,
        handlers: &HandlerRegistry,
        path: &Path,
    ) -> Result<Arc<LoadedComponent>, String> {
        let owned = path.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || read_component_file(&owned))
            .await
            .map_err(|e| format!("reading {} panicked: {e}", path.display()))??;
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(hit) = self.by_hash.lock().expect("cache lock").get(&hash) {
            return Ok(hit.clone());
        }
        let shown = path.display().to_string();
        if bytes.is_empty() {
            return Err(format!(
                "{shown} is empty (0 bytes), so it is not a WebAssembly component"
            ));
        }
        if bytes.len() < 8 || bytes[..4] != WASM_MAGIC {
            return Err(format!(
                "{shown} is not a WebAssembly component (it does not start with the \\0asm header)"
            ));
        }
        if bytes[4..8] == CORE_VERSION {
            return Err(format!(
                "{shown} is a core WebAssembly module, not a component: turn it into one with `wasm-tools component new`"
            ));
        }
        let engine2 = engine.clone();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine2, &bytes))
            .await
            .map_err(|e| format!("compiling {shown} panicked: {e}"))?
            .map_err(|e| format!("{shown} is not a valid component: {e:?}"))?;
        let loaded = Arc::new(Self::link(
            engine, linker, handlers, &component, hash, &shown,
        )?);
        tracing::debug!(component = %shown, hash = %hex::encode(&hash[..8]), "compiled component");
        self.by_hash
            .lock()
            .expect("cache lock")
            .insert(hash, loaded.clone());
        Ok(loaded)
    }

    fn link(
        engine: &Engine,
        linker: &Linker<ActorStore>,
        handlers: &HandlerRegistry,
        component: &Component,
        hash: [u8; 32],
        shown: &str,
    ) -> Result<LoadedComponent, String> {
        let ty = component.component_type();
        let mut needs = Vec::new();
        for (name, _) in ty.imports(engine) {
            let iface = name.split('@').next().unwrap_or(name);
            if let Some(h) = handlers.provider(iface) {
                needs.push((h, iface.to_string()));
            }
        }
        // Imports first: a component needing something this host lacks is told so by name.
        let pre = linker.instantiate_pre(component).map_err(|e| {
            format!(
                "cannot start {shown}: {e} (this host provides {} and WASI 0.2)",
                handlers.provided()
            )
        })?;
        let export_names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let find_iface = |iface: &str| {
            export_names
                .iter()
                .find(|n| n.as_str() == iface || n.starts_with(&format!("{iface}@")))
                .and_then(|n| component.get_export_index(None, n.as_str()))
        };
        if let Some(iface) = export_names.iter().find(|n| {
            n.as_str() == "theater:simple/actor" || n.starts_with("theater:simple/actor@")
        }) {
            check_init_type(engine, component, iface, shown)?;
        }
        let mut wanted = vec![crate::actor::INIT];
        wanted.extend(crate::messaging::EXPORTS);
        for f in handlers.exports() {
            if !wanted.contains(&f) {
                wanted.push(f);
            }
        }
        let mut found = Vec::new();
        let mut instances: Vec<(&str, Option<ComponentExportIndex>)> = Vec::new();
        for f in wanted {
            let inst = match instances.iter().find(|(i, _)| *i == f.interface) {
                Some((_, idx)) => *idx,
                None => {
                    let idx = find_iface(f.interface);
                    instances.push((f.interface, idx));
                    idx
                }
            };
            if let Some(idx) = inst.and_then(|i| component.get_export_index(Some(&i), f.function)) {
                found.push((f, idx));
            }
        }
        let exports = ExportTable { found };
        if !exports.has(&crate::actor::INIT) {
            return Err(format!(
                "{shown} does not export `theater:simple/actor` with `init`, so it is not a Theater actor (its exports: {})",
                if export_names.is_empty() {
                    "none".to_string()
                } else {
                    export_names.join(", ")
                }
            ));
        }
        Ok(LoadedComponent {
            hash_hex: hex::encode(hash),
            pre,
            exports: Arc::new(exports),
            needs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_files_are_checked_before_they_are_read() {
        let dir = std::env::temp_dir().join(format!("components-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = read_component_file(&dir).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        let e = read_component_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_component_file(&dir.join("missing.wasm")).unwrap_err();
        assert!(
            e.starts_with("component not found") && e.contains("missing.wasm"),
            "{e}"
        );
        // A sparse file far above the limit is refused without being read.
        let sparse = dir.join("sparse.wasm");
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(4 << 30).unwrap();
        let e = read_component_file(&sparse).unwrap_err();
        assert!(
            e.contains("sparse.wasm is too large (4096 MiB") && e.contains("at most 512 MiB"),
            "{e}"
        );
        let small = dir.join("small.wasm");
        std::fs::write(&small, b"\0asm").unwrap();
        assert_eq!(read_component_file(&small).unwrap(), b"\0asm");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn init_signature_check() {
        assert_eq!(
            without_names(INIT_SIGNATURE),
            "func(option<list<u8>>, tuple<string>) -> result<tuple<option<list<u8>>>, string>"
        );
        assert_eq!(
            without_names("func(a: list<tuple<u8, string>>, b: result<u8, string>) -> string"),
            "func(list<tuple<u8, string>>, result<u8, string>) -> string"
        );
        // The end-to-end tests (tests/e2e/hostile.rs) load a component whose `init` has the
        // wrong type, and every other end-to-end test loads ones with the right type.
    }
}
