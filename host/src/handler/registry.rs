//! The registry of a host's handlers: settings of a manifest, grants of an actor (a child never
//! more than its parent), the linker, per-actor states and lifecycle hooks.

use super::{ExportFn, Handler, InstanceSetup, SettingsTable};
use crate::engine::components::HandlerSurface;
use crate::engine::store::{ActorCtx, ActorStore, HandlerStates};
use crate::handler::ActorRef;
use crate::lifecycle::Lifecycle;
use crate::manifest::{Manifest, ManifestError};
use crate::permissions::{ActorManifest, Erased, Grants, Limits};
use std::any::{Any, TypeId};
use std::sync::Arc;
use wasmtime::component::Linker;

/// [`Handler`] without its associated types, so handlers of every type fit one registry.
trait ErasedHandler: Send + Sync {
    fn name(&self) -> &str;
    fn imports(&self) -> &[&'static str];
    fn exports(&self) -> &[ExportFn];
    fn implicit(&self) -> bool;
    fn handler_type(&self) -> TypeId;
    fn settings(&self, table: &SettingsTable<'_>) -> Result<Erased, String>;
    fn grant(
        &self,
        wanted: &Erased,
        parent: Option<&Erased>,
        m: &Manifest,
    ) -> Result<Erased, String>;
    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()>;
    fn prepare(
        &self,
        grant: &Erased,
        actor: &ActorCtx,
        setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String>;
    fn state(&self, grant: &Erased, actor: &ActorCtx) -> Box<dyn Any + Send>;
    fn lifecycle(&self, event: &Lifecycle<'_>, actor: &ActorRef<'_>);
}

fn cast<T: Send + Sync + 'static>(e: &Erased) -> &T {
    e.downcast_ref::<T>()
        .expect("the registry keeps each handler's own settings and grants")
}

impl<H: Handler> ErasedHandler for H {
    fn name(&self) -> &str {
        Handler::name(self)
    }
    fn imports(&self) -> &[&'static str] {
        Handler::imports(self)
    }
    fn exports(&self) -> &[ExportFn] {
        Handler::exports(self)
    }
    fn implicit(&self) -> bool {
        Handler::implicit(self)
    }
    fn handler_type(&self) -> TypeId {
        TypeId::of::<H>()
    }
    fn settings(&self, table: &SettingsTable<'_>) -> Result<Erased, String> {
        Ok(Arc::new(Handler::settings(self, table)?))
    }
    fn grant(
        &self,
        wanted: &Erased,
        parent: Option<&Erased>,
        m: &Manifest,
    ) -> Result<Erased, String> {
        let parent = parent.map(cast::<H::Grant>);
        Ok(Arc::new(Handler::grant(
            self,
            cast::<H::Settings>(wanted),
            parent,
            m,
        )?))
    }
    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        Handler::add_to_linker(self, linker)
    }
    fn prepare(
        &self,
        grant: &Erased,
        actor: &ActorCtx,
        setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        let grant = grant
            .clone()
            .downcast::<H::Grant>()
            .expect("the registry keeps each handler's own grants");
        Handler::prepare(self, &grant, actor, setup)
    }
    fn state(&self, grant: &Erased, actor: &ActorCtx) -> Box<dyn Any + Send> {
        let grant = grant
            .clone()
            .downcast::<H::Grant>()
            .expect("the registry keeps each handler's own grants");
        Box::new(Handler::state(self, &grant, actor))
    }
    fn lifecycle(&self, event: &Lifecycle<'_>, actor: &ActorRef<'_>) {
        Handler::lifecycle(self, event, actor)
    }
}

/// Why a handler cannot join a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two handlers serve the same manifest `type`.
    #[error("two handlers serve the manifest type `{0}`")]
    DuplicateName(String),
    /// The same handler type was registered twice.
    #[error("handler `{0}` is registered twice")]
    DuplicateHandler(String),
    /// Two handlers add the same interface.
    #[error("handlers `{first}` and `{second}` both provide `{import}`")]
    DuplicateImport {
        /// The interface.
        import: String,
        /// The handler registered first.
        first: String,
        /// The handler registered second.
        second: String,
    },
}

