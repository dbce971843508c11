//! Starting an actor: the live-actor cap, loading and linking its component, registering it,
//! instantiating it with its handlers' states, `init`, and launching its task; a start that
//! fails or is abandoned leaves nothing behind.

use super::*;

pub(super) struct StartPlan {
    pub recover: Option<Recovered>,
    pub id: ActorId,
    pub parent: Option<ActorId>,
    pub manifest: Arc<ActorManifest>,
    pub grants: Arc<Grants>,
    pub start: StartArgs,
    pub path: CallPath,
    pub restart: bool,
}

/// Cleans up a start whose future is dropped before it finished (see
/// [`SystemInner::abandon_start`]).
struct StartGuard {
    sys: Arc<SystemInner>,
    id: ActorId,
    parent: Option<ActorId>,
    restart: bool,
    armed: bool,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if self.armed {
            self.sys
                .abandon_start(&self.id, self.parent.as_deref(), self.restart);
        }
    }
}

impl SystemInner {
    /// `spawn` and `resume`: start a new child of `caller` from a resolved manifest (the
    /// caller's supervisor handler checked it may).
    pub(crate) async fn spawn_child(
        self: Arc<Self>,
        caller: &ActorCtx,
        manifest: Arc<ActorManifest>,
        bytes: Option<Vec<u8>>,
        mode: StartMode,
    ) -> HostResult<ActorId> {
        let max_depth = self.config.max_depth;
        if caller.grants.depth >= max_depth {
            return Err(format!(
                "limit reached: this actor is at depth {} of the supervision tree (the root is at depth 0) and SystemConfig::max_depth = {max_depth}, so it may not have children",
                caller.grants.depth
            ).into());
        }
        let grants = self.handlers.grants_for_child(&manifest, &caller.grants)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.start(StartPlan {
            id: id.clone(),
            parent: Some(caller.id.clone()),
            manifest,
            grants: Arc::new(grants),
            start: StartArgs { mode, bytes },
            path: caller.call_path.clone(),
            restart: false,
            recover: None,
        })
        .await?;
        if let Err(e) = self.durable().await {
            // The caller gets no id, so the child must not stay.
            let _ = self.stop_actor(&id, StopReason::ParentStopping).await;
            return Err(e);
        }
        Ok(id)
    }

