//! The built-in handlers, one module per WIT interface, each a [`Handler`] like an embedder's
//! own: [`runtime`] (`theater:simple/runtime`), [`supervisor`] (`theater:simple/supervisor`,
//! calling `supervisor-handlers`), [`message_server`] (`theater:simple/message-server-host`),
//! and this project's extensions [`timer`] (`theater:extension/timer`, calling
//! `timer-handler`), [`child_control`] (`theater:extension/child-control`) and [`recovery`]
//! (calling `theater:extension/recovery-handler`). The I/O handlers on WASI 0.2 (`filesystem`,
//! `environment`, `http-client`, `http-server`) are in [`crate::io`].
//!
//! [`Handler`]: crate::handler::Handler

pub mod child_control;
pub mod message_server;
pub mod recovery;
pub mod runtime;
pub mod supervisor;
pub mod timer;

pub use child_control::ChildControlHandler;
pub use message_server::{MessageServerHandler, MessageServerHostConfig, MessageServerSettings};
pub use recovery::RecoveryHandler;
pub use runtime::{RuntimeHandler, RuntimeHostConfig};
pub use supervisor::{SupervisorHandler, SupervisorHostConfig, SupervisorPermissions};
pub use timer::TimerHandler;

use crate::SystemConfig;
use crate::handler::{HandlerRegistry, RegistryError, SettingsTable};

/// Registers every built-in handler, configured from `config` (the runtime handler's log sink),
/// with default supervisor permissions.
pub fn register_builtins(
    registry: &mut HandlerRegistry,
    config: &SystemConfig,
) -> Result<(), RegistryError> {
    registry.register(RuntimeHandler::new(RuntimeHostConfig {
        log_sink: config.log_sink.clone(),
    }))?;
    registry.register(SupervisorHandler::new(
        SupervisorHostConfig::default(),
        Some(SupervisorPermissions::default()),
    ))?;
    registry.register(MessageServerHandler::new())?;
    registry.register(TimerHandler::new())?;
    registry.register(ChildControlHandler::new())?;
    registry.register(RecoveryHandler::new())?;
    registry.register(crate::io::FilesystemHandler::new())?;
    registry.register(crate::io::EnvironmentHandler::new())?;
    registry.register(crate::io::HttpClientHandler::new())?;
    registry.register(crate::io::HttpServerHandler::new())?;
    Ok(())
}

/// Settings of a handler that takes none: any key is refused by the registry.
pub(crate) fn no_settings(_table: &SettingsTable<'_>) -> Result<(), String> {
    Ok(())
}
