//! Bringing a stored tree back after the host stopped (`ActorSystem::resume`): same ids, stored
//! manifests and start arguments, `init` with the last stored state, parents first.

use super::*;

/// A stored actor being started again by [`ActorSystem::resume`].
pub(super) struct Recovered {
    /// Its newest stored events (all of them unless the chain is longer than the memory window).
    pub tail: Vec<ChainEvent>,
    /// Number of stored events.
    pub len: u64,
    /// Its last stored state: what `init` gets.
    pub state: Option<Vec<u8>>,
    pub restarts: u32,
    /// Opens when the whole tree is back: until then the actor takes no message, so a parent
    /// sees all its recovered children from its first message on.
    pub gate: watch::Receiver<bool>,
}

/// The newest stored events of `a` (at most `window`, all when 0) and the position of the
/// first. A damaged store may have a gap there (hosts before 2026-12 could leave one): then
/// only the last stored event is taken, so the chain still continues from its true end and
/// never overwrites a stored position.
pub(super) fn stored_tail(
    storage: &dyn Storage,
    a: &StoredActor,
    window: u64,
) -> Result<(u64, Vec<ChainEvent>), crate::store::StoreError> {
    let from = if window == 0 {
        0
    } else {
        a.next_index.saturating_sub(window)
    };
    match storage.events(&a.id, from) {
        Ok(tail) => Ok((from, tail)),
        Err(e) if a.next_index > 0 => {
            tracing::warn!(id = %a.id, error = %e, "stored chain is damaged; continuing it from its last stored event");
            let last = a.next_index - 1;
            Ok((last, storage.events(&a.id, last)?))
        }
        Err(e) => Err(e),
    }
}

impl SystemInner {
    /// A stored actor's manifest (its file, or the inline text it was spawned with), read and
    /// configured by the handlers again.
    pub(super) fn stored_manifest(&self, a: &StoredActor) -> Result<Arc<ActorManifest>, String> {
        let (manifest, origin) = match &a.manifest {
            StoredManifest::Path(p) => (Manifest::from_file(p), p.display().to_string()),
            StoredManifest::Inline { text, dir } => (
                Manifest::parse(text, "inline manifest", dir.clone(), None),
                "inline manifest".to_string(),
            ),
        };
        let manifest = manifest.map_err(|e| e.to_string())?;
        Ok(Arc::new(
            self.handlers
                .configure(manifest, &origin)
                .map_err(|e| e.to_string())?,
        ))
    }

    /// Brings an ended child known only to the store (it ended before this host resumed its
    /// tree, or its record left memory past `retain_stopped`) back into the registry as ended,
    /// its chain continuing the stored one, so `restart-child` can start it again under its id.
    pub(super) async fn load_ended_child(&self, caller: &ActorCtx, child: &str) -> HostResult<()> {
        let a = self.stored_child(&caller.id, child).await?;
        if !a.status.is_terminal() {
            // Live in the store but not here: its tree was not brought back on this host.
            return Err(HostError::UnknownChild(child.to_string()));
        }
        let manifest = self.stored_manifest(&a).map_err(|e| {
            HostError::from(format!(
                "child `{}` cannot be restarted from its stored record: {e}",
                short_id(child)
            ))
        })?;
        let grants = Arc::new(self.handlers.grants_for_child(&manifest, &caller.grants)?);
        let window = self.config.memory_events as u64;
        let (a, tail) = self
            .read_store(move |s| stored_tail(s, &a, window).map(|(_, tail)| (a, tail)))
            .await?;
        let storage = self
            .config
            .storage
            .clone()
            .ok_or_else(|| HostError::Store("no event store".into()))?;
        let sink = Arc::new(StoreSink {
            actor: a.id.clone(),
            storage,
        });
        let chain = Chain::restore(
            tail,
            a.next_index,
            Some(sink.clone() as Arc<dyn ChainSink>),
            self.config.memory_events,
        );
        let record = ActorRecord {
            name: a.name.clone(),
            parent: a.parent.clone(),
            children: ChildList::default(),
            status: a.status,
            status_tx: watch::channel(a.status).0,
            manifest,
            grants,
            start: StartArgs {
                mode: StartMode::from_name(&a.start_mode),
                bytes: a.start_bytes.clone(),
            },
            state: a.state.clone(),
            chain: Arc::new(Mutex::new(chain)),
            mailbox: None,
            exports: Arc::default(),
            stop_tx: None,
            join: None,
            restarts: a.restarts,
            shutdown_timeout: None,
            sink: Some(sink),
        };
        let retain = self.config.retain_stopped;
        self.lock().insert_ended(&a.id, record, retain, true);
        Ok(())
    }
}

