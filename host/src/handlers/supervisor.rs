//! `theater:simple/supervisor` (spawn, resume, list, stop, restart, read children) and the
//! callbacks of `theater:simple/supervisor-handlers`: the `supervisor` handler.
//!
//! Its permissions are `max_children` (live children of the actor) and `allowed_manifests`
//! (globs of the manifests it may start); a child never gets more than its parent. When a child
//! ends, the handler queues the matching callback in the parent's mailbox (CONTRACT §4).

use crate::bindings::theater::simple::supervisor::Host;
use crate::bindings::theater::simple::types::ChainEvent as WitChainEvent;
use crate::bindings::{WitActorError, WitErrorType};
use crate::chain::EventData;
use crate::handler::{ActorRef, ExportFn, Handler, HandlerView, HasHandler, SettingsTable};
use crate::lifecycle::{End, Failure, FailureKind, Lifecycle, StopReason};
use crate::manifest::Manifest;
use crate::metrics::Op;
use crate::permissions::AllowedSet;
use crate::{ActorCall, ActorCtx, ActorStore, Delivery, DeliveryFuture, HostError, HostResult};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Linker;

/// Host-wide configuration of the [`SupervisorHandler`].
#[derive(Debug, Clone)]
pub struct SupervisorHostConfig {
    /// `max_children` of an actor whose manifest does not set it (never above its parent's).
    pub default_max_children: u32,
}

impl Default for SupervisorHostConfig {
    fn default() -> Self {
        Self {
            default_max_children: 64,
        }
    }
}

/// The most a root actor's supervisor handler may grant: the ceiling of every tree.
#[derive(Debug, Clone)]
pub struct SupervisorPermissions {
    /// Largest `max_children` a root may ask for.
    pub max_children: u32,
    /// Absolute path globs (`/srv/app/**`) every manifest started in this host must match, on
    /// top of each actor's own `allowed_manifests`; `None`: no host-wide restriction.
    pub allowed_manifests: Option<Vec<String>>,
}

impl Default for SupervisorPermissions {
    /// No ceiling beyond what the manifests ask for.
    fn default() -> Self {
        Self {
            max_children: u32::MAX,
            allowed_manifests: None,
        }
    }
}

/// What a manifest's `[[handler]] type = "supervisor"` asks for.
#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    /// Limit of live children; `None` means the default (or the parent's limit if lower).
    pub max_children: Option<u32>,
    /// Globs of manifests this actor may start, relative to its manifest's directory; `None`
    /// means its whole directory tree.
    pub allowed_manifests: Option<Vec<String>>,
}

/// What an actor with the supervisor handler may do.
#[derive(Debug, Clone)]
pub struct SupervisorGrant {
    /// Limit of live children.
    pub max_children: u32,
    /// The actor's own allowed set and those of every ancestor (and the host's): a manifest
    /// must be allowed by all of them.
    pub allowed: Vec<Arc<AllowedSet>>,
}

impl SupervisorGrant {
    /// Checks that the canonical manifest path may be started by this actor.
    pub fn check_manifest(&self, canonical: &Path, shown: &str) -> Result<(), String> {
        for set in &self.allowed {
            if !set.allows(canonical) {
                return Err(format!(
                    "permission denied: manifest {shown} (resolved to {}) is outside the manifests this actor may start (allowed_manifests: {})",
                    canonical.display(),
                    set.describe()
                ));
            }
        }
        Ok(())
    }

    fn check_room(&self, live: usize) -> Result<(), String> {
        let limit = self.max_children;
        if live as u64 >= limit as u64 {
            return Err(format!(
                "permission denied: max_children = {limit} reached (this actor already has {live} live children)"
            ));
        }
        Ok(())
    }
}

/// The `supervisor` handler.
///
/// ```
/// use theater_supervisor::handlers::{SupervisorHandler, SupervisorHostConfig, SupervisorPermissions};
/// let supervisor = SupervisorHandler::new(
///     SupervisorHostConfig { default_max_children: 16 },
///     Some(SupervisorPermissions { max_children: 1_000, allowed_manifests: None }),
/// );
/// # let _ = supervisor;
/// ```
pub struct SupervisorHandler {
    config: SupervisorHostConfig,
    permissions: SupervisorPermissions,
    /// The host-wide allowed set built from the permissions.
    host_allowed: Option<Arc<AllowedSet>>,
}

impl SupervisorHandler {
    /// A supervisor handler with `config`; `permissions` are the ceiling of root actors
    /// (`None`: no ceiling). Panics if a host-wide `allowed_manifests` glob is invalid; see
    /// [`SupervisorHandler::try_new`].
    pub fn new(config: SupervisorHostConfig, permissions: Option<SupervisorPermissions>) -> Self {
        Self::try_new(config, permissions).expect("invalid SupervisorPermissions")
    }

