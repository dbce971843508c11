//! The `filesystem` handler: the directories of [`FilesystemGrant`] as `wasi:filesystem`
//! preopens (read-only unless `write`), and a `fs.open` event in the actor's chain for every
//! file or directory the actor opens in them.
//!
//! Every actor has this handler (an actor whose manifest does not list it has no directories),
//! so a child listing directories under a parent without any is refused by the
//! child-within-parent check, naming the directory. Confinement to the preopens (no `..` out,
//! no absolute paths elsewhere, no symlink out) is wasmtime-wasi's (cap-std); read-only
//! preopens refuse every open for writing and every change to the directory.
//!
//! The events come from the two `wasi:filesystem` functions this handler wraps around
//! wasmtime-wasi's own: `preopens.get-directories` (to learn the guest path of each preopened
//! descriptor) and `types.[method]descriptor.open-at` (records path, mode and outcome, then
//! returns wasmtime-wasi's result unchanged).

use super::dirs::{FilesystemGrant, FilesystemSettings};
use crate::chain::EventData;
use crate::engine::store::{ActorCtx, ActorStore};
use crate::handler::{Handler, InstanceSetup, SettingsTable};
use crate::manifest::Manifest;
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, HostDescriptor as _, OpenFlags, PathFlags,
};

/// The `wasi:filesystem` version wasmtime-wasi 48 links (components importing any 0.2.x are
/// linked to it).
const TYPES: &str = "wasi:filesystem/types@0.2.12";
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Most directory descriptors whose guest path one actor's events remember.
const MAX_KNOWN_DIRS: usize = 4096;

/// The `filesystem` handler.
#[derive(Default)]
pub struct FilesystemHandler;

impl FilesystemHandler {
    /// The filesystem handler.
    pub fn new() -> Self {
        Self
    }
}

/// Per actor: the guest path of each directory descriptor it holds, for the events.
#[derive(Default)]
pub struct FilesystemState {
    dirs: HashMap<u32, String>,
}

impl FilesystemState {
    fn remember(&mut self, rep: u32, path: String) {
        if self.dirs.len() >= MAX_KNOWN_DIRS {
            // Descriptors are reused by rep; forgetting only makes later events name the
            // descriptor instead of its path.
            self.dirs.clear();
        }
        self.dirs.insert(rep, path);
    }

    fn path_of(&self, rep: u32, path: &str) -> String {
        match self.dirs.get(&rep) {
            Some(dir) if dir == "/" => format!("/{path}"),
            Some(dir) => format!("{dir}/{path}"),
            None => format!("<descriptor {rep}>/{path}"),
        }
    }
}

impl Handler for FilesystemHandler {
    type Settings = FilesystemSettings;
    type Grant = FilesystemGrant;
    type State = FilesystemState;

    fn name(&self) -> &str {
        "filesystem"
    }

    fn implicit(&self) -> bool {
        true
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<FilesystemSettings, String> {
        FilesystemSettings::parse(&|k| table.get(k))
    }

    fn grant(
        &self,
        wanted: &FilesystemSettings,
        parent: Option<&FilesystemGrant>,
        manifest: &Manifest,
    ) -> Result<FilesystemGrant, String> {
        FilesystemGrant::derive(wanted, parent, &manifest.dir, &manifest.origin())
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        // Replaces two of the functions wasmtime_wasi::p2::add_to_linker_async added.
        linker.allow_shadowing(true);
        let result = wrap_filesystem(linker);
        linker.allow_shadowing(false);
        result
    }

    fn prepare(
        &self,
        grant: &Arc<FilesystemGrant>,
        _actor: &ActorCtx,
        setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        for d in &grant.dirs {
            let perms = if d.write {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            setup
                .wasi
                .preopened_dir(&d.host, &d.guest, perms)
                .map_err(|e| {
                    format!(
                        "filesystem: cannot open {} (for guest path {}): {e}",
                        d.host.display(),
                        d.guest
                    )
                })?;
        }
        Ok(())
    }

    fn state(&self, _: &Arc<FilesystemGrant>, _: &ActorCtx) -> FilesystemState {
        FilesystemState::default()
    }
}

type OpenAtParams = (
    Resource<Descriptor>,
    PathFlags,
    String,
    OpenFlags,
    DescriptorFlags,
);

fn wrap_filesystem(linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
    linker.instance(PREOPENS)?.func_wrap(
        "get-directories",
        |mut store: StoreContextMut<'_, ActorStore>, (): ()| {
            let data = store.data_mut();
            let dirs = data.filesystem().get_directories()?;
            if let Some(state) = data.view::<FilesystemHandler>().state {
                for (d, guest) in &dirs {
                    state.remember(d.rep(), guest.clone());
                }
            }
            Ok((dirs,))
        },
    )?;
    linker.instance(TYPES)?.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, ActorStore>,
         (fd, path_flags, path, oflags, flags): OpenAtParams| {
            Box::new(async move {
                let data = store.data_mut();
                let dir = fd.rep();
                let opened = data
                    .filesystem()
                    .open_at(fd, path_flags, path.clone(), oflags, flags)
                    .await;
                // A trap stays a trap; an error code goes back to the guest.
                let result: Result<Resource<Descriptor>, ErrorCode> = match opened {
                    Ok(d) => Ok(d),
                    Err(e) => Err(e.downcast()?),
                };
                record_open(data, dir, &path, oflags, flags, &result);
                Ok((result,))
            })
        },
    )?;
    Ok(())
}

/// Appends `fs.open` (path, read/write, outcome) and remembers an opened directory's path.
fn record_open(
    data: &mut ActorStore,
    dir: u32,
    path: &str,
    oflags: OpenFlags,
    flags: DescriptorFlags,
    result: &Result<Resource<Descriptor>, ErrorCode>,
) {
    let view = data.view::<FilesystemHandler>();
    let Some(state) = view.state else {
        return;
    };
    let full = state.path_of(dir, path);
    let write = flags.contains(DescriptorFlags::WRITE)
        || flags.contains(DescriptorFlags::MUTATE_DIRECTORY)
        || oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE);
    let mode = if write { "write" } else { "read" };
    let mut event = EventData::new()
        .str("path", &full)
        .str("mode", mode)
        .bool("directory", oflags.contains(OpenFlags::DIRECTORY))
        .bool("create", oflags.contains(OpenFlags::CREATE));
    let description = match result {
        Ok(d) => {
            event = event.bool("ok", true);
            if oflags.contains(OpenFlags::DIRECTORY) {
                state.remember(d.rep(), full.clone());
            }
            format!("opened {full} for {mode}")
        }
        Err(code) => {
            event = event.bool("ok", false).str("error", &format!("{code:?}"));
            format!("could not open {full} for {mode}: {code:?}")
        }
    };
    view.actor.record("fs.open", event, description);
}
