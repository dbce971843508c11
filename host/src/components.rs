//! Loading components: compile once per content hash, pre-instantiate against the shared linker,
//! and find the `theater:simple` exports an actor offers.

use crate::actor::ActorStore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmtime::Engine;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

/// The export indices of the `theater:simple` functions an actor offers.
#[derive(Clone, Debug)]
pub(crate) struct Exports {
    pub init: ComponentExportIndex,
    pub child_error: Option<ComponentExportIndex>,
    pub child_exit: Option<ComponentExportIndex>,
    pub child_external_stop: Option<ComponentExportIndex>,
    pub handle_send: Option<ComponentExportIndex>,
    pub handle_request: Option<ComponentExportIndex>,
    /// `theater:extension/timer-handler.handle-timer`.
    pub handle_timer: Option<ComponentExportIndex>,
}

/// A compiled, linked component ready to instantiate.
pub(crate) struct LoadedComponent {
    /// SHA-256 of the component bytes (the cache key), as lowercase hex (recorded in every
    /// start event).
    pub hash_hex: String,
    pub pre: InstancePre<ActorStore>,
    pub exports: Exports,
    /// True when the component imports `theater:simple/supervisor`.
    pub imports_supervisor: bool,
    /// True when the component imports `theater:simple/message-server-host`.
    pub imports_message_server: bool,
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

const WASM_MAGIC: [u8; 4] = *b"\0asm";
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];

impl ComponentCache {
    /// Loads the component at `path`, compiling and linking it only if these bytes were never
    /// seen before. Errors are messages for people.
    pub async fn load(
        &self,
        engine: &Engine,
        linker: &Linker<ActorStore>,
        path: &Path,
    ) -> Result<Arc<LoadedComponent>, String> {
        let stamp = FileStamp::of(path);
        if let Some(stamp) = stamp
            && let Some((s, hit)) = self.by_path.lock().expect("cache lock").get(path)
            && *s == stamp
        {
            return Ok(hit.clone());
        }
        let loaded = self.load_bytes(engine, linker, path).await?;
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
        path: &Path,
    ) -> Result<Arc<LoadedComponent>, String> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("component not found: {} ({e})", path.display()))?;
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(hit) = self.by_hash.lock().expect("cache lock").get(&hash) {
            return Ok(hit.clone());
        }
        let shown = path.display().to_string();
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
        let loaded = Arc::new(Self::link(engine, linker, &component, hash, &shown)?);
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
        component: &Component,
        hash: [u8; 32],
        shown: &str,
    ) -> Result<LoadedComponent, String> {
        let ty = component.component_type();
        let mut imports_supervisor = false;
        let mut imports_message_server = false;
        for (name, _) in ty.imports(engine) {
            let iface = name.split('@').next().unwrap_or(name);
            imports_supervisor |= iface == "theater:simple/supervisor";
            imports_message_server |= iface == "theater:simple/message-server-host";
        }
        // Imports first: a component needing something this host lacks is told so by name.
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| format!("cannot start {shown}: {e} (this host provides theater:simple/runtime, supervisor, message-server-host, theater:extension/timer, child-control and WASI 0.2)"))?;
        let export_names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let find_iface = |iface: &str| {
            export_names
                .iter()
                .find(|n| n.as_str() == iface || n.starts_with(&format!("{iface}@")))
                .and_then(|n| component.get_export_index(None, n.as_str()))
        };
        let func = |inst: &Option<ComponentExportIndex>, name: &str| {
            inst.as_ref()
                .and_then(|i| component.get_export_index(Some(i), name))
        };
        let actor = find_iface("theater:simple/actor");
        let init = func(&actor, "init").ok_or_else(|| {
            format!(
                "{shown} does not export `theater:simple/actor` with `init`, so it is not a Theater actor (its exports: {})",
                if export_names.is_empty() { "none".to_string() } else { export_names.join(", ") }
            )
        })?;
        let handlers = find_iface("theater:simple/supervisor-handlers");
        let client = find_iface("theater:simple/message-server-client");
        let exports = Exports {
            init,
            child_error: func(&handlers, "handle-child-error"),
            child_exit: func(&handlers, "handle-child-exit"),
            child_external_stop: func(&handlers, "handle-child-external-stop"),
            handle_send: func(&client, "handle-send"),
            handle_request: func(&client, "handle-request"),
            handle_timer: func(
                &find_iface("theater:extension/timer-handler"),
                "handle-timer",
            ),
        };
        Ok(LoadedComponent {
            hash_hex: hex::encode(hash),
            pre,
            exports,
            imports_supervisor,
            imports_message_server,
        })
    }
}