    /// Like [`SupervisorHandler::new`], returning an invalid glob as an error.
    pub fn try_new(
        config: SupervisorHostConfig,
        permissions: Option<SupervisorPermissions>,
    ) -> Result<Self, String> {
        let permissions = permissions.unwrap_or_default();
        let host_allowed = match &permissions.allowed_manifests {
            Some(globs) => Some(Arc::new(AllowedSet::absolute(globs)?)),
            None => None,
        };
        Ok(Self {
            config,
            permissions,
            host_allowed,
        })
    }
}

const HANDLERS: &str = "theater:simple/supervisor-handlers";
/// `supervisor-handlers.handle-child-error`.
pub const HANDLE_CHILD_ERROR: ExportFn = ExportFn::new(HANDLERS, "handle-child-error");
/// `supervisor-handlers.handle-child-exit`.
pub const HANDLE_CHILD_EXIT: ExportFn = ExportFn::new(HANDLERS, "handle-child-exit");
/// `supervisor-handlers.handle-child-external-stop`.
pub const HANDLE_CHILD_EXTERNAL_STOP: ExportFn =
    ExportFn::new(HANDLERS, "handle-child-external-stop");

impl Handler for SupervisorHandler {
    type Settings = SupervisorSettings;
    type Grant = SupervisorGrant;
    type State = Arc<SupervisorGrant>;

    fn name(&self) -> &str {
        "supervisor"
    }

    fn imports(&self) -> &[&'static str] {
        &["theater:simple/supervisor"]
    }

    fn exports(&self) -> &[ExportFn] {
        &[
            HANDLE_CHILD_ERROR,
            HANDLE_CHILD_EXIT,
            HANDLE_CHILD_EXTERNAL_STOP,
        ]
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<SupervisorSettings, String> {
        Ok(SupervisorSettings {
            max_children: table.u32("max_children")?,
            allowed_manifests: table.strings("allowed_manifests", "glob strings")?,
        })
    }

    fn grant(
        &self,
        wanted: &SupervisorSettings,
        parent: Option<&SupervisorGrant>,
        m: &Manifest,
    ) -> Result<SupervisorGrant, String> {
        let default = self.config.default_max_children;
        let max_children = match (wanted.max_children, parent) {
            (Some(want), Some(p)) if want > p.max_children => {
                return Err(format!(
                    "permission denied: {} asks for max_children = {want}, but its parent may only have {}",
                    m.origin(),
                    p.max_children
                ));
            }
            (Some(want), None) if want > self.permissions.max_children => {
                return Err(format!(
                    "permission denied: {} asks for max_children = {want}, above the host's limit of {}",
                    m.origin(),
                    self.permissions.max_children
                ));
            }
            (Some(want), _) => want,
            (None, Some(p)) => p.max_children.min(default),
            (None, None) => self.permissions.max_children.min(default),
        };
        let mut allowed = match parent {
            Some(p) => p.allowed.clone(),
            None => self.host_allowed.iter().cloned().collect(),
        };
        allowed.push(
            AllowedSet::cached(&m.dir, wanted.allowed_manifests.as_deref())
                .map_err(|e| format!("invalid manifest {}: {e}", m.origin()))?,
        );
        Ok(SupervisorGrant {
            max_children,
            allowed,
        })
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        crate::bindings::theater::simple::supervisor::add_to_linker::<ActorStore, HasHandler<Self>>(
            linker,
            ActorStore::view,
        )
    }

    fn state(&self, grant: &Arc<SupervisorGrant>, _: &ActorCtx) -> Arc<SupervisorGrant> {
        grant.clone()
    }

    /// A child's end reaches its parent as a callback, queued in the parent's mailbox: a
    /// failure as `handle-child-error`, `runtime.shutdown` or `stop-child` as
    /// `handle-child-exit`, a stop from outside as `handle-child-external-stop`.
    fn lifecycle(&self, event: &Lifecycle<'_>, actor: &ActorRef<'_>) {
        let Lifecycle::Stopped(end) = event else {
            return;
        };
        let Some(parent) = actor.parent() else {
            return;
        };
        let child = actor.id().to_string();
        let callback = match end {
            End::Failed(f) => ChildCallback::Error {
                error: to_wit(f),
                at: f.at,
            },
            End::Shutdown(data) => ChildCallback::Exit { data: data.clone() },
            End::Stopped(StopReason::ByParent) => ChildCallback::Exit { data: None },
            End::Stopped(StopReason::External) => ChildCallback::ExternalStop,
            End::Stopped(StopReason::ParentStopping | StopReason::Restart) => return,
        };
        let queued = actor
            .mailbox_of(parent)
            .is_some_and(|mb| mb.notify(Box::new(Callback { child, callback })));
        if !queued {
            tracing::debug!(%parent, child = actor.id(), "parent is gone; child event not delivered");
        }
    }
}

/// A failure as the WIT `wit-actor-error` (the message as its data).
pub fn to_wit(f: &Failure) -> WitActorError {
    WitActorError {
        error_type: match f.kind {
            FailureKind::Internal => WitErrorType::Internal,
            FailureKind::OperationTimeout => WitErrorType::OperationTimeout,
        },
        data: Some(f.message.clone().into_bytes()),
    }
}

/// What a parent is told about a child.
enum ChildCallback {
    Error { error: WitActorError, at: Instant },
    Exit { data: Option<Vec<u8>> },
    ExternalStop,
}

/// A callback in the parent's mailbox; a parent without `supervisor-handlers` only records it.
struct Callback {
    child: String,
    callback: ChildCallback,
}

impl Delivery for Callback {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let Callback { child, callback } = *self;
            let export = match &callback {
                ChildCallback::Error { .. } => HANDLE_CHILD_ERROR,
                ChildCallback::Exit { .. } => HANDLE_CHILD_EXIT,
                ChildCallback::ExternalStop => HANDLE_CHILD_EXTERNAL_STOP,
            };
            let function = export.function;
            if !actor.has_export(&export) {
                actor.ctx().record(
                    "callback.not-exported",
                    EventData::new()
                        .str("function", function)
                        .str("child", &child),
                    format!("{function} not exported; child event recorded only"),
                );
                return Ok(());
            }
            match callback {
                ChildCallback::Error { error, at } => {
                    actor.ctx().timing(Op::CrashToCallback, at.elapsed());
                    let summary = EventData::new()
                        .str("child", &child)
                        .str("error_type", error_type_name(error.error_type));
                    actor
                        .call::<(String, WitActorError), (Option<Vec<u8>>,)>(
                            export,
                            (child, error),
                            summary,
                            None,
                        )
                        .await
                }
                ChildCallback::Exit { data } => {
                    let summary = EventData::new()
                        .str("child", &child)
                        .summary("data", data.as_deref());
                    actor
                        .call::<(String, Option<Vec<u8>>), (Option<Vec<u8>>,)>(
                            export,
                            (child, data),
                            summary,
                            None,
                        )
                        .await
                }
                ChildCallback::ExternalStop => {
                    let summary = EventData::new().str("child", &child);
                    actor
                        .call::<(String,), (Option<Vec<u8>>,)>(export, (child,), summary, None)
                        .await
                }
            }
        })
    }
}