impl ActorSystem {
    /// Brings back the tree stored in [`SystemConfig::storage`] after the host stopped (crashed,
    /// was killed or shut down with live actors): every actor that was running gets the same id,
    /// its stored manifest and start arguments, and `init` with its last stored state; roots
    /// first, then children in start order under their parents, and each parent is then told
    /// through `theater:extension/recovery-handler.handle-child-recovered`. A child that cannot
    /// be brought back is reported to its parent with `handle-child-error`; actors caught while
    /// starting for the first time (their parent never got their id) are recorded as failed.
    pub async fn resume(&self) -> Result<ResumeReport, SystemError> {
        self.resume_where(None).await
    }

    /// [`ActorSystem::resume`] for the one tree rooted at `root` (a shared store holds the
    /// trees of many hosts; this host took this one over).
    pub async fn resume_tree(&self, root: &str) -> Result<ResumeReport, SystemError> {
        self.resume_where(Some(root)).await
    }

    pub(super) async fn resume_where(
        &self,
        tree: Option<&str>,
    ) -> Result<ResumeReport, SystemError> {
        let inner = &self.inner;
        let storage = inner.config.storage.clone().ok_or_else(|| {
            SystemError("resume needs a store: set SystemConfig::storage (`run --data DIR`)".into())
        })?;
        let mut stored = storage.actors().map_err(|e| SystemError(e.to_string()))?;
        if let Some(root) = tree {
            stored = crate::store::tree_members(stored, root);
        }
        let window = inner.config.memory_events as u64;
        let mut report = ResumeReport::default();
        let (gate_tx, gate) = watch::channel(false);
        let mut grants: HashMap<ActorId, Arc<Grants>> = HashMap::new();
        for a in &stored {
            let live = match a.status {
                ActorStatus::Running | ActorStatus::Stopping => true,
                ActorStatus::Starting => a.restarts > 0,
                ActorStatus::Stopped | ActorStatus::Failed => false,
            };
            // Ended actors (most of a long-lived store) need nothing: their chains stay unread.
            if !live && a.status != ActorStatus::Starting {
                continue;
            }
            let (tail_from, tail) =
                stored_tail(storage.as_ref(), a, window).map_err(|e| SystemError(e.to_string()))?;
            if !live {
                inner.close_stored(a, tail, "the host stopped while it was starting");
                continue;
            }
            let parent_grants = match &a.parent {
                None => None,
                Some(p) => match grants.get(p) {
                    Some(g) => Some(g.clone()),
                    None => {
                        inner.close_stored(a, tail, "its parent could not be brought back");
                        report
                            .failed
                            .push((a.id.clone(), "its parent could not be brought back".into()));
                        continue;
                    }
                },
            };
            let started = async {
                let manifest = inner.stored_manifest(a)?;
                let g = Arc::new(match &parent_grants {
                    None => inner
                        .handlers
                        .grants_for_root(&manifest, &inner.host_limits())?,
                    Some(pg) => inner.handlers.grants_for_child(&manifest, pg)?,
                });
                inner
                    .start(StartPlan {
                        recover: Some(Recovered {
                            tail: tail.clone(),
                            len: a.next_index,
                            state: a.state.clone(),
                            restarts: a.restarts,
                            gate: gate.clone(),
                        }),
                        id: a.id.clone(),
                        parent: a.parent.clone(),
                        manifest,
                        grants: g.clone(),
                        start: StartArgs {
                            mode: StartMode::from_name(&a.start_mode),
                            bytes: a.start_bytes.clone(),
                        },
                        path: Arc::new(Vec::new()),
                        restart: false,
                    })
                    .await?;
                Ok::<_, String>(g)
            }
            .await;
            match started {
                Ok(g) => {
                    // Its parent heard `Resumed` (the recovery handler's handle-child-recovered).
                    grants.insert(a.id.clone(), g);
                    report.resumed.push(a.id.clone());
                    if a.parent.is_none() && report.root.is_none() {
                        report.root = Some(a.id.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(id = %a.id, error = %e, "could not bring an actor back");
                    // A start that failed before the actor was registered recorded nothing:
                    // close its stored record here.
                    let _ = inner.durable().await;
                    let now = storage.events(&a.id, tail_from).unwrap_or_default();
                    if tail_from + now.len() as u64 == a.next_index {
                        inner.close_stored(a, now, &e);
                    }
                    report.failed.push((a.id.clone(), e.clone()));
                    // Its parent is told with handle-child-error (the supervisor handler).
                    let end = End::Failed(Failure::internal(format!(
                        "could not be brought back after a host restart: {e}"
                    )));
                    inner.lifecycle(
                        &Lifecycle::Stopped(&end),
                        &a.id,
                        &a.name,
                        a.parent.as_deref(),
                    );
                }
            }
        }
        let stored = inner.durable().await;
        gate_tx.send_replace(true);
        stored.map_err(SystemError::from)?;
        Ok(report)
    }
}