/// The handlers of one host, in registration order.
#[derive(Default)]
pub struct HandlerRegistry {
    handlers: Vec<Box<dyn ErasedHandler>>,
}

impl HandlerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a handler. Its name, its Rust type and each interface it provides must be new.
    pub fn register<H: Handler>(&mut self, handler: H) -> Result<(), RegistryError> {
        let name = Handler::name(&handler);
        for h in &self.handlers {
            if h.name() == name {
                return Err(RegistryError::DuplicateName(name.to_string()));
            }
            if h.handler_type() == TypeId::of::<H>() {
                return Err(RegistryError::DuplicateHandler(name.to_string()));
            }
            for import in Handler::imports(&handler) {
                if h.imports().contains(import) {
                    return Err(RegistryError::DuplicateImport {
                        import: import.to_string(),
                        first: h.name().to_string(),
                        second: name.to_string(),
                    });
                }
            }
        }
        self.handlers.push(Box::new(handler));
        Ok(())
    }

    /// The manifest types served, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.handlers.iter().map(|h| h.name()).collect()
    }

    /// The index of the handler serving manifest type `name`.
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.handlers.iter().position(|h| h.name() == name)
    }

    /// The manifest type of handler `i`.
    pub(crate) fn name(&self, i: usize) -> &str {
        self.handlers[i].name()
    }

    /// What the handlers provide and call, for the component loader (plus the exports the
    /// host's own messaging calls).
    pub(crate) fn surface(&self) -> HandlerSurface {
        let mut exports: Vec<ExportFn> = crate::engine::messaging::EXPORTS.to_vec();
        for f in self.handlers.iter().flat_map(|h| h.exports().iter()) {
            if !exports.contains(f) {
                exports.push(*f);
            }
        }
        HandlerSurface {
            providers: self
                .handlers
                .iter()
                .enumerate()
                .flat_map(|(i, h)| h.imports().iter().map(move |iface| (*iface, i)))
                .collect(),
            exports,
        }
    }

    /// Adds every handler's interfaces to `linker`.
    pub(crate) fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        for h in &self.handlers {
            h.add_to_linker(linker)?;
        }
        Ok(())
    }

    /// Parses the settings of every handler entry of `manifest`: an unknown type or a key the
    /// handler does not know is an error naming it. `origin` names the manifest in messages, as
    /// it did when it was parsed.
    pub(crate) fn configure(
        &self,
        manifest: Manifest,
        origin: &str,
    ) -> Result<ActorManifest, ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut settings: Vec<Option<Erased>> = vec![None; self.handlers.len()];
        for entry in &manifest.handlers {
            let ty = entry.handler_type.as_str();
            let pos = &entry.position;
            let Some(i) = self.index(ty) else {
                return Err(invalid(format!(
                    "{pos}: handler type `{ty}` is not provided by this host (supported: {})",
                    self.names().join(", ")
                )));
            };
            let table = SettingsTable::new(ty, &entry.settings);
            let parsed = self.handlers[i]
                .settings(&table)
                .map_err(|e| invalid(format!("{pos}: {e}")))?;
            if let Some(key) = table.unread() {
                return Err(invalid(format!(
                    "{pos}: unknown field `{key}` for handler type `{ty}`"
                )));
            }
            // The first entry of a type counts; later ones are checked, not used.
            settings[i].get_or_insert(parsed);
        }
        let empty = toml::Table::new();
        for (i, h) in self.handlers.iter().enumerate() {
            if h.implicit() && settings[i].is_none() {
                let table = SettingsTable::new(h.name(), &empty);
                let parsed = h
                    .settings(&table)
                    .map_err(|e| invalid(format!("the `{}` handler: {e}", h.name())))?;
                settings[i] = Some(parsed);
            }
        }
        Ok(ActorManifest::new(manifest, settings))
    }

    /// Grants of a root actor: what its manifest asks for, within the host's limits.
    pub(crate) fn grants_for_root(
        &self,
        m: &ActorManifest,
        host: &Limits,
    ) -> Result<Grants, String> {
        let limits = Limits::derive(m, host, true)?;
        self.grants(m, None, limits)
    }

    /// Grants of a child of an actor holding `parent`: never more than the parent has.
    pub(crate) fn grants_for_child(
        &self,
        m: &ActorManifest,
        parent: &Grants,
    ) -> Result<Grants, String> {
        let limits = Limits::derive(m, &parent.limits, false)?;
        self.grants(m, Some(parent), limits)
    }

    fn grants(
        &self,
        m: &ActorManifest,
        parent: Option<&Grants>,
        limits: Limits,
    ) -> Result<Grants, String> {
        let mut handlers: Vec<Option<Erased>> = vec![None; self.handlers.len()];
        for (i, h) in self.handlers.iter().enumerate() {
            let Some(wanted) = m.settings(i) else {
                continue;
            };
            let parent_grant = match parent {
                None => None,
                Some(p) => Some(p.handler(i).ok_or_else(|| {
                    format!(
                        "permission denied: {} asks for the `{}` handler, which its parent does not have",
                        m.origin(),
                        h.name()
                    )
                })?),
            };
            handlers[i] = Some(h.grant(wanted, parent_grant, m)?);
        }
        Ok(Grants {
            limits,
            depth: parent.map_or(0, |p| p.depth + 1),
            handlers,
        })
    }

    /// True when an actor holding `grants` has the handler of manifest type `name`.
    pub(crate) fn has(&self, grants: &Grants, name: &str) -> bool {
        self.index(name)
            .is_some_and(|i| grants.handler(i).is_some())
    }

    /// Lets every handler an actor holding `grants` has prepare its instance (registry order);
    /// the first error fails the start.
    pub(crate) fn prepare(
        &self,
        grants: &Grants,
        actor: &ActorCtx,
        setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        for (i, h) in self.handlers.iter().enumerate() {
            if let Some(grant) = grants.handler(i) {
                h.prepare(grant, actor, setup)?;
            }
        }
        Ok(())
    }

    /// The per-actor states of the handlers an actor holding `grants` has.
    pub(crate) fn states(&self, grants: &Grants, actor: &ActorCtx) -> HandlerStates {
        HandlerStates(
            self.handlers
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    let grant = grants.handler(i)?;
                    Some((h.handler_type(), h.state(grant, actor)))
                })
                .collect(),
        )
    }

    /// Tells every handler about a step of `actor`'s life.
    pub(crate) fn lifecycle(&self, event: &Lifecycle<'_>, actor: &ActorRef<'_>) {
        for h in &self.handlers {
            h.lifecycle(event, actor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A handler with one limit a child may not exceed, and no interfaces.
    struct Keys;

    impl Handler for Keys {
        type Settings = Option<u32>;
        type Grant = u32;
        type State = u32;
        fn name(&self) -> &str {
            "keys"
        }
        fn imports(&self) -> &[&'static str] {
            &["test:keys/store"]
        }
        fn settings(&self, table: &SettingsTable<'_>) -> Result<Option<u32>, String> {
            table.u32("max_keys")
        }
        fn grant(
            &self,
            want: &Option<u32>,
            parent: Option<&u32>,
            m: &Manifest,
        ) -> Result<u32, String> {
            match (*want, parent) {
                (Some(w), Some(p)) if w > *p => Err(format!(
                    "permission denied: {} asks for max_keys = {w}, above its parent's {p}",
                    m.origin()
                )),
                (Some(w), _) => Ok(w),
                (None, p) => Ok(p.copied().unwrap_or(10)),
            }
        }
        fn add_to_linker(&self, _: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
            Ok(())
        }
        fn state(&self, grant: &Arc<u32>, _: &ActorCtx) -> u32 {
            **grant
        }
    }

    /// An implicit handler without settings.
    struct Base;

    impl Handler for Base {
        type Settings = ();
        type Grant = ();
        type State = ();
        fn name(&self) -> &str {
            "base"
        }
        fn implicit(&self) -> bool {
            true
        }
        fn settings(&self, _: &SettingsTable<'_>) -> Result<(), String> {
            Ok(())
        }
        fn grant(&self, _: &(), _: Option<&()>, _: &Manifest) -> Result<(), String> {
            Ok(())
        }
        fn add_to_linker(&self, _: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
            Ok(())
        }
        fn state(&self, _: &Arc<()>, _: &ActorCtx) {}
    }

    fn registry() -> HandlerRegistry {
        let mut r = HandlerRegistry::new();
        r.register(Base).unwrap();
        r.register(Keys).unwrap();
        r
    }

    fn manifest(name: &str, handlers: &str) -> Result<ActorManifest, String> {
        let text = format!("name = \"{name}\"\ncomponent = \"a.wasm\"\n{handlers}");
        let m = Manifest::parse(&text, name, PathBuf::from("/m"), None).unwrap();
        registry().configure(m, name).map_err(|e| e.to_string())
    }

    fn host() -> Limits {
        Limits {
            memory_bytes: 1 << 20,
            table_elements: 100,
            call_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn registration_refuses_duplicates() {
        let mut r = registry();
        assert_eq!(
            r.register(Keys).unwrap_err().to_string(),
            "two handlers serve the manifest type `keys`"
        );
        assert_eq!(r.names(), ["base", "keys"]);
        assert_eq!(r.surface().providers, [("test:keys/store", 1)]);
    }

    #[test]
    fn settings_name_unknown_types_and_keys() {
        let e = manifest("a", "[[handler]]\ntype = \"http-framework\"\n").unwrap_err();
        assert_eq!(
            e,
            "invalid manifest a: handler #1: handler type `http-framework` is not provided by this host (supported: base, keys)"
        );
        let e = manifest("a", "[[handler]]\ntype = \"keys\"\nmax_kyes = 3\n").unwrap_err();
        assert_eq!(
            e,
            "invalid manifest a: handler #1: unknown field `max_kyes` for handler type `keys`"
        );
        let e = manifest(
            "a",
            "[[handlers]]\ntype = \"keys\"\nconfig = { max_keys = \"x\" }\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "invalid manifest a: handlers #1: `max_keys` must be an integer, found string"
        );
        // Implicit handlers are there unlisted; listed ones only when asked for.
        let m = manifest("a", "").unwrap();
        assert!(m.settings(0).is_some() && m.settings(1).is_none());
    }

    #[test]
    fn a_child_never_gets_more_than_its_parent() {
        let r = registry();
        let configure = |name: &str, handlers: &str| {
            let text = format!("name = \"{name}\"\ncomponent = \"a.wasm\"\n{handlers}");
            let m = Manifest::parse(&text, name, PathBuf::from("/m"), None).unwrap();
            r.configure(m, name).unwrap()
        };
        let root = configure("root", "[[handler]]\ntype = \"keys\"\nmax_keys = 5\n");
        let root_grants = r.grants_for_root(&root, &host()).unwrap();
        assert_eq!(root_grants.depth, 0);
        assert_eq!(*cast::<u32>(root_grants.handler(1).unwrap()), 5);
        // Unset: the parent's.
        let child = configure("child", "[[handler]]\ntype = \"keys\"\n");
        let g = r.grants_for_child(&child, &root_grants).unwrap();
        assert_eq!((*cast::<u32>(g.handler(1).unwrap()), g.depth), (5, 1));
        // More than the parent: the handler refuses.
        let greedy = configure("greedy", "[[handler]]\ntype = \"keys\"\nmax_keys = 6\n");
        let e = r.grants_for_child(&greedy, &root_grants).unwrap_err();
        assert_eq!(
            e,
            "permission denied: inline manifest `greedy` asks for max_keys = 6, above its parent's 5"
        );
        // A handler the parent lacks: the registry refuses.
        let plain = configure("plain", "");
        let plain_grants = r.grants_for_root(&plain, &host()).unwrap();
        assert!(plain_grants.handler(0).is_some() && plain_grants.handler(1).is_none());
        let e = r.grants_for_child(&child, &plain_grants).unwrap_err();
        assert_eq!(
            e,
            "permission denied: inline manifest `child` asks for the `keys` handler, which its parent does not have"
        );
        assert!(r.has(&root_grants, "keys") && !r.has(&plain_grants, "keys"));
    }
}