/// Kebab-case name of a WIT error type, as in the WIT.
fn error_type_name(t: WitErrorType) -> &'static str {
    match t {
        WitErrorType::OperationTimeout => "operation-timeout",
        WitErrorType::ChannelClosed => "channel-closed",
        WitErrorType::ShuttingDown => "shutting-down",
        WitErrorType::FunctionNotFound => "function-not-found",
        WitErrorType::TypeMismatch => "type-mismatch",
        WitErrorType::Internal => "internal",
        WitErrorType::SerializationError => "serialization-error",
        WitErrorType::UpdateComponentError => "update-component-error",
        WitErrorType::Paused => "paused",
    }
}

/// Records an operation's result event and passes the result through.
fn result<T>(
    ctx: &ActorCtx,
    op: &str,
    r: HostResult<T>,
    ok: impl FnOnce(&T) -> EventData,
) -> Result<T, String> {
    // The WIT boundary: the guest gets the error's text.
    let r = r.map_err(String::from);
    match &r {
        Ok(v) => ctx.record(
            &format!("supervisor.{op}.result"),
            EventData::new().raw("ok", &ok(v).finish()),
            format!("{op} succeeded"),
        ),
        Err(e) => {
            tracing::debug!(actor = %ctx.id(), op, error = %e, "supervisor operation refused");
            ctx.record(
                &format!("supervisor.{op}.result"),
                EventData::new().str("err", e),
                format!("{op} failed"),
            )
        }
    }
    r
}

/// The actor's grant, or the refusal every operation gives an actor without the handler.
fn granted(state: &Option<&mut Arc<SupervisorGrant>>) -> HostResult<Arc<SupervisorGrant>> {
    state
        .as_deref()
        .cloned()
        .ok_or(HostError::NoHandler("supervisor"))
}

