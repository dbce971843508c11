//! An embedder's own handler: `kv`, a key-value map per actor behind its own WIT interface
//! (`example:kv/store`, `wit/kv.wit`), with a `max_keys` setting a child may not exceed.
//!
//! ```toml
//! [[handler]]
//! type = "kv"
//! max_keys = 8        # optional: default KvHandler's default_max_keys, never above the parent's
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use theater_supervisor::chain::EventData;
use theater_supervisor::handler::{Handler, HandlerView, HasHandler, SettingsTable};
use theater_supervisor::manifest::Manifest;
use theater_supervisor::{ActorCtx, ActorStore};
use wasmtime::component::Linker;

wasmtime::component::bindgen!({
    path: ["../../wit", "wit"],
    world: "example:kv/host",
    imports: { default: async | trappable },
});

use example::kv::store;

/// The `kv` handler.
pub struct KvHandler {
    /// `max_keys` of a root that does not set it.
    pub default_max_keys: u32,
}

/// What an actor with the `kv` handler may store.
pub struct KvGrant {
    /// Most keys in its map.
    pub max_keys: u32,
}

/// One actor's map (in its store: a restart starts with an empty one, like its state).
pub struct KvState {
    map: BTreeMap<String, String>,
    max_keys: u32,
}

impl Handler for KvHandler {
    type Settings = Option<u32>;
    type Grant = KvGrant;
    type State = KvState;

    fn name(&self) -> &str {
        "kv"
    }

    fn imports(&self) -> &[&'static str] {
        &["example:kv/store"]
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<Option<u32>, String> {
        table.u32("max_keys")
    }

    fn grant(
        &self,
        wanted: &Option<u32>,
        parent: Option<&KvGrant>,
        manifest: &Manifest,
    ) -> Result<KvGrant, String> {
        let max_keys = match (*wanted, parent) {
            (Some(want), Some(p)) if want > p.max_keys => {
                return Err(format!(
                    "permission denied: {} asks for max_keys = {want}, above its parent's max_keys = {}",
                    manifest.origin(),
                    p.max_keys
                ));
            }
            (Some(want), _) => want,
            (None, Some(p)) => p.max_keys,
            (None, None) => self.default_max_keys,
        };
        Ok(KvGrant { max_keys })
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        store::add_to_linker::<ActorStore, HasHandler<Self>>(linker, ActorStore::view)
    }

    fn state(&self, grant: &Arc<KvGrant>, _actor: &ActorCtx) -> KvState {
        KvState {
            map: BTreeMap::new(),
            max_keys: grant.max_keys,
        }
    }
}

impl store::Host for HandlerView<'_, KvHandler> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let Some(state) = self.state.as_deref_mut() else {
            wasmtime::bail!("this actor has no `kv` handler");
        };
        Ok(state.map.get(&key).cloned())
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
        let Some(state) = self.state.as_deref_mut() else {
            wasmtime::bail!("this actor has no `kv` handler");
        };
        let full = state.map.len() >= state.max_keys as usize && !state.map.contains_key(&key);
        let result = if full {
            Err(format!("kv: max_keys = {} reached", state.max_keys))
        } else {
            state.map.insert(key.clone(), value);
            Ok(())
        };
        // Events go into the actor's chain through the host.
        let data = EventData::new().str("key", &key).bool("ok", result.is_ok());
        self.actor.record("kv.set", data, format!("set {key}"));
        Ok(result)
    }
}
