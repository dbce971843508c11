//! The `environment` handler: `wasi:cli/environment.get-environment` returns exactly the
//! manifest's `vars` ([`EnvVars`]): nothing of the host's environment, nothing of the parent's.
//!
//! Every actor has this handler (without `vars`, an empty environment), so a child may set its
//! own variables whatever its parent has: variables carry no authority.

use super::env::EnvVars;
use crate::engine::store::{ActorCtx, ActorStore};
use crate::handler::{Handler, InstanceSetup, SettingsTable};
use crate::manifest::Manifest;
use std::sync::Arc;
use wasmtime::component::Linker;

/// The `environment` handler.
#[derive(Default)]
pub struct EnvironmentHandler;

impl EnvironmentHandler {
    /// The environment handler.
    pub fn new() -> Self {
        Self
    }
}

impl Handler for EnvironmentHandler {
    type Settings = EnvVars;
    type Grant = EnvVars;
    type State = ();

    fn name(&self) -> &str {
        "environment"
    }

    fn implicit(&self) -> bool {
        true
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<EnvVars, String> {
        EnvVars::parse(&|k| table.get(k))
    }

    fn grant(
        &self,
        wanted: &EnvVars,
        _: Option<&EnvVars>,
        _: &Manifest,
    ) -> Result<EnvVars, String> {
        Ok(wanted.clone())
    }

    fn add_to_linker(&self, _: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        // `wasi:cli/environment` is wasmtime-wasi's, linked for every actor.
        Ok(())
    }

    fn prepare(
        &self,
        grant: &Arc<EnvVars>,
        _: &ActorCtx,
        setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        setup.wasi.envs(&grant.vars);
        Ok(())
    }

    fn state(&self, _: &Arc<EnvVars>, _: &ActorCtx) {}
}