impl HandlerView<'_, SupervisorHandler> {
    async fn start_child(
        &mut self,
        op: &str,
        manifest: String,
        bytes: Option<Vec<u8>>,
        resume: bool,
    ) -> Result<String, String> {
        let ctx = &*self.actor;
        let shown = if manifest.contains('\n') {
            "<inline manifest>"
        } else {
            manifest.as_str()
        };
        ctx.record(
            &format!("supervisor.{op}"),
            EventData::new()
                .str("manifest", shown)
                .summary("bytes", bytes.as_deref()),
            format!("{op} {shown}"),
        );
        let t0 = ctx.wait_start();
        let r = async {
            let grant = granted(&self.state)?;
            let m = ctx
                .resolve_manifest(&manifest, &|path, shown| grant.check_manifest(path, shown))
                .await?;
            grant.check_room(ctx.children_count())?;
            if resume {
                ctx.resume_child(m, bytes).await
            } else {
                ctx.spawn_child(m, bytes).await
            }
        }
        .await;
        ctx.waited(if resume { Op::Resume } else { Op::Spawn }, t0);
        result(ctx, op, r, |id| EventData::new().str("child", id))
    }
}

impl Host for HandlerView<'_, SupervisorHandler> {
    async fn spawn(
        &mut self,
        manifest: String,
        init_bytes: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(self.start_child("spawn", manifest, init_bytes, false).await)
    }

    async fn resume(
        &mut self,
        manifest: String,
        init_state: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(self.start_child("resume", manifest, init_state, true).await)
    }

    async fn list_children(&mut self) -> wasmtime::Result<Vec<String>> {
        let ctx = &self.actor;
        let ids = ctx.children();
        ctx.record(
            "supervisor.list-children",
            EventData::new().strs("children", ids.iter().map(String::as_str)),
            format!("{} live children", ids.len()),
        );
        Ok(ids)
    }

    async fn stop_child(&mut self, child_id: String) -> wasmtime::Result<Result<(), String>> {
        let ctx = &*self.actor;
        ctx.record(
            "supervisor.stop-child",
            EventData::new().str("child", &child_id),
            "stop-child".into(),
        );
        let t0 = ctx.wait_start();
        let r = match granted(&self.state) {
            Ok(_) => ctx.stop_child(&child_id).await,
            Err(e) => Err(e),
        };
        ctx.waited(Op::StopChild, t0);
        Ok(result(ctx, "stop-child", r, |_| EventData::new()))
    }

    async fn restart_child(&mut self, child_id: String) -> wasmtime::Result<Result<(), String>> {
        let ctx = &*self.actor;
        ctx.record(
            "supervisor.restart-child",
            EventData::new().str("child", &child_id),
            "restart-child".into(),
        );
        let t0 = ctx.wait_start();
        let r = async {
            let grant = granted(&self.state)?;
            // A child that already ended counts against max_children again once restarted.
            ctx.restart_child(&child_id, &|live| grant.check_room(live))
                .await
        }
        .await;
        ctx.waited(Op::RestartChild, t0);
        Ok(result(ctx, "restart-child", r, |_| EventData::new()))
    }

    async fn get_child_state(
        &mut self,
        child_id: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        let ctx = &self.actor;
        ctx.record(
            "supervisor.get-child-state",
            EventData::new().str("child", &child_id),
            "get-child-state".into(),
        );
        let r = match granted(&self.state) {
            Ok(_) => ctx.child_state(&child_id).await,
            Err(e) => Err(e),
        };
        Ok(result(ctx, "get-child-state", r, |s| {
            EventData::new().summary("state", s.as_deref())
        }))
    }

    async fn get_child_events(
        &mut self,
        child_id: String,
    ) -> wasmtime::Result<Result<Vec<WitChainEvent>, String>> {
        let ctx = &self.actor;
        ctx.record(
            "supervisor.get-child-events",
            EventData::new().str("child", &child_id),
            "get-child-events".into(),
        );
        let t0 = ctx.wait_start();
        let r = match granted(&self.state) {
            Ok(_) => ctx.child_events(&child_id).await,
            Err(e) => Err(e),
        };
        ctx.waited(Op::GetChildEvents, t0);
        let r = result(ctx, "get-child-events", r, |ev| {
            EventData::new().u64("events", ev.len() as u64)
        });
        Ok(r.map(|events| {
            events
                .into_iter()
                .map(|e| WitChainEvent {
                    hash: e.hash.to_vec(),
                    parent_hash: e.parent_hash.map(|h| h.to_vec()),
                    event_type: e.event_type,
                    data: e.data,
                    timestamp: e.timestamp,
                    description: e.description,
                })
                .collect()
        }))
    }
}
