//! The operations a parent performs on its own children (the supervisor handler's host
//! functions call these through the host API): resolving manifests, listing, stopping,
//! restarting, reading state and chains, per-child shutdown timeouts.

use super::*;

impl SystemInner {
    /// The record of `child` if it is `caller`'s child (live or not).
    /// Resolves a manifest argument of `spawn`/`resume` for `caller`; `allowed` checks the
    /// canonical paths it names before anything is parsed or read.
    pub(crate) async fn resolve_manifest(
        &self,
        caller: &ActorCtx,
        m: &str,
        allowed: PathCheck<'_>,
    ) -> HostResult<Arc<ActorManifest>> {
        if m.contains('\n') {
            let manifest =
                Manifest::parse(m, "inline manifest", caller.manifest.dir.clone(), None)?;
            // An inline manifest lives in the caller's directory: its component must be allowed.
            let comp = manifest.component.canonicalize().map_err(|e| {
                format!(
                    "component not found: {} ({e})",
                    manifest.component.display()
                )
            })?;
            allowed(&comp, &format!("inline manifest `{}`", manifest.name))?;
            // So must its init_state: otherwise a guest could read any host file into a
            // child's state and then get-child-state it.
            if let Some(p) = &manifest.init_state {
                let st = p
                    .canonicalize()
                    .map_err(|e| format!("init_state not found: {} ({e})", p.display()))?;
                allowed(
                    &st,
                    &format!(
                        "init_state {} of inline manifest `{}`",
                        p.display(),
                        manifest.name
                    ),
                )?;
            }
            let manifest = self.handlers.configure(manifest, "inline manifest")?;
            return Ok(Arc::new(manifest));
        }
        if m.trim().is_empty() {
            return Err("manifest not found: the manifest argument is empty".into());
        }
        let path = caller.manifest.dir.join(m);
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("manifest not found: {} ({e})", path.display()))?;
        allowed(&canonical, m)?;
        // Parsed manifests are reused while the file is unchanged.
        let stamp = FileStamp::of(&canonical);
        if let Some(stamp) = stamp
            && let Some((s, hit)) = self
                .manifests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&canonical)
            && *s == stamp
        {
            return Ok(hit.clone());
        }
        // Reading and parsing a file blocks: off the async workers.
        let path = canonical.clone();
        let manifest = tokio::task::spawn_blocking(move || Manifest::from_file(&path))
            .await
            .map_err(|e| format!("reading manifest {m} panicked: {e}"))??;
        let origin = canonical.display().to_string();
        let manifest = Arc::new(self.handlers.configure(manifest, &origin)?);
        if let Some(stamp) = stamp {
            self.manifests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(canonical, (stamp, manifest.clone()));
        }
        Ok(manifest)
    }

    /// `child-control.set-shutdown-timeout`: the child's own shutdown timeout.
    pub(crate) fn set_shutdown_timeout(
        &self,
        caller: &str,
        child: &str,
        timeout: Duration,
    ) -> HostResult<()> {
        let mut reg = self.lock();
        reg.child_of(caller, child)?;
        if let Some(rec) = reg.actors.get_mut(child) {
            rec.shutdown_timeout = Some(timeout);
        }
        Ok(())
    }

    /// The mailbox of a live actor.
    pub(crate) fn mailbox(&self, id: &str) -> Option<ActorMailbox> {
        let mailbox = self.lock().actors.get(id).and_then(|r| r.mailbox.clone())?;
        Some(ActorMailbox::new(
            id.to_string(),
            mailbox,
            self.config.mailbox_capacity,
        ))
    }

    /// Any actor by id, live or ended (while its record is kept).
    pub(crate) fn entry(&self, id: &str) -> HostResult<ActorEntry> {
        let reg = self.lock();
        let rec = reg
            .actors
            .get(id)
            .ok_or_else(|| HostError::UnknownActor(id.to_string()))?;
        let mailbox = rec
            .mailbox
            .clone()
            .map(|m| ActorMailbox::new(id.to_string(), m, self.config.mailbox_capacity));
        Ok(ActorEntry::new(
            rec.name.clone(),
            rec.status,
            rec.exports.clone(),
            mailbox,
        ))
    }

    /// Number of `caller`'s live children.
    pub(crate) fn children_count(&self, caller: &str) -> usize {
        self.lock().children_count(caller)
    }

    /// The status of `caller`'s child `child` (an error unless it is `caller`'s child).
    pub(crate) fn child_status(&self, caller: &str, child: &str) -> HostResult<ActorStatus> {
        let reg = self.lock();
        reg.child_of(caller, child)?;
        Ok(reg.actors[child].status)
    }

    /// Ids of `caller`'s live children in start order.
    pub(crate) fn list_children(&self, caller: &str) -> Vec<ActorId> {
        self.lock().children(caller)
    }

    /// `stop-child`: graceful stop, then `handle-child-exit(id, none)` to the caller.
    pub(crate) async fn stop_child(self: Arc<Self>, caller: &str, child: &str) -> HostResult<()> {
        self.lock().child_of(caller, child)?;
        match self.status(child) {
            Some(s) if s.is_terminal() => {
                return Err(HostError::ChildNotRunning(child.to_string()));
            }
            _ => {}
        }
        let name = self
            .lock()
            .actors
            .get(child)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let stopped = self.stop_actor(child, StopReason::ByParent).await?;
        self.durable().await?;
        if stopped {
            // The supervisor handler tells the caller (handle-child-exit(id, none)).
            self.stopped(child, &name, Some(caller), StopReason::ByParent);
        }
        Ok(())
    }

    /// `restart-child`: stop (no callback) and start again with the same id and start arguments.
    /// `room` is asked, with the caller's live-children count, before a child that already
    /// ended is started again (it joins the live children once more).
    pub(crate) async fn restart_child(
        self: Arc<Self>,
        caller: &ActorCtx,
        child: &str,
        room: &(dyn Fn(usize) -> Result<(), String> + Sync),
    ) -> HostResult<()> {
        let known = self.lock().actors.contains_key(child);
        if !known {
            // Ended and known only to the store; without a store this says why it is gone.
            self.load_ended_child(caller, child).await?;
        }
        let (manifest, grants, start, chain, was_live) = {
            let reg = self.lock();
            reg.child_of(&caller.id, child)?;
            let r = &reg.actors[child];
            (
                r.manifest.clone(),
                r.grants.clone(),
                r.start.clone(),
                r.chain.clone(),
                !r.status.is_terminal(),
            )
        };
        if was_live {
            if let Err(e) = self.stop_actor(child, StopReason::Restart).await {
                tracing::debug!(%child, error = %e, "child stopped by itself before restart");
            }
        } else {
            room(self.children_count(&caller.id))?;
        }
        record(
            &chain,
            "lifecycle.restart",
            EventData::new().str("requested_by", &caller.id),
            "restarting with the original start arguments".into(),
        );
        self.start(StartPlan {
            id: child.to_string(),
            parent: Some(caller.id.clone()),
            manifest,
            grants,
            start,
            path: caller.call_path.clone(),
            restart: true,
            recover: None,
        })
        .await?;
        if let Err(e) = self.durable().await {
            let _ = self.stop_actor(child, StopReason::ParentStopping).await;
            return Err(e);
        }
        Ok(())
    }

    /// `get-child-state`: current or last state.
    pub async fn child_state(&self, caller: &str, child: &str) -> HostResult<Option<Vec<u8>>> {
        {
            let reg = self.lock();
            if reg.actors.contains_key(child) {
                reg.child_of(caller, child)?;
                return Ok(reg.actors[child].state.clone());
            }
        }
        Ok(self.stored_child(caller, child).await?.state)
    }

    /// `get-child-events`: the whole chain, oldest first.
    pub async fn child_events(&self, caller: &str, child: &str) -> HostResult<Vec<ChainEvent>> {
        let chain = {
            let reg = self.lock();
            if reg.actors.contains_key(child) {
                reg.child_of(caller, child)?;
                Some(reg.actors[child].chain.clone())
            } else {
                None
            }
        };
        match chain {
            Some(chain) => Ok(self.full_chain_async(child, &chain).await),
            None => {
                self.stored_child(caller, child).await?;
                let id = child.to_string();
                self.read_store(move |s| s.events(&id, 0)).await
            }
        }
    }
}