    /// Loads, instantiates and initialises an actor; on success it is live and linked to its
    /// parent. On failure nothing stays registered (a restarted actor stays, as failed).
    #[tracing::instrument(skip_all, fields(id = %plan.id, name = %plan.manifest.name))]
    pub(super) async fn start(self: &Arc<Self>, plan: StartPlan) -> HostResult<()> {
        self.check_store()?;
        let max = self.config.max_actors;
        if self.live.fetch_add(1, Ordering::SeqCst) >= max {
            let n = self.live.fetch_sub(1, Ordering::SeqCst) - 1;
            return Err(format!(
                "limit reached: the host already runs {n} live actors (SystemConfig::max_actors = {max})"
            ).into());
        }
        let mut guard = StartGuard {
            sys: self.clone(),
            id: plan.id.clone(),
            parent: plan.parent.clone(),
            restart: plan.restart,
            armed: true,
        };
        let started = self.start_counted(plan).await;
        guard.armed = false;
        if started.is_err() {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        started
    }

    /// A start whose future was dropped midway (the caller's task was aborted: its own stop
    /// ran past the shutdown timeout): frees its live-actor slot and settles the record, so
    /// nothing waits for it forever; children it spawned during `init` are stopped.
    pub(super) fn abandon_start(self: &Arc<Self>, id: &str, parent: Option<&str>, restart: bool) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        let why = "the start was abandoned: the actor waiting for it was stopped";
        let (chain, children) = {
            let mut reg = self.lock();
            let Some(rec) = reg.actors.get_mut(id) else {
                return; // it was never registered
            };
            if rec.status != ActorStatus::Starting {
                return;
            }
            rec.mailbox = None;
            rec.stop_tx = None;
            rec.set_status(ActorStatus::Failed);
            let out = (rec.chain.clone(), rec.children.ids());
            rec.children.clear();
            if !restart {
                reg.actors.remove(id);
                reg.order.retain(|i| i != id);
            }
            if let Some(p) = parent.and_then(|p| reg.actors.get_mut(p)) {
                p.children.remove(id);
            }
            out
        };
        tracing::warn!(%id, "{why}");
        record(
            &chain,
            "lifecycle.failed",
            EventData::new()
                .str("stage", "init")
                .str("error_type", "internal")
                .str("error", why),
            "failed to start".into(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for c in children.into_iter().rev() {
                let sys = self.clone();
                runtime.spawn(async move {
                    let _ = sys.stop_actor(&c, StopReason::ParentStopping).await;
                });
            }
        }
    }

    /// [`Self::start`] once a live-actor slot is reserved.
    pub(super) async fn start_counted(self: &Arc<Self>, mut plan: StartPlan) -> HostResult<()> {
        let mut recovered = plan.recover.take();
        let recovering = recovered.is_some();
        let gate = recovered.as_ref().map(|r| r.gate.clone());
        let component = self
            .primary
            .load(&self.surface, &plan.manifest.component)
            .await?;
        let origin = plan.manifest.origin();
        // A component importing an interface of a handler its manifest lacks is refused,
        // naming the handler (CONTRACT §8).
        if let Some((h, iface)) = component
            .needs
            .iter()
            .find(|(h, _)| plan.grants.handler(*h).is_none())
        {
            return Err(HostError::MissingHandler {
                origin,
                interface: iface.clone(),
                handler: self.handlers.name(*h).to_string(),
            });
        }
        let state = match (&plan.start.bytes, plan.start.mode) {
            _ if recovering => recovered.as_mut().and_then(|r| r.state.take()),
            (Some(b), _) => Some(b.clone()),
            (None, StartMode::Resume) => None,
            (None, _) => {
                let m = plan.manifest.clone();
                tokio::task::spawn_blocking(move || m.read_init_state())
                    .await
                    .map_err(|e| format!("{origin}: reading init_state panicked: {e}"))??
            }
        };
        let (tx, rx) = Mailbox::new();
        let chain = {
            let mut reg = self.lock();
            if plan.restart {
                let rec = reg
                    .actors
                    .get_mut(&plan.id)
                    .ok_or_else(|| HostError::UnknownActor(plan.id.clone()))?;
                rec.restarts += 1;
                rec.set_status(ActorStatus::Starting);
                rec.mailbox = Some(tx);
                // The component file may have changed since the first start.
                rec.exports = component.exports.clone();
                rec.chain.clone()
            } else {
                let sink = self.config.storage.as_ref().map(|storage| {
                    Arc::new(StoreSink {
                        actor: plan.id.clone(),
                        storage: storage.clone(),
                    })
                });
                let window = self.config.memory_events;
                let (chain, restarts) = match recovered.take() {
                    Some(r) => {
                        let sink = sink.clone().map(|s| s as Arc<dyn ChainSink>);
                        (Chain::restore(r.tail, r.len, sink, window), r.restarts)
                    }
                    None => {
                        if let Some(sink) = &sink {
                            sink.storage.write(StoreWrite::Actor(Box::new(StoredActor {
                                id: plan.id.clone(),
                                parent: plan.parent.clone(),
                                name: plan.manifest.name.clone(),
                                manifest: stored_manifest(&plan.manifest),
                                start_mode: plan.start.mode.name().to_string(),
                                start_bytes: plan.start.bytes.clone(),
                                status: ActorStatus::Starting,
                                state: None,
                                restarts: 0,
                                next_index: 0,
                            })));
                        }
                        let chain = match &sink {
                            Some(s) => Chain::with_sink(s.clone() as Arc<dyn ChainSink>, window),
                            None => Chain::default(),
                        };
                        (chain, 0)
                    }
                };
                let chain = Arc::new(Mutex::new(chain));
                reg.actors.insert(
                    plan.id.clone(),
                    ActorRecord {
                        name: plan.manifest.name.clone(),
                        parent: plan.parent.clone(),
                        children: ChildList::default(),
                        status: ActorStatus::Starting,
                        status_tx: watch::channel(ActorStatus::Starting).0,
                        manifest: plan.manifest.clone(),
                        grants: plan.grants.clone(),
                        start: plan.start.clone(),
                        state: None,
                        chain: chain.clone(),
                        mailbox: Some(tx),
                        exports: component.exports.clone(),
                        stop_tx: None,
                        join: None,
                        restarts,
                        shutdown_timeout: None,
                        sink,
                    },
                );
                reg.order.push(plan.id.clone());
                chain
            }
        };
        record(
            &chain,
            "lifecycle.start",
            EventData::new()
                .str("name", &plan.manifest.name)
                .str("version", &plan.manifest.version)
                .str("manifest", &origin)
                .str("component_sha256", &component.hash_hex)
                .opt_str("parent", plan.parent.as_deref())
                .str("mode", plan.start.mode.name())
                .bool("restart", plan.restart)
                .bool("recovered", recovering)
                .opt_str("host", self.config.host_id.as_deref())
                .summary("state", state.as_deref()),
            format!(
                "starting {} ({})",
                plan.manifest.name,
                plan.start.mode.name()
            ),
        );
        let ctx = || ActorCtx {
            system: self.clone(),
            id: plan.id.clone(),
            name: plan.manifest.name.clone(),
            chain: chain.clone(),
            grants: plan.grants.clone(),
            manifest: plan.manifest.clone(),
            call_path: plan.path.clone(),
            shutdown: None,
            deadline: Default::default(),
        };
        let mut running = match Running::instantiate(ctx(), component).await {
            Ok(r) => r,
            Err((_, true)) => {
                // The pool is full: this instance comes from the on-demand engine instead.
                let fallback = match self.fallback_engine() {
                    Ok(f) => f,
                    Err(e) => {
                        return Err(
                            format!("instance pool full and no fallback engine: {e}").into()
                        );
                    }
                };
                tracing::debug!(id = %plan.id, "instance pool full; using the on-demand engine");
                let component = fallback
                    .load(&self.surface, &plan.manifest.component)
                    .await?;
                match Running::instantiate(ctx(), component).await {
                    Ok(r) => r,
                    Err((f, _)) => return Err(self.fail_start(&plan, f).await),
                }
            }
            Err((f, false)) => return Err(self.fail_start(&plan, f).await),
        };
        if let Err(f) = running.init(state).await {
            drop(running);
            return Err(self.fail_start(&plan, f).await);
        }
        let shutdown_in_init = running.store.data_mut().ctx.shutdown.take();
        record(
            &chain,
            "lifecycle.running",
            EventData::new(),
            "init succeeded; running".into(),
        );
        let (stop_tx, stop_rx) = oneshot::channel();
        let sys = self.clone();
        let id = plan.id.clone();
        let mut reg = self.lock();
        // Spawned under the registry lock so the task cannot finish before it is registered.
        let join = tokio::spawn(async move {
            // Every successful call already published the state: the registry holds the last one.
            if let Some(mut gate) = gate {
                // Closed early (resume gave up) also lets it run.
                let _ = gate.wait_for(|open| *open).await;
            }
            let exit = match shutdown_in_init {
                Some(data) => Exit::Shutdown(data),
                None => running.run(rx, stop_rx).await,
            };
            sys.finish_self(&id, exit).await;
        });
        let rec = reg.actors.get_mut(&plan.id).expect("registered above");
        rec.stop_tx = Some(stop_tx);
        rec.join = Some(join);
        rec.set_status(ActorStatus::Running);
        if let Some(parent) = &plan.parent
            && let Some(p) = reg.actors.get_mut(parent)
        {
            p.children.push(&plan.id);
        }
        if plan.parent.is_none() {
            self.root
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert(plan.id.clone());
        }
        drop(reg);
        let step = if plan.restart {
            Lifecycle::Restarted
        } else if recovering {
            Lifecycle::Resumed
        } else {
            Lifecycle::Started
        };
        self.lifecycle(&step, &plan.id, &plan.manifest.name, plan.parent.as_deref());
        Ok(())
    }

    /// Tells every handler about a step of an actor's life.
    pub(super) fn lifecycle(
        self: &Arc<Self>,
        event: &Lifecycle<'_>,
        id: &str,
        name: &str,
        parent: Option<&str>,
    ) {
        self.handlers.lifecycle(
            event,
            &ActorRef {
                id,
                name,
                parent,
                system: self.clone(),
            },
        );
    }

    /// Cleans up after a failed start and returns the error message for the caller.
    pub(super) async fn fail_start(self: &Arc<Self>, plan: &StartPlan, f: Failure) -> HostError {
        tracing::warn!(id = %plan.id, error = %f.message, "actor failed to start");
        let origin = plan.manifest.origin();
        let chain = self.lock().actors.get(&plan.id).map(|r| r.chain.clone());
        if let Some(chain) = &chain {
            record(
                chain,
                "lifecycle.failed",
                EventData::new()
                    .str("stage", "init")
                    .str("error_type", f.kind.name())
                    .str("error", &f.message),
                "failed to start".into(),
            );
        }
        // Channels it opened during init close with it.
        let end = End::Failed(f.clone());
        self.end_messaging(&plan.id, &end, false);
        // Children it spawned during init stop with it.
        let children = self
            .lock()
            .actors
            .get(&plan.id)
            .map(|r| r.children.ids())
            .unwrap_or_default();
        for c in children.iter().rev() {
            let _ = Box::pin(self.stop_actor(c, StopReason::ParentStopping)).await;
        }
        let mut reg = self.lock();
        if plan.restart {
            if let Some(rec) = reg.actors.get_mut(&plan.id) {
                rec.mailbox = None;
                rec.children.clear();
                rec.set_status(ActorStatus::Failed);
            }
            if let Some(parent) = &plan.parent
                && let Some(p) = reg.actors.get_mut(parent)
            {
                p.children.remove(&plan.id);
            }
        } else {
            if let Some(rec) = reg.actors.get_mut(&plan.id) {
                rec.set_status(ActorStatus::Failed); // the stored record keeps why
            }
            reg.actors.remove(&plan.id);
            reg.order.retain(|i| i != &plan.id);
        }
        HostError::StartFailed {
            origin,
            message: f.message,
        }
    }
}

impl ActorSystem {
    /// Starts a root actor from a manifest file; returns its id after its `init` succeeded.
    /// The first root started is the one [`ActorSystem::wait_root`] waits for.
    pub async fn start_root(&self, manifest: impl AsRef<Path>) -> Result<ActorId, SystemError> {
        let origin = manifest.as_ref().display().to_string();
        let manifest =
            Manifest::from_file(manifest.as_ref()).map_err(|e| SystemError(e.to_string()))?;
        let manifest = self
            .inner
            .handlers
            .configure(manifest, &origin)
            .map_err(|e| SystemError(e.to_string()))?;
        let grants = self
            .inner
            .handlers
            .grants_for_root(&manifest, &self.inner.host_limits())
            .map_err(SystemError::from)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.inner
            .start(StartPlan {
                id: id.clone(),
                parent: None,
                manifest: Arc::new(manifest),
                grants: Arc::new(grants),
                start: StartArgs {
                    mode: StartMode::Root,
                    bytes: None,
                },
                path: Arc::new(Vec::new()),
                restart: false,
                recover: None,
            })
            .await
            .map_err(SystemError::from)?;
        if let Err(e) = self.inner.durable().await {
            let _ = self.inner.stop_actor(&id, StopReason::External).await;
            return Err(SystemError::from(e));
        }
        Ok(id)
    }
}
